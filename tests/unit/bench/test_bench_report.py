"""The report writers on a complete run: docs/benchmarks.md, the README table and the chart are
written from the results file alone, with no hand edits.

``complete_run.json`` is a real results file of every section (one throughput repetition,
e3768ab-era) whose throughput cells were given three repetitions each (the ratios spread by
+-3%), so it has the shape of the complete ``make bench`` run the lead's quiet run will write.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bench import report

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).with_name("complete_run.json")
README = f"""# vllm-accel

Intro text that the writer must keep.

{report.README_START}
an old table
{report.README_END}

## Install

Text after the block.
"""


@pytest.fixture
def data() -> dict[str, Any]:
    return copy.deepcopy(json.loads(FIXTURE.read_text()))


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "README.md").write_text(README)
    drawn: list[Path] = []

    def chart(d: dict[str, Any], path: Path) -> None:  # matplotlib lives in bench/.venv only
        assert d["throughput"]["reps"] == 3
        drawn.append(path)
        path.write_bytes(b"png")

    monkeypatch.setattr(report, "chart", chart)
    monkeypatch.setattr(report, "_drawn", drawn, raising=False)
    return tmp_path


def test_a_complete_run_writes_every_section_with_verdicts(data: dict[str, Any],
                                                            root: Path) -> None:
    report.write(data, root)
    md = (root / "docs" / "benchmarks.md").read_text()
    for heading in ("## Targets", "## Client overhead (zero-cost responder)",
                    "## Batch throughput (real vLLM)", "## Embeddings throughput",
                    "## Rerank throughput", "## Prefix-affinity routing", "## Import time",
                    "## Memory", "## Versions"):
        assert heading in md, heading
    assert "One repetition only" not in md
    assert "inconclusive (one repetition only)" not in md
    for size in data["throughput"]["sizes"]:
        assert f"| {size} |" in md or f"{size} prompts" in md, size
    assert "Seconds per section: imports 50 s (load 0.3)." in md
    assert "| ChatVLLM | 2266 | builtins +136, vllm_accel +45, langchain_vllm_accel +42," in md
    assert report._drawn == [root / "docs" / "benchmarks.png"]  # type: ignore[attr-defined]
    assert (root / "docs" / "benchmarks.png").read_bytes() == b"png"


def test_every_throughput_target_has_a_verdict_and_every_miss_its_measured_cause(
        data: dict[str, Any], root: Path) -> None:
    report.write(data, root)
    tgts = data["targets"]
    tp = [t for t in tgts if t.get("cause_key", [None])[0] == "throughput"]
    assert tp, "no throughput targets"
    assert all(t["met"] is not None for t in tp)
    missed = [t for t in tgts if t["met"] is False]
    assert missed
    md = (root / "docs" / "benchmarks.md").read_text()
    for t in missed:
        if t.get("cause_key"):
            assert t.get("cause"), t["what"]
            assert f"Measured cause: {t['cause']}." in md
    for t in (t for t in tp if t["met"] is False):
        assert "prompt tokens per request" in t["cause"], t["what"]


def test_the_readme_block_is_replaced_and_the_rest_kept(data: dict[str, Any],
                                                         root: Path) -> None:
    report.write(data, root)
    text = (root / "README.md").read_text()
    assert "an old table" not in text
    assert text.startswith("# vllm-accel\n\nIntro text that the writer must keep.\n")
    assert text.endswith("## Install\n\nText after the block.\n")
    block = text[text.index(report.README_START):text.index(report.README_END)]
    assert f"on commit `{data['git']['commit']}`" in block
    assert len([ln for ln in block.splitlines() if ln.startswith("| #")]) == len(
        data["targets"])
    # Written twice from the same file: the same README (the block is replaced, not added).
    report.write(data, root)
    assert (root / "README.md").read_text() == text

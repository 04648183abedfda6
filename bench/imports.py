"""Import time of each package: a fresh interpreter per run, median of several runs.

Each run times only the import statement itself (``time.perf_counter`` around ``exec``), so the
interpreter's own start-up is not counted. Packages that load lazily are also measured with the
import a user actually writes (``from langchain_vllm_accel import ChatVLLM``), which loads the
class; the targets use that figure.

Measured causes (branch cost6; ``python -X importtime`` self-times of the modules a statement
adds after its baseline, medians of 5 runs on a loaded machine, so read them as shares): a
``from langchain_vllm_accel import ChatVLLM`` loaded 18 modules, now 14 (-41% self-time: the
batch rendezvous, the core's batch module and its pydantic models load with the first
``batch``); ``from llamaindex_vllm_accel import VLLM`` -39% (the package exports load on first
access, and ``vllm_accel`` reads its ``__init__.pyi`` on the first name looked up, not at
import). What remains is the integrations' own modules (connection fields, conversions,
``vllm_accel._integration`` and its dataclasses) and, for the wall-clock medians, the
run-to-run spread of the 0.8-1.4 s baselines themselves on a shared 2-core machine.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

# (name, statement, baseline name or None, limit in ms over the baseline or None)
CASES: list[tuple[str, str, str | None, float | None]] = [
    ("httpx+pydantic", "import httpx, pydantic", None, None),
    ("vllm_accel", "import vllm_accel", "httpx+pydantic", None),
    ("vllm_accel.VLLMClient", "from vllm_accel import VLLMClient", "httpx+pydantic", 50.0),
    ("langchain_core.language_models", "import langchain_core.language_models", None, None),
    # langchain_core.language_models loads lazily too: the base class is the real baseline.
    ("langchain_core.BaseChatModel", "from langchain_core.language_models import BaseChatModel",
     None, None),
    ("langchain_vllm_accel", "import langchain_vllm_accel", "langchain_core.language_models",
     None),
    ("langchain_vllm_accel.ChatVLLM", "from langchain_vllm_accel import ChatVLLM",
     "langchain_core.BaseChatModel", 80.0),
    ("langchain_openai.ChatOpenAI", "from langchain_openai import ChatOpenAI",
     "langchain_core.BaseChatModel", None),
    ("llama_index.core.llms", "import llama_index.core.llms", None, None),
    ("llamaindex_vllm_accel.VLLM", "from llamaindex_vllm_accel import VLLM",
     "llama_index.core.llms", 80.0),
    ("llama_index.llms.openai_like.OpenAILike",
     "from llama_index.llms.openai_like import OpenAILike", "llama_index.core.llms", None),
    ("openai.OpenAI", "from openai import OpenAI", None, None),
]

_PROBE = ("import time; t = time.perf_counter(); exec({stmt!r}); "
          "print(time.perf_counter() - t)")


def time_import(stmt: str) -> float:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(stmt=stmt)], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1]) * 1000.0


def run(runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    # Warm the OS file cache once, then interleave the cases run by run.
    samples: dict[str, list[float]] = {name: [] for name, *_ in CASES}
    for _name, stmt, *_ in CASES:
        time_import(stmt)
    for _ in range(runs):
        for name, stmt, *_ in CASES:
            samples[name].append(time_import(stmt))
    result: dict[str, Any] = {"runs": runs}
    for name, stmt, base, limit in CASES:
        med = statistics.median(samples[name])
        entry: dict[str, Any] = {"statement": stmt, "median_ms": med, "baseline": base,
                                 "limit_extra_ms": limit, "samples_ms": samples[name]}
        if base is not None:
            entry["extra_ms"] = med - statistics.median(samples[base])
            entry["ratio"] = med / statistics.median(samples[base])
        result[name] = entry
        extra = f"  (+{entry['extra_ms']:.0f} ms over {base})" if base else ""
        log(f"  import {name:<34} {med:7.1f} ms{extra}")
    return result

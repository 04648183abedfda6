"""Fixtures of the CLI live tests, and the serve test's process, launched early."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_live_helpers import Cli, Run, Serve, clean_env, run_cli
from support.early import EARLY, Group

SERVE_TEST = ("tests/live/cli/test_cli_serve.py::"
              "test_serve_runs_the_chat_server_until_ctrl_c_then_nothing_is_left")


@pytest.fixture
def cli(chat_server_url: str) -> Cli:
    """``cli(*args, input=None, **env)``: the script pointed at the chat server by VLLM_BASE_URL."""
    def invoke(*args: str, input: str | None = None, timeout: float = 300, **env: str) -> Run:
        return run_cli(*args, env=clean_env(VLLM_BASE_URL=chat_server_url, **env), input=input,
                       timeout=timeout)

    return invoke


# Launched with the keyed server when the classify server stops: the session's fourth server
# until the test stops it; the first pool replica and the wheel build then follow it
# (support/early.py, tests/live/pool/conftest.py, tests/live/packaging/conftest.py).
EARLY.plan(Group("serve", (SERVE_TEST,), lambda: [Serve()], after="classify"))


@pytest.fixture
def serve() -> Iterator[Serve]:
    """The launched ``vllm-accel serve`` (launched now if it was not launched early)."""
    (job,) = EARLY.take("serve")
    assert isinstance(job, Serve)
    try:
        yield job.launch()
    finally:
        job.stop()

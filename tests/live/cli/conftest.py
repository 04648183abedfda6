"""Fixtures of the CLI live tests."""

from __future__ import annotations

import pytest
from cli_live_helpers import Cli, Run, clean_env, run_cli
from support.early import EARLY, Group

SERVE_TEST = ("tests/live/cli/test_cli_serve.py::"
              "test_serve_runs_the_chat_server_until_ctrl_c_then_nothing_is_left")

# The serve test starts (and stops) a server of its own, the fourth of the session at that
# point; the group launches nothing, it marks when that slot is free again: the first pool
# replica follows it (support/early.py, tests/live/pool/conftest.py).
EARLY.plan(Group("serve", (SERVE_TEST,), list))


@pytest.fixture
def cli(chat_server_url: str) -> Cli:
    """``cli(*args, input=None, **env)``: the script pointed at the chat server by VLLM_BASE_URL."""
    def invoke(*args: str, input: str | None = None, timeout: float = 300, **env: str) -> Run:
        return run_cli(*args, env=clean_env(VLLM_BASE_URL=chat_server_url, **env), input=input,
                       timeout=timeout)

    return invoke

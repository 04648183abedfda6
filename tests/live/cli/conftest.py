"""Fixtures of the CLI live tests."""

from __future__ import annotations

import pytest
from cli_live_helpers import Cli, Run, clean_env, run_cli


@pytest.fixture
def cli(chat_server_url: str) -> Cli:
    """``cli(*args, input=None, **env)``: the script pointed at the chat server by VLLM_BASE_URL."""
    def invoke(*args: str, input: str | None = None, timeout: float = 300, **env: str) -> Run:
        return run_cli(*args, env=clean_env(VLLM_BASE_URL=chat_server_url, **env), input=input,
                       timeout=timeout)

    return invoke

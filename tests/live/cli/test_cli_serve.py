"""`vllm-accel serve` starts a real vLLM server, guards it with the API key, and Ctrl-C stops it.

One test on purpose: starting SmolLM2 costs about a minute and a half on two cores.
"""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import time
from typing import Any

import httpx
import psutil
from cli_live_helpers import Serve, clean_env, run_cli

START_TIMEOUT = 420.0


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line of ``proc``, or fail if it exits or stays silent too long."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(timeout=1.0):
                return proc.stdout.readline()
            assert proc.poll() is None, f"serve exited with {proc.returncode} before it was ready"
    raise AssertionError(f"serve printed nothing in {timeout:.0f} s")


def _models(base_url: str, **env: str) -> Any:
    return run_cli("models", "--json", env=clean_env(VLLM_BASE_URL=base_url, **env))


def test_serve_runs_the_chat_server_until_ctrl_c_then_nothing_is_left(serve: Serve) -> None:
    # `vllm-accel serve --no-embeddings --json --api-key KEY`, launched early (conftest.py)
    key, stderr, proc = serve.key, serve.stderr, serve.proc
    assert proc is not None
    children: list[psutil.Process] = []
    try:
        line = _first_line(proc, START_TIMEOUT)
        servers = json.loads(line)["servers"]
        assert len(servers) == 1
        chat = servers[0]
        assert (chat["model"], chat["runner"], chat["lora"], chat["tool_call_parser"]) == (
            "smollm2", "generate", ["pirate", "tools", "react"], "hermes")
        base = chat["base_url"]
        assert chat["openai_base_url"] == f"{base}/v1"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert chat["pid"] in [c.pid for c in children]
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200

        anonymous = _models(base)
        assert anonymous.code == 1, anonymous
        assert "requires an API key" in anonymous.err
        wrong = _models(base, VLLM_API_KEY="sk-wrong")
        assert wrong.code == 1, wrong
        assert "rejected the API key" in wrong.err
        served = _models(base, VLLM_API_KEY=key)
        assert served.code == 0, served
        assert {m["id"] for m in served.json()} == {"smollm2", "pirate", "tools", "react"}

        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert proc.wait(timeout=90) == 0
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"left running: {alive}"
        assert len(gone) == len(children) >= 2  # the API server and its engine core at least
        log = stderr.read_text()
        assert "stopping smollm2" in log
        assert "stopped" in log
        assert key not in log
        assert proc.stdout is not None
        assert key not in line + proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        for child in children:
            if child.is_running():
                child.kill()

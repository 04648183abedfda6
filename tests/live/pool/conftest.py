"""Two real chat replicas (and a real vllm-router in front of them), started once for the
pool tests of this folder and stopped, by process group, when its module ends.

The replicas are the embedded SmolLM2 server (LoRA on) launched twice, side by side, from
``vllm_accel.server``; they are independent of the session's shared servers. ``vllm-router``
(PyPI, a Rust binary) is installed on first use into its own virtual environment under
``$VLLM_ACCEL_HOME/router-venv``, like the server's, so ``make test`` needs no manual step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from pool_live_helpers import Replicas, router_binary, wait_gone, warm_up_lora
from support.early import EARLY, Group

from vllm_accel.server import VLLMServer, chat_spec, free_port, paths, prepare


@pytest.fixture(scope="module")
def replicas() -> Iterator[Replicas]:
    """Two real SmolLM2 replicas, launched in parallel; stopped (by pid) after the module.

    In a whole run the first is launched when the CLI serve test has stopped its server, so it
    boots while the docs and the (mostly waiting) reliability tests run; the second when the
    reliability tests end (their keyed server is stopped first), so it boots while the
    LangChain, LlamaIndex and packaging tests run (``support/early.py``)."""
    models = prepare()
    servers = [*EARLY.take("replica-a"), *EARLY.take("replicas")]  # launched early, or built now
    started = time.monotonic()
    try:
        for server in servers:
            server.launch()
        router_binary()  # installed (first run only) while the replicas boot
        for server in servers:
            server.wait_ready()
        print(f"\n[pool] two replicas ready in {time.monotonic() - started:.0f} s: "
              f"{[s.base_url for s in servers]}", file=sys.stderr)
        groups = [s.pid for s in servers if s.pid]
        warm_up_lora(servers, str(models.lora_adapter))
        yield Replicas(servers[0], servers[1], str(models.lora_adapter))
    finally:
        for server in servers:
            server.stop()
    wait_gone(groups, "replica")


def _replica() -> list[VLLMServer]:
    return [VLLMServer(chat_spec(prepare()))]


# Two groups of one, so that each boots as soon as a fourth server fits: the first in the slot
# the CLI serve test's server frees, the second in the keyed server's (tests/conftest.py).
EARLY.plan(Group("replica-a", ("tests/live/pool/",), _replica, after="serve"))
EARLY.plan(Group("replicas", ("tests/live/pool/",), _replica, after="keyed"))


@pytest.fixture(scope="module")
def router_url(replicas: Replicas) -> Iterator[str]:
    """A real ``vllm-router`` (round robin) in front of both replicas; stopped after the module.

    Command: ``vllm-router --host 127.0.0.1 --port P --worker-urls A B --policy round_robin``.
    """
    exe = router_binary()
    port = free_port()
    log_path = paths().logs / f"vllm-router-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "--host", "127.0.0.1", "--port", str(port),
             "--worker-urls", *replicas.urls, "--policy", "round_robin"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vllm-router exited with {proc.returncode}: "
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{url}/readiness", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vllm-router not ready in 60 s; log: {log_path}")
            time.sleep(0.3)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        wait_gone([proc.pid], "vllm-router")

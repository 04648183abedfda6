"""Helpers of the pool live tests: the replicas' handle, process-group checks, vllm-router."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from vllm_accel.server import VLLMServer, paths
from vllm_accel.server._lock import file_lock

ROUTER_REQUIREMENT = "vllm-router==0.1.17"


@dataclass
class Replicas:
    """The two replicas: ``a`` and ``b`` (``VLLMServer``), and the LoRA adapter's folder."""

    a: VLLMServer
    b: VLLMServer
    lora_path: str

    @property
    def urls(self) -> tuple[str, str]:
        assert self.a.base_url
        assert self.b.base_url
        return self.a.base_url, self.b.base_url


def _groups_alive(groups: list[int]) -> list[int]:
    left = []
    for proc in psutil.process_iter(["status"]):
        try:
            pgid = os.getpgid(proc.pid)
        except OSError:
            continue
        if pgid in groups and proc.info["status"] != psutil.STATUS_ZOMBIE:
            left.append(proc.pid)
    return left


def wait_gone(groups: list[int], what: str) -> None:
    deadline = time.monotonic() + 20
    while (left := _groups_alive(groups)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        raise RuntimeError(f"{what} processes outlived the pool tests: {left}")


def router_binary() -> Path:
    """The ``vllm-router`` executable, installed into its own venv on first use."""
    home = paths().home
    env_dir = home / "router-venv"
    exe = env_dir / "bin" / "vllm-router"
    marker = env_dir / ".vllm-accel-ready"
    if marker.exists() and marker.read_text().strip() == ROUTER_REQUIREMENT and exe.exists():
        return exe
    home.mkdir(parents=True, exist_ok=True)
    with file_lock(home / ".router-venv.lock"):
        if marker.exists() and marker.read_text().strip() == ROUTER_REQUIREMENT and exe.exists():
            return exe
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        log = home / "router-venv-install.log"
        with log.open("a") as fh:
            done = subprocess.run(
                [str(env_dir / "bin" / "python"), "-m", "pip", "install",
                 "--disable-pip-version-check", ROUTER_REQUIREMENT],
                stdout=fh, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0 or not exe.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"installing {ROUTER_REQUIREMENT} failed; see {log}:\n{tail}")
        marker.write_text(ROUTER_REQUIREMENT + "\n")
    return exe


def warm_up_lora(servers: list[VLLMServer], lora_path: str) -> None:
    """One LoRA request on each replica, in parallel, before any test.

    vLLM on CPU compiles the LoRA graph on a server's first adapter request (minutes on a busy
    2-core machine; cached under ~/.cache/vllm afterwards), so the tests' own timeouts measure
    the pool, not the compiler. Plain httpx: this must not depend on the client under test.
    """

    def warm(url: str) -> None:
        with httpx.Client(base_url=url, timeout=1200) as http:
            body = {"lora_name": "warm-up", "lora_path": lora_path}
            http.post("/v1/load_lora_adapter", json=body).raise_for_status()
            try:
                http.post("/v1/chat/completions", json={
                    "model": "warm-up", "max_tokens": 2,
                    "messages": [{"role": "user", "content": "Hi"}]}).raise_for_status()
            finally:
                http.post("/v1/unload_lora_adapter", json={"lora_name": "warm-up"})

    started = time.monotonic()
    with ThreadPoolExecutor(len(servers)) as pool:
        list(pool.map(warm, [s.base_url for s in servers if s.base_url]))
    print(f"[pool] LoRA warm-up on both replicas: {time.monotonic() - started:.0f} s",
          file=sys.stderr)

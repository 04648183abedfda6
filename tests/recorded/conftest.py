"""Recorded tier: replay real vLLM traffic offline.

In replay (the default, ``--record-mode=none``) sockets are blocked and the clients point at a
placeholder address: cassettes match on method, path and body, never host or port. ``make record``
(``--record-mode=rewrite``) runs the same tests against the real embedded servers and rewrites
the cassettes, with ``Authorization`` headers scrubbed.
"""

from __future__ import annotations

import pytest

PLACEHOLDER = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _fresh_server_facts() -> None:
    """Each cassette was recorded by a test that asked the server itself: the process-wide
    server facts and adapter loads of the integrations start empty for every test."""
    from vllm_accel._integration import ADAPTERS, FACTS

    FACTS.clear()
    ADAPTERS.clear()


def _recording(request: pytest.FixtureRequest) -> bool:
    return request.config.getoption("--record-mode", default="none") not in (None, "none")


@pytest.fixture
def recorded_chat_url(request: pytest.FixtureRequest) -> str:
    """The real chat server while recording, a placeholder while replaying."""
    if _recording(request):
        return str(request.getfixturevalue("chat_server_url"))
    return PLACEHOLDER


@pytest.fixture
def recorded_embed_url(request: pytest.FixtureRequest) -> str:
    """The real embedding server while recording, a placeholder while replaying."""
    if _recording(request):
        return str(request.getfixturevalue("embed_server_url"))
    return PLACEHOLDER


@pytest.fixture
def recorded_lora_path(request: pytest.FixtureRequest) -> str:
    """The adapter folder while recording (loaded first), a fixed string while replaying."""
    if _recording(request):
        request.getfixturevalue("pirate_adapter")
        return str(request.getfixturevalue("lora_path"))
    return "/recorded/lora-pirate"

"""Fixtures of the core live tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest
import pytest_asyncio
from support.cores import beside_the_chat_server
from support.early import EARLY, Group

from vllm_accel import AsyncVLLMClient, VLLMClient
from vllm_accel.server import VLLMServer, classify_spec, prepare

CLASSIFY_URL_ENV = "VLLM_ACCEL_TEST_CLASSIFY_URL"


@pytest_asyncio.fixture(params=["sync", "async"])
async def chat_client(request: Any, chat_server_url: str) -> AsyncIterator[Any]:
    """A sync or an async client of the real chat server."""
    if request.param == "sync":
        with VLLMClient(chat_server_url, timeout=300) as client:
            yield client
    else:
        async with AsyncVLLMClient(chat_server_url, timeout=300) as aclient:
            yield aclient


@pytest_asyncio.fixture(params=["sync", "async"])
async def embed_client(request: Any, embed_server_url: str) -> AsyncIterator[Any]:
    """A sync or an async client of the real MiniLM embedding (pooling) server."""
    if request.param == "sync":
        with VLLMClient(embed_server_url, timeout=300) as client:
            yield client
    else:
        async with AsyncVLLMClient(embed_server_url, timeout=300) as aclient:
            yield aclient


@pytest.fixture(scope="session")
def classify_server_url() -> Iterator[str]:
    """Base URL of a real classification server (SmolLM2, ``--convert classify``).

    Launched when collection ends (it boots during the offline tiers) and stopped after the
    last classification test, which launches the keyed server of the reliability tests in its
    place (``support/early.py``); a failed start is an error.
    ``VLLM_ACCEL_TEST_CLASSIFY_URL`` names one already running instead (nothing is started).
    """
    url = os.environ.get(CLASSIFY_URL_ENV)
    if url:
        yield url.rstrip("/")
        return
    (server,) = EARLY.take("classify")  # launched when collection ended, or built now
    with server:  # waits until healthy; stopped after the last classify test (early.py)
        assert server.base_url is not None
        yield server.base_url


def _classify_server() -> list[VLLMServer]:
    # Eager: no inductor compile at boot (about 20 s of both cores, while the unit tests run);
    # the scores are the same model's, only computed op by op.
    spec = classify_spec(prepare())
    spec = replace(spec, extra_args=(*spec.extra_args, "--enforce-eager"))
    return [VLLMServer(beside_the_chat_server(spec))]


if not os.environ.get(CLASSIFY_URL_ENV):
    EARLY.plan(Group("classify", ("tests/live/core/test_core_live_classify.py",),
                     _classify_server))


@pytest_asyncio.fixture(params=["sync", "async"])
async def classify_client(request: Any, classify_server_url: str) -> AsyncIterator[Any]:
    """A sync or an async client of the real classification server."""
    if request.param == "sync":
        with VLLMClient(classify_server_url, timeout=300) as client:
            yield client
    else:
        async with AsyncVLLMClient(classify_server_url, timeout=300) as aclient:
            yield aclient

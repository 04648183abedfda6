"""Fixtures of the core live tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

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

    Started on first use and stopped at the end of the session; a failed start is an error.
    ``VLLM_ACCEL_TEST_CLASSIFY_URL`` names one already running instead (nothing is started).
    """
    url = os.environ.get(CLASSIFY_URL_ENV)
    if url:
        yield url.rstrip("/")
        return
    with VLLMServer(classify_spec(prepare())) as server:
        assert server.base_url is not None
        yield server.base_url


@pytest_asyncio.fixture(params=["sync", "async"])
async def classify_client(request: Any, classify_server_url: str) -> AsyncIterator[Any]:
    """A sync or an async client of the real classification server."""
    if request.param == "sync":
        with VLLMClient(classify_server_url, timeout=300) as client:
            yield client
    else:
        async with AsyncVLLMClient(classify_server_url, timeout=300) as aclient:
            yield aclient

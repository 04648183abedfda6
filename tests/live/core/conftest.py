"""Fixtures of the core live tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from vllm_accel import AsyncVLLMClient, VLLMClient


@pytest_asyncio.fixture(params=["sync", "async"])
async def chat_client(request: Any, chat_server_url: str) -> AsyncIterator[Any]:
    """A sync or an async client of the real chat server."""
    if request.param == "sync":
        with VLLMClient(chat_server_url, timeout=300) as client:
            yield client
    else:
        async with AsyncVLLMClient(chat_server_url, timeout=300) as aclient:
            yield aclient

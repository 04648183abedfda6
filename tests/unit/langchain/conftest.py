"""Fixtures of the LangChain unit tests: a scripted vLLM on ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lc_fake_vllm import BASE_URL, FakeVLLM


@pytest.fixture
def fake() -> FakeVLLM:
    return FakeVLLM()


@pytest.fixture
def clients(fake: FakeVLLM) -> Iterator[dict[str, Any]]:
    """``http_client``/``http_async_client`` kwargs wired to ``fake``."""
    transport = httpx.MockTransport(fake)
    sync, async_ = httpx.Client(transport=transport), httpx.AsyncClient(transport=transport)
    yield {"base_url": BASE_URL, "http_client": sync, "http_async_client": async_}
    sync.close()

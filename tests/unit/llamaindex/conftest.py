"""Fixtures: a scripted fake vLLM and LlamaIndex objects bound to it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from llamaindex_fake import BASE_URL, FakeVLLM

from llamaindex_vllm_accel import VLLM, VLLMEmbedding


@pytest.fixture
def fake() -> FakeVLLM:
    return FakeVLLM()


def _clients(fake: FakeVLLM) -> tuple[Any, Any]:
    import vllm_accel

    transport = httpx.MockTransport(fake.handler)
    sync = vllm_accel.VLLMClient(BASE_URL, http_client=httpx.Client(transport=transport),
                                 max_retries=0)
    async_ = vllm_accel.AsyncVLLMClient(
        BASE_URL, http_client=httpx.AsyncClient(transport=transport), max_retries=0)
    return sync, async_


@pytest.fixture
def llm(fake: FakeVLLM) -> VLLM:
    sync, async_ = _clients(fake)
    return VLLM(base_url=BASE_URL, client=sync, async_client=async_, max_tokens=16,
               temperature=0.0)


@pytest.fixture
def embed_model(fake: FakeVLLM) -> VLLMEmbedding:
    sync, async_ = _clients(fake)
    return VLLMEmbedding(base_url=BASE_URL, client=sync, async_client=async_)

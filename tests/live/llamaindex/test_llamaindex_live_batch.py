"""``VLLM.batch_chat``/``abatch_chat``/``batch_complete`` on the real SmolLM2 server: a plain chat
batch is one ``/v1/chat/completions/batch`` request, in input order, and a conversation too
long for the context fails only its own slot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse

import vllm_accel
from llamaindex_vllm_accel import VLLM

pytestmark = pytest.mark.live

BATCH = "/v1/chat/completions/batch"
CONVERSATIONS = [[ChatMessage(role="user", content=f"Say the number {i}.")] for i in range(5)]


@pytest.fixture
def llm(chat_server_url: str) -> Iterator[VLLM]:
    model = VLLM(base_url=chat_server_url, temperature=0.0, max_tokens=4)
    yield model
    model.close()


def _count(stats: Any) -> dict[str, int]:
    return {route: g.requests for route, g in stats.by_route.items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {r: n - before.get(r, 0) for r, n in after.items() if n != before.get(r, 0)}


def test_batch_chat_and_batch_complete_are_one_request_each(llm: VLLM) -> None:
    before = _count(llm.client.stats())
    answers = llm.batch_chat(CONVERSATIONS)
    assert _delta(before, _count(llm.client.stats())) == {BATCH: 1}
    assert len(answers) == 5
    assert all(isinstance(a, ChatResponse) and a.message.content for a in answers)
    before = _count(llm.client.stats())
    completions = llm.batch_complete([f"Say the number {i}." for i in range(5)])
    assert _delta(before, _count(llm.client.stats())) == {BATCH: 1}
    assert all(isinstance(c, CompletionResponse) for c in completions)


async def test_abatch_chat_is_one_request_and_an_overlong_one_fails_alone(llm: VLLM) -> None:
    before = _count(llm.async_client.stats())
    answers = await llm.abatch_chat(CONVERSATIONS[:3])
    assert _delta(before, _count(llm.async_client.stats())) == {BATCH: 1}
    assert len(answers) == 3
    too_long = [ChatMessage(role="user", content="word " * 5000)]
    mixed = await llm.abatch_chat([CONVERSATIONS[0], too_long, CONVERSATIONS[1]],
                                  return_exceptions=True)
    assert isinstance(mixed[1], vllm_accel.ContextLengthError)
    assert all(isinstance(mixed[i], ChatResponse) for i in (0, 2))
    with pytest.raises(vllm_accel.ContextLengthError):
        llm.batch_chat([CONVERSATIONS[0], too_long])

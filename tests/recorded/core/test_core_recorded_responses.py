"""The Responses API and batch chat replaying real vLLM 0.32 traffic.

Recorded from the embedded chat server with ``VLLM_ENABLE_RESPONSES_API_STORE=1`` (the default
chat spec), so the stored-response routes answer.
"""

from __future__ import annotations

import pytest

from vllm_accel import (
    AsyncVLLMClient,
    ChatCompletion,
    ContextLengthError,
    Response,
    ResponseLifecycleEvent,
    ResponseOutputItemEvent,
    ResponseTextDeltaEvent,
    VLLMClient,
)

pytestmark = pytest.mark.vcr

CONVERSATIONS = [
    "What is the capital of France?",
    [{"role": "system", "content": "You answer in one word."},
     {"role": "user", "content": "Name a red fruit."}],
    "Count: 1, 2, 3,",
]


def test_create_response(recorded_chat_url: str) -> None:
    with VLLMClient(recorded_chat_url, model="smollm2") as client:
        response = client.create_response("What is the capital of France?",
                                          max_output_tokens=16, temperature=0)
    assert isinstance(response, Response)
    assert "Paris" in response.output_text
    assert response.output[0].type == "message"
    assert response.output[0].role == "assistant"
    assert response.usage is not None
    assert response.usage.output_tokens == client.stats().completion_tokens > 0
    assert response.usage.input_tokens == client.stats().prompt_tokens


def test_stream_response_events_fold_into_the_response(recorded_chat_url: str) -> None:
    with VLLMClient(recorded_chat_url, model="smollm2") as client, \
            client.stream_response("What is the capital of France?", max_output_tokens=16,
                                   temperature=0) as stream:
        events = list(stream)
        final = stream.final()
    assert isinstance(events[0], ResponseLifecycleEvent)
    assert events[0].response.status == "in_progress"
    assert isinstance(events[-1], ResponseLifecycleEvent)
    assert events[-1].type == "response.completed"
    assert any(isinstance(e, ResponseOutputItemEvent) for e in events)
    deltas = [e.delta for e in events if isinstance(e, ResponseTextDeltaEvent)]
    assert "".join(deltas) == final.output_text
    assert "Paris" in final.output_text
    assert final.usage is not None
    assert final.usage.output_tokens > 0
    assert client.stats().completion_tokens == final.usage.output_tokens


async def test_async_stream_response_text(recorded_chat_url: str) -> None:
    async with AsyncVLLMClient(recorded_chat_url, model="smollm2") as client:
        async with client.stream_response("What is the capital of France?",
                                          max_output_tokens=16, temperature=0) as stream:
            text = "".join([t async for t in stream.text_deltas()])
        created = await client.create_response("What is the capital of France?",
                                               max_output_tokens=16, temperature=0)
    assert "Paris" in text
    assert text == created.output_text  # temperature 0: the stream says the same


def test_background_response_cancelled_then_fetched(recorded_chat_url: str) -> None:
    with VLLMClient(recorded_chat_url, model="smollm2") as client:
        started = client.create_response("Tell me a very long story.", background=True,
                                         max_output_tokens=1000, ignore_eos=True)
        cancelled = client.cancel_response(started.id)
        fetched = client.get_response(started.id)
    assert started.status == "queued"
    assert started.background is True
    assert cancelled.status == "cancelled"
    assert fetched.id == started.id
    assert fetched.status == "cancelled"


def test_batch_chat_is_one_request_split_per_conversation(recorded_chat_url: str) -> None:
    with VLLMClient(recorded_chat_url, model="smollm2") as client:
        items, metrics = client.process_batch_with_metrics(
            CONVERSATIONS, mode="chat", max_tokens=8, temperature=0)
        stats = client.stats()
    assert stats.total_requests == 1
    assert stats.by_route["/v1/chat/completions/batch"].requests == 1
    assert [i.prompt for i in items] == CONVERSATIONS
    assert all(isinstance(i.result, ChatCompletion) for i in items)
    assert all(len(i.result.choices) == 1 and i.result.choices[0].index == 0 for i in items)
    assert "Paris" in items[0].text
    assert metrics.prompt_tokens == stats.prompt_tokens
    assert metrics.completion_tokens == stats.completion_tokens


async def test_async_batch_chat_with_one_bad_conversation(recorded_chat_url: str) -> None:
    prompts = ["Say a.", "word " * 3000, "Say c."]
    async with AsyncVLLMClient(recorded_chat_url, model="smollm2") as client:
        items = await client.process_batch(prompts, mode="chat", max_tokens=2, temperature=0)
        stats = client.stats()
    assert stats.by_route["/v1/chat/completions/batch"].requests == 1  # refused: 400
    assert stats.by_route["/v1/chat/completions"].requests == 3  # then item by item
    assert [i.ok for i in items] == [True, False, True]
    assert isinstance(items[1].error, ContextLengthError)

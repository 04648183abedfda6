"""Chat batches as ONE ``/v1/chat/completions/batch`` request on the real server, both twins.

The server's own ``http_requests_total`` counts what it received per route, so each test proves
how many requests went where (not just what the client says it sent).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from core_live_helpers import resolve, settled

from vllm_accel import (
    AsyncVLLMClient,
    ChatCompletion,
    ContextLengthError,
    Endpoint,
    NotFoundError,
    VLLMClient,
)
from vllm_accel._batch import BATCH_CHAT_CHUNK

pytestmark = pytest.mark.live

BATCH = "/v1/chat/completions/batch"
CHAT = "/v1/chat/completions"
CONVERSATIONS: list[Any] = [
    "Count: 1, 2, 3,",
    [{"role": "system", "content": "You list fruits."},
     {"role": "user", "content": "Name a red fruit."}],
    "What is the capital of France?",
    [{"role": "user", "content": "Say hello."},
     {"role": "assistant", "content": "Hello!"},
     {"role": "user", "content": "Now say goodbye."}],
    "Write the alphabet: a, b, c,",
]
GREEDY = {"max_tokens": 4, "temperature": 0.0}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def _received(url: str) -> dict[str, float]:
    """Requests the server has answered so far, by route."""
    counts: dict[str, float] = {BATCH: 0.0, CHAT: 0.0}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("http_requests_total{"):
            for route in counts:
                if f'handler="{route}"' in line:
                    counts[route] += float(line.rsplit(" ", 1)[1])
    return counts


def _chats_per_endpoint(client: Any) -> dict[str, int]:
    return {name: s.requests.by_route[CHAT].requests
            for name, s in client.pool.stats().items()}


async def _assert_sent(url: str, before: dict[str, float], expected: dict[str, int],
                       why: str = "") -> None:
    """The server counted ``expected`` requests per route since ``before`` (read until it
    settles: ``http_requests_total`` is counted after the answer has gone out, seen once:
    15 of 16; a wrong count still fails after 5 s)."""
    sent = await settled(lambda: {route: n - before[route] for route, n in _received(url).items()},
                         lambda sent: sent == expected)
    assert sent == expected, why


async def test_a_chat_batch_is_one_request_and_keeps_order(chat_client: Any,
                                                           chat_server_url: str) -> None:
    chat_client.reset_stats()
    seen: list[tuple[int, int]] = []
    before = _received(chat_server_url)
    items, metrics = await resolve(chat_client.process_batch_with_metrics(
        CONVERSATIONS, mode="chat", progress=lambda d, t: seen.append((d, t)), **GREEDY))
    await _assert_sent(chat_server_url, before, {BATCH: 1, CHAT: 0})
    stats = chat_client.stats()
    assert stats.by_route[BATCH].requests == 1
    assert CHAT not in stats.by_route
    assert seen == [(len(CONVERSATIONS), len(CONVERSATIONS))]
    assert [i.prompt for i in items] == CONVERSATIONS
    assert all(i.ok and isinstance(i.result, ChatCompletion) for i in items)
    assert len({i.result.id for i in items}) == len(items)
    # Order: each item is what the same conversation answers on its own (greedy decoding).
    for item, conversation in zip(items, CONVERSATIONS, strict=True):
        alone = await resolve(chat_client.chat(conversation, **GREEDY))
        assert item.text == alone.text
        assert item.result.choices[0].finish_reason == alone.choices[0].finish_reason
    # Metrics: the route reports the batch's total usage; the items share its latency.
    assert (metrics.batch_size, metrics.succeeded, metrics.failed) == (5, 5, 0)
    assert metrics.prompt_tokens == stats.by_route[BATCH].prompt_tokens
    assert metrics.prompt_tokens > 5 * 20  # five templated conversations
    assert 5 <= metrics.completion_tokens <= 5 * GREEDY["max_tokens"]
    assert len(set(metrics.item_latencies_ms)) == 1


async def test_one_bad_conversation_fails_alone(chat_client: Any, chat_server_url: str) -> None:
    prompts = ["Say a.", "word " * 3000, "Say c."]
    before = _received(chat_server_url)
    items, metrics = await resolve(chat_client.process_batch_with_metrics(
        prompts, mode="chat", max_tokens=2))
    # the batch was refused (400: too long), then each conversation went on its own
    await _assert_sent(chat_server_url, before, {BATCH: 1, CHAT: 3})
    assert [i.ok for i in items] == [True, False, True]
    assert isinstance(items[1].error, ContextLengthError)
    assert items[0].text
    assert items[2].text
    assert (metrics.succeeded, metrics.failed) == (2, 1)


@pytest.mark.parametrize(("params", "why"), [
    ({"tools": TOOLS, "max_tokens": 8}, "the route ignores tools"),
    ({"n": 2, "max_tokens": 2}, "the route refuses n > 1"),
    ({"ignore_eos": True, "max_tokens": 3}, "the route silently drops ignore_eos"),
])
async def test_batches_the_route_cannot_serve_fan_out(chat_client: Any, chat_server_url: str,
                                                      params: dict[str, Any], why: str) -> None:
    prompts = ["Weather in Paris?", "Weather in Rome?", "Weather in Oslo?"]
    before = _received(chat_server_url)
    items = await resolve(chat_client.process_batch(prompts, mode="chat", **params))
    await _assert_sent(chat_server_url, before, {BATCH: 0, CHAT: 3}, why)
    assert all(i.ok for i in items)
    assert [i.prompt for i in items] == prompts
    if params.get("n") == 2:
        assert all(len(i.result.choices) == 2 for i in items)
    if params.get("ignore_eos"):
        assert all(i.result.usage.completion_tokens == 3 for i in items)


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_server_without_the_route_fans_out_and_is_remembered(
        twin: str, embed_server_url: str) -> None:
    """The MiniLM server is a real vLLM with no generation routes: 404 for both."""
    prompts = ["a", "b", "c"]

    async def run(client: Any) -> list[Any]:
        first = await resolve(client.process_batch(prompts, mode="chat", max_tokens=2))
        second = await resolve(client.process_batch(prompts, mode="chat", max_tokens=2))
        return [first, second]

    if twin == "sync":
        with VLLMClient(embed_server_url, max_retries=0) as client:
            first, second = await run(client)
            stats = client.stats()
    else:
        async with AsyncVLLMClient(embed_server_url, max_retries=0) as aclient:
            first, second = await run(aclient)
            stats = aclient.stats()
    for items in (first, second):
        assert [i.prompt for i in items] == prompts
        assert all(isinstance(i.error, NotFoundError) for i in items)  # each item's own answer
    assert stats.by_route[BATCH].requests == 1  # the second batch did not ask again
    assert stats.by_route[CHAT].requests == 6


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_pool_of_two_fans_out(twin: str, chat_server_url: str) -> None:
    endpoints = [Endpoint(chat_server_url, name="a"), Endpoint(chat_server_url, name="b")]
    prompts = ["Say one.", "Say two.", "Say three.", "Say four."]
    before = _received(chat_server_url)
    if twin == "sync":
        with VLLMClient(endpoints=endpoints) as client:
            items = client.process_batch(prompts, mode="chat", max_tokens=2)
            per_endpoint = _chats_per_endpoint(client)
    else:
        async with AsyncVLLMClient(endpoints=endpoints) as aclient:
            items = await aclient.process_batch(prompts, mode="chat", max_tokens=2)
            per_endpoint = _chats_per_endpoint(aclient)
    await _assert_sent(chat_server_url, before, {BATCH: 0, CHAT: 4})
    assert all(i.ok for i in items)
    assert per_endpoint == {"a": 2, "b": 2}  # round robin spread the items


async def test_a_big_chat_batch_goes_in_chunks_in_order_with_its_own_errors(
        chat_client: Any, chat_server_url: str) -> None:
    """40 conversations: three batch requests (16, 16, 8) in flight together; the chunk holding
    one too-long conversation is refused (400) and goes item by item; order and the other
    answers are kept."""
    chunk = BATCH_CHAT_CHUNK
    prompts: list[Any] = [f"Say the number {i}." for i in range(40)]
    prompts[20] = "word " * 3000  # in the second chunk
    seen: list[tuple[int, int]] = []
    chat_client.reset_stats()
    before = _received(chat_server_url)
    items, metrics = await resolve(chat_client.process_batch_with_metrics(
        prompts, mode="chat", progress=lambda d, t: seen.append((d, t)), **GREEDY))
    await _assert_sent(chat_server_url, before, {BATCH: 3, CHAT: chunk})
    stats = chat_client.stats().by_route
    assert (stats[BATCH].requests, stats[CHAT].requests) == (3, chunk)
    assert [i.index for i in items] == list(range(40))
    assert [i.prompt for i in items] == prompts
    assert [i.ok for i in items] == [i != 20 for i in range(40)]
    assert isinstance(items[20].error, ContextLengthError)
    assert len(seen) == 3  # once per chunk, counting up to the whole batch
    assert seen[-1] == (40, 40)
    assert (metrics.succeeded, metrics.failed) == (39, 1)
    # usage: the two batch requests' totals plus the refused chunk's 15 items of their own
    assert metrics.completion_tokens >= 39
    # each answer is its own conversation's (greedy): the first, a middle and the last chunk
    for i in (0, 17, 39):
        alone = await resolve(chat_client.chat(prompts[i], **GREEDY))
        assert items[i].text == alone.text, i

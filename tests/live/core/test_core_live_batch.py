"""Batch processing on the real server: order, per-item errors, one-request fast path."""

from __future__ import annotations

from typing import Any

import pytest
from core_live_helpers import resolve

from vllm_accel import ChatCompletion, Completion, ContextLengthError

pytestmark = pytest.mark.live

WORDS = ["apple", "banana", "cherry", "date", "elderberry", "fig"]


async def test_completions_batch_is_one_request_and_keeps_order(chat_client: Any) -> None:
    chat_client.reset_stats()
    seen: list[tuple[int, int]] = []
    items = await resolve(chat_client.process_batch(
        WORDS, max_tokens=1, echo=True, progress=lambda d, t: seen.append((d, t))))
    assert [i.index for i in items] == list(range(len(WORDS)))
    for item, word in zip(items, WORDS, strict=True):
        assert item.ok
        assert isinstance(item.result, Completion)
        assert item.text is not None
        assert item.text.startswith(word)  # echo=True: each answer starts with its prompt
    stats = chat_client.stats()
    assert stats.by_route["/v1/completions"].requests == 1  # the fastest path
    assert seen[-1] == (len(WORDS), len(WORDS))


async def test_one_bad_prompt_never_loses_the_others(chat_client: Any) -> None:
    prompts = ["apple", "word " * 3000, "cherry"]
    items, metrics = await resolve(chat_client.process_batch_with_metrics(
        prompts, max_tokens=1, echo=True))
    assert [i.ok for i in items] == [True, False, True]
    assert isinstance(items[1].error, ContextLengthError)
    assert items[0].text.startswith("apple")
    assert items[2].text.startswith("cherry")
    assert (metrics.batch_size, metrics.succeeded, metrics.failed) == (3, 2, 1)


async def test_chat_batch_with_metrics(chat_client: Any) -> None:
    prompts = [f"Repeat the word {w}." for w in WORDS[:4]]
    prompts.append([{"role": "user", "content": "Say hi."}])  # type: ignore[arg-type]
    seen: list[tuple[int, int]] = []
    items, metrics = await resolve(chat_client.process_batch_with_metrics(
        prompts, mode="chat", max_concurrency=3, max_tokens=4, ignore_eos=True,
        progress=lambda d, t: seen.append((d, t))))
    assert [i.prompt for i in items] == prompts
    assert all(isinstance(i.result, ChatCompletion) for i in items)
    assert metrics.batch_size == 5
    assert metrics.succeeded == 5
    assert metrics.completion_tokens == 20
    assert metrics.tokens_per_second > 0
    assert metrics.total_time_ms > 0
    assert metrics.average_time_per_item_ms == pytest.approx(metrics.total_time_ms / 5)
    assert len(metrics.item_latencies_ms) == 5
    assert all(0 < lat <= metrics.total_time_ms for lat in metrics.item_latencies_ms)
    assert sorted(seen) == [(k, 5) for k in range(1, 6)]

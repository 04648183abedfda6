"""Cancellation reaches the real server: the HTTP response is closed and vLLM stops generating.

Each test starts a generation that would run for minutes (``ignore_eos``, thousands of tokens) on
the private server, stops it the way a caller would (leaving the ``with`` block early,
cancelling the asyncio task, Ctrl-C in a sync loop), then watches the server's own
``vllm:generation_tokens_total``: within a second it must stop rising, and no request may be
left running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

import httpx
import pytest

from vllm_accel import AsyncVLLMClient, VLLMClient

pytestmark = pytest.mark.live

LONG = {"max_tokens": 1500, "ignore_eos": True, "temperature": 1.0}
MESSAGES = [{"role": "user", "content": "Tell me a very long story."}]
CHUNKS_BEFORE_STOP = 3


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((name + "{", name + " ")))


def assert_generation_stopped(url: str, stopped_at: float, before: float) -> None:
    """The server generated for this request, then stopped within ~1 s of ``stopped_at``."""
    time.sleep(max(0.0, stopped_at + 1.0 - time.monotonic()))
    settled = _metric(url, "vllm:generation_tokens_total")
    assert settled > before, "the request never generated anything"
    time.sleep(1.5)
    assert _metric(url, "vllm:generation_tokens_total") == settled, "still generating"
    assert _metric(url, "vllm:num_requests_running") == 0
    # Sanity: had it not been stopped, it had far more to generate.
    assert settled - before < LONG["max_tokens"]


@pytest.fixture
def before(keyed_server_url: str) -> float:
    deadline = time.monotonic() + 60  # a previous test's abort must have settled
    while _metric(keyed_server_url, "vllm:num_requests_running") and time.monotonic() < deadline:
        time.sleep(0.2)
    return _metric(keyed_server_url, "vllm:generation_tokens_total")


def test_sync_stream_closed_early(keyed_server_url: str, api_key: str, before: float) -> None:
    with VLLMClient(keyed_server_url, api_key=api_key, timeout=120) as client:
        with client.stream_chat(MESSAGES, **LONG) as stream:
            for n, _ in enumerate(stream, 1):
                if n == CHUNKS_BEFORE_STOP:
                    break
        stopped = time.monotonic()
        assert stream.response is not None
        assert stream.response.is_closed
        assert client.stats().total_requests == 1  # recorded once, as cancelled
    assert_generation_stopped(keyed_server_url, stopped, before)


async def test_async_stream_closed_early(keyed_server_url: str, api_key: str,
                                         before: float) -> None:
    async with AsyncVLLMClient(keyed_server_url, api_key=api_key, timeout=120) as client:
        async with client.stream_chat(MESSAGES, **LONG) as stream:
            n = 0
            async for _ in stream:
                n += 1
                if n == CHUNKS_BEFORE_STOP:
                    break
        stopped = time.monotonic()
        assert stream.response is not None
        assert stream.response.is_closed
    await asyncio.to_thread(assert_generation_stopped, keyed_server_url, stopped, before)


async def test_asyncio_task_cancelled(keyed_server_url: str, api_key: str,
                                      before: float) -> None:
    got = asyncio.Event()
    streams: list[Any] = []

    async def consume(client: AsyncVLLMClient) -> None:
        async with client.stream_chat(MESSAGES, **LONG) as stream:
            streams.append(stream)
            n = 0
            async for _ in stream:
                n += 1
                if n == CHUNKS_BEFORE_STOP:
                    got.set()

    async with AsyncVLLMClient(keyed_server_url, api_key=api_key, timeout=120) as client:
        task = asyncio.create_task(consume(client))
        await asyncio.wait_for(got.wait(), 120)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stopped = time.monotonic()
        assert streams[0].response.is_closed
        assert client.stats().total_errors == 0  # a cancellation is not an error
    await asyncio.to_thread(assert_generation_stopped, keyed_server_url, stopped, before)


def test_keyboard_interrupt_in_sync_stream(keyed_server_url: str, api_key: str,
                                           before: float) -> None:
    """A real SIGINT, delivered while the loop waits inside httpx for the next token."""
    assert threading.current_thread() is threading.main_thread()
    got = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    armed = True

    def on_sigint(signum: int, frame: Any) -> None:
        if armed:
            raise KeyboardInterrupt

    def interrupter() -> None:
        if got.wait(120):
            os.kill(os.getpid(), signal.SIGINT)

    signal.signal(signal.SIGINT, on_sigint)
    thread = threading.Thread(target=interrupter, daemon=True)
    try:
        with VLLMClient(keyed_server_url, api_key=api_key, timeout=120) as client:
            thread.start()
            stream = client.stream_chat(MESSAGES, **LONG)
            with pytest.raises(KeyboardInterrupt), stream:  # noqa: PT012 - raised in the loop
                for n, _ in enumerate(stream, 1):
                    if n == CHUNKS_BEFORE_STOP:
                        got.set()
            stopped = time.monotonic()
            assert stream.response is not None
            assert stream.response.is_closed
    finally:
        armed = False
        signal.signal(signal.SIGINT, previous)
        thread.join(5)
    assert_generation_stopped(keyed_server_url, stopped, before)


def test_keyboard_interrupt_in_sync_batch_sends_no_queued_prompt(
        keyed_server_url: str, api_key: str, before: float) -> None:
    """Ctrl-C during a sync chat batch: the prompts still queued are never sent (the server's
    own count of finished requests grows only by those answered plus those already in flight),
    and the interrupt reaches the caller."""
    prompts = [f"Count to {n}." for n in range(40)]
    workers = 2
    previous = signal.getsignal(signal.SIGINT)
    armed = True
    done_at_interrupt: list[int] = []

    def on_sigint(signum: int, frame: Any) -> None:
        if armed:
            raise KeyboardInterrupt

    def progress(done: int, total: int) -> None:
        if done == 2 and not done_at_interrupt:
            done_at_interrupt.append(done)
            os.kill(os.getpid(), signal.SIGINT)

    finished = "vllm:request_success_total"
    start = _metric(keyed_server_url, finished)
    signal.signal(signal.SIGINT, on_sigint)
    try:
        with VLLMClient(keyed_server_url, api_key=api_key, timeout=120) as client:
            with pytest.raises(KeyboardInterrupt):
                # min_tokens is a field /v1/chat/completions/batch would drop, so this batch
                # fans out (the path under test), one request per prompt
                client.process_batch(prompts, mode="chat", max_concurrency=workers,
                                     progress=progress, max_tokens=24, min_tokens=1,
                                     temperature=0)
            deadline = time.monotonic() + 120  # the requests already on the wire finish
            while (_metric(keyed_server_url, "vllm:num_requests_running")
                   and time.monotonic() < deadline):
                time.sleep(0.2)
            time.sleep(0.5)
    finally:
        armed = False
        signal.signal(signal.SIGINT, previous)
    sent = _metric(keyed_server_url, finished) - start
    assert done_at_interrupt == [2]
    assert 2 <= sent <= 2 + 2 * workers, f"{sent} of {len(prompts)} prompts reached the server"

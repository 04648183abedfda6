"""Soak: 10,000 requests cost no memory and no file descriptors.

Against ``bench.responder``, the benchmark's zero-cost loopback responder (a separate process
with canned vLLM-shaped answers): a real vLLM server would take an hour for 10,000 requests on a
CPU, and what is measured here is the client's own cost only. Every request kind that holds
resources is mixed in: JSON chat and completions, streams read to the end, streams closed early,
and errors (a 404 from an unknown route). Measured after a warm-up that fills the connection
pool and loads every lazily imported module. The statistics window (the last
``STATS_WINDOW`` = 10,000 per-request records, kept by design for percentiles) fills up during the
measured run, so its cost is inside the 5 MB too.

The 2,000-requests-through-a-pool-of-two-with-one-killed variant waits for issue #4.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from vllm_accel import AsyncVLLMClient, NotFoundError, VLLMClient

pytestmark = [pytest.mark.live, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
REQUESTS = 10_000
WARMUP = 500  # fills the connection pool and imports every lazy module
RSS_LIMIT = 5 * 1024 * 1024
MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def responder_url() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.responder"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _one_sync(client: VLLMClient, i: int) -> None:
    kind = i % 5
    if kind == 0:
        assert client.chat(MESSAGES, max_tokens=4).text
    elif kind == 1:
        assert client.complete("Hi", max_tokens=4).text
    elif kind == 2:
        with client.stream_chat(MESSAGES, max_tokens=8) as stream:
            assert stream.final().text
    elif kind == 3:
        with client.stream_generation("Hi", max_tokens=8) as stream:
            next(iter(stream))  # closed early
    else:
        with contextlib.suppress(NotFoundError):
            client.make_post_request("/v1/nowhere", {"x": 1})


async def _one_async(client: AsyncVLLMClient, i: int) -> None:
    kind = i % 5
    if kind == 0:
        assert (await client.chat(MESSAGES, max_tokens=4)).text
    elif kind == 1:
        assert (await client.complete("Hi", max_tokens=4)).text
    elif kind == 2:
        async with client.stream_chat(MESSAGES, max_tokens=8) as stream:
            assert (await stream.final()).text
    elif kind == 3:
        async with client.stream_generation("Hi", max_tokens=8) as stream:
            await stream.__anext__()  # closed early
    else:
        with contextlib.suppress(NotFoundError):
            await client.make_post_request("/v1/nowhere", {"x": 1})


def _usage() -> tuple[int, int]:
    gc.collect()
    me = psutil.Process()
    return me.memory_info().rss, me.num_fds()


def _check(before: tuple[int, int], after: tuple[int, int]) -> None:
    grown = after[0] - before[0]
    print(f"RSS growth {grown / 2**20:.2f} MiB, fds {before[1]} -> {after[1]}")
    assert grown < RSS_LIMIT, f"RSS grew {grown / 2**20:.1f} MiB over {REQUESTS} requests"
    assert after[1] <= before[1], f"file descriptors: {before[1]} -> {after[1]}"


def test_sync_soak(responder_url: str) -> None:
    with VLLMClient(responder_url, max_retries=0) as client:
        for i in range(WARMUP):
            _one_sync(client, i)
        before = _usage()
        for i in range(REQUESTS):
            _one_sync(client, i)
        after = _usage()
        assert client.stats().total_requests == WARMUP + REQUESTS
    _check(before, after)


async def test_async_soak(responder_url: str) -> None:
    async def run(client: AsyncVLLMClient, count: int) -> None:
        """16 concurrent workers (not 10,000 tasks at once: their memory is not the client's)."""
        numbers = iter(range(count))

        async def worker() -> None:
            for i in numbers:
                await _one_async(client, i)

        await asyncio.gather(*(worker() for _ in range(16)))

    async with AsyncVLLMClient(responder_url, max_retries=0) as client:
        await run(client, WARMUP)
        before = _usage()
        await run(client, REQUESTS)
        after = _usage()
        assert client.stats().total_requests == WARMUP + REQUESTS
    _check(before, after)

"""Soak: 10,000 requests cost no memory and no file descriptors.

Against ``bench.responder``, the benchmark's zero-cost loopback responder (a separate process
with canned vLLM-shaped answers): a real vLLM server would take an hour for 10,000 requests on a
CPU, and what is measured here is the client's own cost only. Every request kind that holds
resources is mixed in: JSON chat and completions, streams read to the end, streams closed early,
and errors (a 404 from an unknown route). Measured after a warm-up that fills the connection
pool and loads every lazily imported module. The statistics window (the last
``STATS_WINDOW`` = 10,000 per-request records, kept by design for percentiles) fills up during the
measured run, so its cost is inside the 5 MB too.

File descriptors are checked twice. While the client is open, the count is sampled every
``SAMPLE_EVERY`` requests and may never rise above the baseline plus the sockets the run can hold
at once (one per concurrent worker: how many keep-alive connections the pool holds at a given
moment depends on scheduling, so an exact "after == before" would be flaky). After the client is
closed the count must be back at the baseline taken before the client was created: a socket or
file that outlived the client is a leak however few requests made it.
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
SAMPLE_EVERY = 500
ASYNC_WORKERS = 16
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


def _fds() -> int:
    return psutil.Process().num_fds()


def _check(idle_fds: int, before: tuple[int, int], peak_fds: int, after: tuple[int, int],
           closed_fds: int, in_flight: int) -> None:
    grown = after[0] - before[0]
    print(f"RSS growth {grown / 2**20:.2f} MiB; fds idle {idle_fds}, peak {peak_fds}, "
          f"after close {closed_fds}")
    assert grown < RSS_LIMIT, f"RSS grew {grown / 2**20:.1f} MiB over {REQUESTS} requests"
    assert peak_fds <= idle_fds + in_flight, (
        f"{peak_fds} fds open during the run: more than {idle_fds} + {in_flight} connections")
    assert closed_fds <= idle_fds, f"file descriptors left after close: {idle_fds} -> {closed_fds}"


def _warm_imports_sync(url: str) -> None:
    """A first client, closed again: lazy imports and module caches are not the soaked client's."""
    with VLLMClient(url, max_retries=0) as client:
        for i in range(5):
            _one_sync(client, i)


def test_sync_soak(responder_url: str) -> None:
    _warm_imports_sync(responder_url)
    idle_fds = _fds()
    peak = 0
    with VLLMClient(responder_url, max_retries=0) as client:
        for i in range(WARMUP):
            _one_sync(client, i)
        before = _usage()
        for i in range(REQUESTS):
            _one_sync(client, i)
            if i % SAMPLE_EVERY == 0:
                peak = max(peak, _fds())
        after = _usage()
        peak = max(peak, after[1])
        assert client.stats().total_requests == WARMUP + REQUESTS
    _check(idle_fds, before, peak, after, _fds(), in_flight=1)


async def test_async_soak(responder_url: str) -> None:
    peak = 0
    done = 0

    async def run(client: AsyncVLLMClient, count: int) -> None:
        """16 concurrent workers (not 10,000 tasks at once: their memory is not the client's)."""
        numbers = iter(range(count))

        async def worker() -> None:
            nonlocal peak, done
            for i in numbers:
                await _one_async(client, i)
                done += 1
                if done % SAMPLE_EVERY == 0:
                    peak = max(peak, _fds())

        await asyncio.gather(*(worker() for _ in range(ASYNC_WORKERS)))

    async with AsyncVLLMClient(responder_url, max_retries=0) as client:
        await run(client, 5)
    idle_fds = _fds()
    async with AsyncVLLMClient(responder_url, max_retries=0) as client:
        await run(client, WARMUP)
        before = _usage()
        await run(client, REQUESTS)
        after = _usage()
        peak = max(peak, after[1])
        assert client.stats().total_requests == WARMUP + REQUESTS
    _check(idle_fds, before, peak, after, _fds(), in_flight=ASYNC_WORKERS)

"""The capacity-following batch default (``max_concurrency=None``): the pure decision on real
scrapes of the embedded SmolLM2 server (``data/``), and the twins' send loops over it
(MockTransport as a decision-table driver: in-flight counts, scrapes sent, fallbacks)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from vllm_accel import AsyncVLLMClient, BadRequestError, VLLMClient
from vllm_accel._capacity import ScrapeCache, batch_concurrency, batch_tokens
from vllm_accel._config import DEFAULT_BATCH_CONCURRENCY
from vllm_accel._metrics import parse_metrics

pytestmark = pytest.mark.unit

SCRAPE = (Path(__file__).parent / "data" / "metrics_smollm2_fresh.txt").read_text()
BAD = {"error": {"message": "bad conversation", "type": "BadRequestError", "code": 400}}
PROMPTS = [f"prompt {i}" for i in range(100)]
FANS_OUT = {"mode": "chat", "max_tokens": 8, "extra_body": {"ignore_eos": True}}


def test_batch_tokens_sizes_the_longest_request() -> None:
    assert batch_tokens(["ab", "abcdef"], {"max_tokens": 10}) == 2 + 1 + 10
    assert batch_tokens([[{"role": "user", "content": "abcdef"}]],
                        {"max_completion_tokens": 4}) == 2 + 1 + 4
    assert batch_tokens(["abc"], {}) is None  # no answer limit: unbounded
    assert batch_tokens([], {"max_tokens": 4}) is None


def test_the_decision_sums_endpoints_and_never_goes_below_the_fixed_default() -> None:
    snap = parse_metrics(SCRAPE)  # 364 blocks of 128 tokens
    assert batch_concurrency([snap], tokens_per_request=40) == 256  # the scheduler ceiling
    assert batch_concurrency([snap, snap], tokens_per_request=40) == 512  # a pool: the sum
    assert batch_concurrency([snap], tokens_per_request=1000) == 64  # 45 fit: the floor
    assert batch_concurrency([snap], tokens_per_request=None) == 64  # full context: 22 fit
    assert batch_concurrency([None], tokens_per_request=40) == DEFAULT_BATCH_CONCURRENCY
    assert batch_concurrency([parse_metrics("")], tokens_per_request=40) == 64  # says nothing
    assert batch_concurrency([snap, None], tokens_per_request=40) == 256 + 64
    assert batch_concurrency([], tokens_per_request=40) == 64


def test_the_scrape_cache_expires() -> None:
    cache = ScrapeCache(30.0)
    assert cache.get(0.0) is None
    cache.put(100.0, [None])
    assert cache.get(129.9) == [None]
    assert cache.get(130.0) is None


class Server:
    """Answers ``/metrics`` as told and every chat request with a 400 after a pause, counting
    the requests in flight (the most at once) and the scrapes."""

    def __init__(self, metrics: tuple[int, str] | None, status: int = 400, *,
                 peak: int = 1, total: int = len(PROMPTS)) -> None:
        self.metrics = metrics
        self.status = status
        self.scrapes = 0
        self.in_flight = self.most = self.entered = 0
        self.peak, self.total = peak, total
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def _enter(self) -> None:
        with self.changed:
            self.in_flight += 1
            self.entered += 1
            self.most = max(self.most, self.in_flight)
            self.changed.notify_all()

    def _hold(self) -> None:
        """Keep a sync request in flight until ``peak`` are (or every prompt has arrived).

        So ``most`` measures the client's limit, not how fast worker threads start on a
        loaded machine (a fixed pause once saw 98 of 100). A client that keeps fewer in
        flight leaves the wait to its timeout, and ``most`` then shows the shortfall.
        """
        with self.changed:
            self.changed.wait_for(
                lambda: self.in_flight >= self.peak or self.entered >= self.total, timeout=10)
        time.sleep(0.05)  # and a little longer: a client over its limit shows more than peak

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def _metrics(self) -> httpx.Response:
        self.scrapes += 1
        if self.metrics is None:
            raise httpx.ConnectError("refused")
        return httpx.Response(self.metrics[0], text=self.metrics[1])

    def sync(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            return self._metrics()
        self._enter()
        self._hold()
        self._leave()
        return httpx.Response(self.status, json=BAD)

    async def aio(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            return self._metrics()
        self._enter()
        await asyncio.sleep(0.02)
        self._leave()
        return httpx.Response(self.status, json=BAD)


async def _run(twin: str, server: Server, batches: int = 1, ttl: float | None = None,
               prompts: list[str] = PROMPTS, **params: Any) -> list[Any]:
    items: list[Any] = []
    if twin == "sync":
        with VLLMClient("http://vllm", max_retries=0, http_client=httpx.Client(
                transport=httpx.MockTransport(server.sync))) as c:
            if ttl is not None:
                c._capacity_cache.ttl = ttl
            for _ in range(batches):
                items += c.process_batch(prompts, **{**FANS_OUT, **params})
        return items
    async with AsyncVLLMClient("http://vllm", max_retries=0, http_client=httpx.AsyncClient(
            transport=httpx.MockTransport(server.aio))) as ac:
        if ttl is not None:
            ac._capacity_cache.ttl = ttl
        for _ in range(batches):
            items += await ac.process_batch(prompts, **{**FANS_OUT, **params})
    return items


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_scrape_with_room_puts_every_prompt_in_flight(twin: str) -> None:
    server = Server((200, SCRAPE), peak=len(PROMPTS))
    items = await _run(twin, server)
    assert server.scrapes == 1
    assert server.most == len(PROMPTS)  # past the fixed 64
    assert [i.index for i in items] == list(range(len(PROMPTS)))
    assert all(isinstance(i.error, BadRequestError) for i in items)


@pytest.mark.parametrize("twin", ["sync", "async"])
@pytest.mark.parametrize("metrics", [None, (500, "boom"), (200, ""), (200, "not prometheus{")])
async def test_a_failed_or_empty_scrape_falls_back_and_never_fails_the_batch(
        twin: str, metrics: tuple[int, str] | None) -> None:
    server = Server(metrics, peak=DEFAULT_BATCH_CONCURRENCY)
    items = await _run(twin, server)
    assert server.scrapes == 1
    assert server.most == DEFAULT_BATCH_CONCURRENCY
    assert len(items) == len(PROMPTS)
    assert all(isinstance(i.error, BadRequestError) for i in items)  # the items' own errors


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_an_explicit_limit_wins_and_sends_no_scrape(twin: str) -> None:
    server = Server((200, SCRAPE), peak=5, total=15)  # the scrape would put all 15 in flight
    items = await _run(twin, server, prompts=PROMPTS[:15], max_concurrency=5)
    assert (server.scrapes, server.most) == (0, 5)
    assert [i.index for i in items] == list(range(15))


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_the_scrape_is_reused_until_it_expires(twin: str) -> None:
    server = Server((200, SCRAPE))
    await _run(twin, server, batches=2)
    assert server.scrapes == 1
    expired = Server((200, SCRAPE))
    await _run(twin, expired, batches=2, ttl=0.0)
    assert expired.scrapes == 2


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_one_request_batch_sends_no_scrape(twin: str) -> None:
    server = Server((200, SCRAPE), status=503)  # not a bad prompt: the batch does not split
    items = await _run(twin, server, mode="completions", extra_body=None)
    assert server.scrapes == 0
    assert len(items) == len(PROMPTS)

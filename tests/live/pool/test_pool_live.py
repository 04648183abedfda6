"""The endpoint pool against two real vLLM replicas, and the same client behind vllm-router.

The replicas run without ``--api-key`` (vllm-router forwards one key to every worker), so what
each endpoint *received* is read off the wire with an httpx request hook: endpoint A's key must
never reach B, failover included. The test that kills a replica is the last one of the module.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pool_live_helpers import Replicas

from vllm_accel import AsyncVLLMClient, Endpoint, EndpointPool, VLLMClient

KEYS = {"a": "key-for-replica-a", "b": "key-for-replica-b"}
GEN = {"max_tokens": 3, "temperature": 0}
# vLLM on CPU compiles the LoRA graph for each new batch shape (minutes on a busy machine, and
# past 300 s its engine gives up); the warm-up compiled one-at-a-time, so adapter requests here
# go one at a time. Placement, not throughput, is under test.
LORA = {**GEN, "mode": "chat", "max_concurrency": 1}


class Wire:
    """What each server received: ``host:port`` -> the Authorization headers seen."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str | None]] = defaultdict(set)
        self.count: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def hook(self, request: httpx.Request) -> None:
        with self._lock:
            where = f"{request.url.host}:{request.url.port}"
            self.seen[where].add(request.headers.get("authorization"))
            self.count[where] += 1

    async def ahook(self, request: httpx.Request) -> None:
        self.hook(request)

    def assert_own_keys_only(self, replicas: Replicas) -> None:
        for name, url in zip("ab", replicas.urls, strict=True):
            where = url.removeprefix("http://")
            assert self.seen[where] == {f"Bearer {KEYS[name]}"}, (name, self.seen)


def _pool(replicas: Replicas, **kwargs: Any) -> EndpointPool:
    a, b = replicas.urls
    return EndpointPool([Endpoint(a, api_key=KEYS["a"], name="a"),
                         Endpoint(b, api_key=KEYS["b"], name="b")], **kwargs)


def _successes(url: str) -> float:
    """Finished requests a replica counts itself (``vllm:request_success_total``)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(float(m.group(1)) for m in
               re.finditer(r"^vllm:request_success_total\{[^}]*\} (\S+)$", text, re.M))


def _served(url: str) -> set[str]:
    return {m["id"] for m in httpx.get(f"{url}/v1/models", timeout=30).json()["data"]}


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def client(replicas: Replicas, wire: Wire) -> Iterator[VLLMClient]:
    http = httpx.Client(event_hooks={"request": [wire.hook]},
                        limits=httpx.Limits(max_connections=256))
    with VLLMClient(endpoints=_pool(replicas), timeout=300, http_client=http) as c:
        yield c
    http.close()


def _prompts(n: int) -> list[str]:
    return [f"Say the number {i}." for i in range(n)]


# Load: one-token completions of a two-token prompt, echoed. Prefill on vLLM's CPU backend costs
# about 20 ms per prompt token (a chat template adds about 30), so short completions carry the
# load; ``echo`` makes each answer start with its own prompt, so a mixed-up answer cannot pass.
LOAD_GEN = {"max_tokens": 1, "temperature": 0, "ignore_eos": True, "echo": True}


def _short(n: int) -> list[str]:
    return [f"{i}:" for i in range(n)]


def _assert_own_answers(items: list[Any], prompts: list[str]) -> None:
    """Every item present once, in input order, ok, and the answer of its own prompt."""
    assert [i.index for i in items] == list(range(len(prompts)))
    assert [i.prompt for i in items] == prompts
    failed = [(i.index, repr(i.error)) for i in items if not i.ok]
    assert not failed, (len(failed), failed[:3])
    wrong = [(i.prompt, i.text) for i in items if not (i.text or "").startswith(i.prompt)]
    assert not wrong, wrong[:3]


def test_a_batch_of_200_spreads_over_both_replicas_each_with_its_own_key(
    replicas: Replicas, client: VLLMClient, wire: Wire
) -> None:
    before = [_successes(u) for u in replicas.urls]
    prompts = _short(200)
    items = client.process_batch(prompts, max_concurrency=32, **LOAD_GEN)
    _assert_own_answers(items, prompts)
    after = [_successes(u) for u in replicas.urls]
    served = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(served) == 200
    assert min(served) >= 50, served  # least-outstanding keeps both busy
    stats = client.pool.stats() if client.pool else {}
    assert {k: v.requests.total_requests for k, v in stats.items()} == {
        "a": served[0], "b": served[1]}
    assert all(v.state == "closed" for v in stats.values())
    assert client.stats().total_requests == 200
    wire.assert_own_keys_only(replicas)


async def test_async_pool_chat_stream_and_models(replicas: Replicas, wire: Wire) -> None:
    http = httpx.AsyncClient(event_hooks={"request": [wire.ahook]})
    async with AsyncVLLMClient(endpoints=_pool(replicas), timeout=300, http_client=http) as c:
        prompts = _short(40)
        answers = await asyncio.gather(*(c.complete(p, **LOAD_GEN) for p in prompts))
        assert all(a.text.startswith(p) for a, p in zip(answers, prompts, strict=True))
        assert (await c.chat("Hi", **GEN)).text
        async with c.stream_chat("Count to three.", max_tokens=4, temperature=0) as stream:
            text = "".join([t async for t in stream.text_deltas()])
        assert text
        assert stream.usage is not None
        assert {"smollm2"} <= {m.id for m in (await c.models()).data}
        assert c.pool is not None
        counts = {k: v.requests.total_requests for k, v in c.pool.stats().items()}
        assert min(counts.values()) >= 10, counts
        assert await c.health()
    await http.aclose()
    wire.assert_own_keys_only(replicas)


def test_an_adapter_on_one_replica_gets_all_its_requests(
    replicas: Replicas, client: VLLMClient, wire: Wire
) -> None:
    adapter = client.load_lora_adapter("pirate-one", replicas.lora_path)
    assert adapter.name == "pirate-one"
    holders = [u for u in replicas.urls if "pirate-one" in _served(u)]
    assert len(holders) == 1
    other = next(u for u in replicas.urls if u not in holders)
    try:
        # A second client learns the placement from /v1/models alone.
        with VLLMClient(endpoints=_pool(replicas), timeout=300) as fresh:
            for c in (client, fresh):
                before = _successes(other)
                items = c.process_batch(_prompts(4), model="pirate-one", **LORA)
                assert all(i.ok for i in items), [i.error for i in items if not i.ok][:3]
                assert all(i.result and i.result.model == "pirate-one" for i in items)
                assert _successes(other) == before  # nothing went to the other replica
                assert c.pool is not None
                name = "a" if holders[0] == replicas.urls[0] else "b"
                assert c.pool.stats()[name].requests.by_model["pirate-one"].requests >= 4
    finally:
        client.unload_lora_adapter("pirate-one")
    assert all("pirate-one" not in _served(u) for u in replicas.urls)
    wire.assert_own_keys_only(replicas)


def test_auto_load_places_an_unknown_adapter_once(replicas: Replicas, wire: Wire) -> None:
    http = httpx.Client(event_hooks={"request": [wire.hook]})
    pool = _pool(replicas, lora_paths={"pirate-auto": replicas.lora_path}, auto_load_lora=True)
    with VLLMClient(endpoints=pool, timeout=300, http_client=http) as c:
        try:
            items = c.process_batch(_prompts(4), model="pirate-auto", **LORA)
            assert all(i.ok for i in items)
            holders = [u for u in replicas.urls if "pirate-auto" in _served(u)]
            assert len(holders) == 1
        finally:
            c.unload_lora_adapter("pirate-auto")
    http.close()
    wire.assert_own_keys_only(replicas)


def test_load_everywhere_and_pool_wide_statistics(
    replicas: Replicas, client: VLLMClient, wire: Wire
) -> None:
    client.load_lora_adapter("pirate-all", replicas.lora_path, everywhere=True)
    try:
        assert all("pirate-all" in _served(u) for u in replicas.urls)
        items = client.process_batch(_prompts(6), model="pirate-all", **LORA)
        assert all(i.ok for i in items)
        assert client.pool is not None
        stats = client.pool.stats()
        assert all(s.requests.by_model["pirate-all"].requests >= 2 for s in stats.values())
        per = client.get_model_statistics_by_endpoint("smollm2")
        total = client.get_model_statistics("smollm2")
        counts = [s.requests_processed for s in per.values() if not isinstance(s, Exception)]
        assert len(counts) == 2
        assert total.requests_processed == sum(counts)
        assert total.tokens_generated == sum(
            s.tokens_generated for s in per.values() if not isinstance(s, Exception))
    finally:
        client.unload_lora_adapter("pirate-all")
    assert all("pirate-all" not in _served(u) for u in replicas.urls)
    wire.assert_own_keys_only(replicas)


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_the_same_client_works_behind_vllm_router(
    twin: str, replicas: Replicas, router_url: str
) -> None:
    before = [_successes(u) for u in replicas.urls]
    if twin == "sync":
        with VLLMClient(router_url, timeout=300) as c:
            answer = c.chat("Hi", **GEN)
            with c.stream_chat("Count to three.", max_tokens=4, temperature=0) as stream:
                streamed = "".join(stream.text_deltas())
            usage = stream.usage
            batch = c.process_batch(_prompts(8), mode="chat", **GEN)
            one_request = c.process_batch(_prompts(4), **GEN)  # one /v1/completions list
    else:
        async def run() -> tuple[Any, ...]:
            async with AsyncVLLMClient(router_url, timeout=300) as c:
                answer = await c.chat("Hi", **GEN)
                async with c.stream_chat("Count to three.", max_tokens=4,
                                         temperature=0) as stream:
                    streamed = "".join([t async for t in stream.text_deltas()])
                batch = await c.process_batch(_prompts(8), mode="chat", **GEN)
                one_request = await c.process_batch(_prompts(4), **GEN)
                return answer, streamed, stream.usage, batch, one_request

        answer, streamed, usage, batch, one_request = asyncio.run(run())
    assert answer.text
    assert answer.model == "smollm2"
    assert streamed
    assert usage is not None
    assert usage.completion_tokens > 0
    assert all(i.ok and i.text for i in batch + one_request)
    served = [a - b for a, b in zip((_successes(u) for u in replicas.urls), before, strict=True)]
    assert min(served) >= 1, served  # the router spread the requests over both replicas


LOAD = 2000


@pytest.mark.slow
def test_2000_requests_with_a_replica_killed_midway_all_complete(
    replicas: Replicas, client: VLLMClient, wire: Wire
) -> None:
    """Issue #8's load test: 2,000 requests (one per prompt) through the pool; replica b is
    SIGKILLed once 1,000 have finished. Every request completes (the ones in flight on b and
    every later one move to a), each exactly once, in input order, none an error, each the
    answer of its own prompt."""
    victim = replicas.b
    assert victim.pid is not None
    killed = threading.Event()
    done_at_kill: list[int] = []
    before_a = _successes(replicas.a.base_url or "")

    def progress(done: int, total: int) -> None:
        if done >= LOAD // 2 and not killed.is_set():
            killed.set()
            done_at_kill.append(done)
            os.killpg(victim.pid, signal.SIGKILL)  # a crash, not a graceful stop

    prompts = _short(LOAD)
    started = time.monotonic()
    items = client.process_batch(prompts, max_concurrency=32, progress=progress, **LOAD_GEN)
    elapsed = time.monotonic() - started
    print(f"\n[pool] {LOAD} requests, b killed after {done_at_kill}: {elapsed:.1f} s",
          file=sys.stderr)
    assert killed.is_set()
    assert done_at_kill[0] < LOAD  # killed midway, not after the end
    assert len(items) == LOAD
    _assert_own_answers(items, prompts)
    assert client.pool is not None
    stats = client.pool.stats()
    assert stats["b"].state == "open"
    assert stats["b"].last_error
    assert client.stats().total_retries >= 1  # requests in flight on b moved to a
    # Replica a really answered the second half (its own counter, not the client's view).
    assert _successes(replicas.a.base_url or "") - before_a >= LOAD - done_at_kill[0]
    assert client.chat("Still there?", **GEN).text
    wire.assert_own_keys_only(replicas)

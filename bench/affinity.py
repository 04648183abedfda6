"""Prefix-affinity routing on two replicas: prefix-cache hit rate and time to first token.

``CONVERSATIONS`` conversations run at once, each ``TURNS`` turns one after the other (every
turn resends the whole conversation, as a chat application does), each with its own system
prompt of ~``SYSTEM_WORDS`` words. Arms: the pool's default :class:`LeastOutstanding`,
:class:`PrefixAffinity`, and LiteLLM's ``Router`` (``simple-shuffle``) when LiteLLM is installed.
The two vLLM policies choose exactly as ``EndpointPool.acquire`` does (the same policy objects,
``choose_for`` with the request's ``request_key``, the in-flight counts of this run), so the
cell measures the placement, not the client's wiring. Every arm salts its prompts so that no
arm finds another's blocks in the cache.

Per replica: ``vllm:prefix_cache_hits_total`` / ``vllm:prefix_cache_queries_total`` (tokens)
from ``/metrics`` before and after the arm; TTFT: first streamed content chunk, p50 over all
turns after the first (the first turn of a conversation has nothing to hit).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

MODEL = "smollm2"
CONVERSATIONS = 8
TURNS = 4
SYSTEM_WORDS = 150
MAX_TOKENS = 8
WORDS = ("river", "engine", "ledger", "harbour", "violet", "signal", "meadow", "copper",
         "lantern", "orbit", "quarry", "saddle", "timber", "velvet", "walnut", "zephyr")


@dataclass
class Replica:
    name: str
    weight: float = 1.0
    outstanding: int = 0

    def serves(self, model: str) -> bool | None:
        return True


def _system(salt: str, i: int) -> str:
    rnd = random.Random(f"{salt}-{i}")
    words = " ".join(rnd.choice(WORDS) for _ in range(SYSTEM_WORDS))
    return f"[{salt}-{i}] You are assistant number {i}. Remember these words: {words}."


async def _stream_ttft(client: Any, url: str, messages: list[dict[str, str]]) -> tuple[float, str]:
    body = {"model": MODEL, "messages": messages, "max_tokens": MAX_TOKENS, "stream": True}
    t0, ttft, text = time.perf_counter(), None, []
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line[6:] == "[DONE]":
                continue
            delta = (json.loads(line[6:])["choices"] or [{}])[0].get("delta", {})
            if delta.get("content"):
                ttft = ttft or time.perf_counter() - t0
                text.append(delta["content"])
    return (ttft if ttft is not None else time.perf_counter() - t0), "".join(text)


Send = Callable[[list[dict[str, str]]], Awaitable[tuple[float, str]]]


def _policy_sender(client: Any, replicas: list[Replica], policy: Any) -> Send:
    from vllm_accel._affinity import choose_for, request_key

    async def send(messages: list[dict[str, str]]) -> tuple[float, str]:
        chosen = choose_for(policy, replicas, MODEL,
                            request_key(policy, {"model": MODEL, "messages": messages}))
        chosen.outstanding += 1
        try:
            return await _stream_ttft(client, chosen.name, messages)
        finally:
            chosen.outstanding -= 1

    return send


def _router_sender(urls: list[str]) -> Send:
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from litellm import Router

    router = Router(model_list=[{"model_name": MODEL, "litellm_params": {
        "model": f"hosted_vllm/{MODEL}", "api_base": u + "/v1", "api_key": "bench-key"}}
        for u in urls], routing_strategy="simple-shuffle")

    async def send(messages: list[dict[str, str]]) -> tuple[float, str]:
        t0, ttft, text = time.perf_counter(), None, []
        chunks = await router.acompletion(model=MODEL, messages=messages,
                                          max_tokens=MAX_TOKENS, stream=True)
        async for chunk in chunks:
            content = chunk.choices[0].delta.content if chunk.choices else None
            if content:
                ttft = ttft or time.perf_counter() - t0
                text.append(content)
        return (ttft if ttft is not None else time.perf_counter() - t0), "".join(text)

    return send


async def _conversation(send: Send, system: str, i: int) -> list[float]:
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": f"Hello, I am user {i}. Name one word you remember."}]
    ttfts = []
    for turn in range(TURNS):
        ttft, text = await send(messages)
        ttfts.append(ttft)
        messages += [{"role": "assistant", "content": text or "..."},
                     {"role": "user", "content": f"Thanks. Another word, please ({turn})."}]
    return ttfts


def _cache(urls: list[str]) -> dict[str, tuple[float, float]]:
    import httpx

    from vllm_accel._metrics import parse_metrics

    out = {}
    for u in urls:
        snap = parse_metrics(httpx.get(u + "/metrics", timeout=30).text)
        out[u] = (snap.total("vllm:prefix_cache_hits_total"),
                  snap.total("vllm:prefix_cache_queries_total"))
    return out


async def _arm(urls: list[str], name: str) -> dict[str, Any]:
    import httpx

    from vllm_accel import LeastOutstanding, LoRAAware
    from vllm_accel._affinity import PrefixAffinity

    salt = uuid.uuid4().hex[:8]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=600.0, limits=limits) as client:
        replicas = [Replica(u) for u in urls]
        if name == "litellm_router":
            send = _router_sender(urls)
        else:
            inner = PrefixAffinity() if name == "affinity" else LeastOutstanding()
            send = _policy_sender(client, replicas, LoRAAware(inner))
        before = await asyncio.to_thread(_cache, urls)
        t0 = time.perf_counter()
        ttfts = await asyncio.gather(*(_conversation(send, _system(salt, i), i)
                                       for i in range(CONVERSATIONS)))
        secs = time.perf_counter() - t0
        after = await asyncio.to_thread(_cache, urls)
    return _arm_result(urls, before, after, ttfts, secs)


def _arm_result(urls: list[str], before: dict[str, tuple[float, float]],
                after: dict[str, tuple[float, float]], ttfts: list[list[float]],
                secs: float) -> dict[str, Any]:
    per: dict[str, Any] = {}
    hits = queries = 0.0
    for u in urls:
        h, q = after[u][0] - before[u][0], after[u][1] - before[u][1]
        per[u] = {"hits": h, "queries": q, "hit_rate": h / q if q else None}
        hits, queries = hits + h, queries + q
    later = [t for conv in ttfts for t in conv[1:]]
    return {"replicas": per, "hit_rate": hits / queries if queries else None,
            "ttft_p50_s": statistics.median(later), "ttft_first_turn_p50_s":
            statistics.median(conv[0] for conv in ttfts), "seconds": secs}


def _same_server(urls: list[str]) -> bool:
    import httpx

    first = [httpx.get(u + "/metrics", timeout=30).text for u in urls]
    starts = [[ln for ln in t.splitlines() if ln.startswith("process_start_time_seconds")]
              for t in first]
    return len(urls) > 1 and all(s == starts[0] for s in starts)


def run(urls: list[str], reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    """``reps`` repetitions of every arm, in alternating order."""
    import os

    arms = ["least_outstanding", "affinity"]
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    try:
        import litellm  # noqa: F401

        arms.append("litellm_router")
    except ImportError:
        pass
    same = _same_server(urls)
    results: dict[str, list[dict[str, Any]]] = {a: [] for a in arms}
    for rep in range(reps):
        order = arms if rep % 2 == 0 else arms[::-1]
        for arm in order:
            got = asyncio.run(_arm(urls, arm))
            results[arm].append(got)
            log(f"  affinity rep {rep + 1} {arm}: hit rate {got['hit_rate']!r:.6}, "
                f"TTFT p50 {got['ttft_p50_s']:.3f} s, {got['seconds']:.1f} s")
    return {"urls": urls, "same_server": same, "conversations": CONVERSATIONS, "turns": TURNS,
            "system_words": SYSTEM_WORDS, "max_tokens": MAX_TOKENS, "reps": reps,
            "arms": {a: _median_arm(r) for a, r in results.items()}}


def _median_arm(reps: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["hit_rate"] for r in reps if r["hit_rate"] is not None]
    return {"hit_rate": statistics.median(rates) if rates else None,
            "ttft_p50_s": statistics.median(r["ttft_p50_s"] for r in reps),
            "ttft_first_turn_p50_s": statistics.median(r["ttft_first_turn_p50_s"] for r in reps),
            "replicas": reps[-1]["replicas"], "per_rep": reps}

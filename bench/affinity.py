"""Prefix-affinity routing on two replicas: prefix-cache hit rate and time to first token.

Each conversation starts with its own long history (``HISTORY_WORDS`` words that no other
conversation shares, no system prompt) and runs ``TURNS`` turns one after the other (every turn
resends the whole conversation, as a chat application does). The conversations start at random
moments within ``START_SPREAD_S`` and their user waits ``THINK_S`` (random, per turn) before the
next turn, as people do; so when a turn arrives the replicas' in-flight counts come from the
other conversations, and least-outstanding has to choose. (Without think time every turn is
sent the moment the previous answer frees a slot on its own replica, so least-outstanding
keeps ~90% of later turns on the previous turn's replica by construction: measured at
e3768ab, 91%.)

The cell is sized from the replicas' KV cache (``kv_cache_size_tokens`` of
``vllm:cache_config_info``, the smaller of the two): ``SPILL`` times what one replica holds, so a
policy that spreads a conversation's turns over both replicas makes each cache hold every
conversation (it cannot: blocks are evicted and later turns miss), while keeping each
conversation on one replica needs only about half of that per replica. ``make bench`` starts
its two replicas with ``SERVER_KV_BYTES`` of KV cache (instead of the default 1 GiB, 46,592
tokens) and one core each (``bench/servers.py``), so the cell spills with few, short
conversations and an arm takes about a minute.
Arms: the pool's default
:class:`LeastOutstanding`, :class:`PrefixAffinity`, and LiteLLM's ``Router``
(``simple-shuffle``) when LiteLLM is installed. The two vLLM policies choose exactly as
``EndpointPool.acquire`` does (the same policy objects, ``choose_for`` with the request's
``request_key``, the in-flight counts of this run), so the cell measures the placement, not the
client's wiring. Every arm salts its prompts so that no arm finds another's blocks in the cache.

Per replica: ``vllm:prefix_cache_hits_total`` / ``vllm:prefix_cache_queries_total`` (tokens)
from ``/metrics`` before and after the arm; TTFT: first streamed content chunk, p50 over all
turns after the first (the first turn of a conversation has nothing to hit). For the vLLM
policies the share of later turns placed on the replica of the conversation's previous turn
is reported too (the placement behind the hit rate).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

MODEL = "smollm2"
TURNS = 3
HISTORY_WORDS = 400
SPILL = 1.3
"""The conversations' tokens (at their last turn) over one replica's KV cache."""
MAX_CONVERSATIONS = 96
MAX_TOKENS = 8
START_SPREAD_S = 3.0
THINK_S = (0.5, 2.5)
"""The user's pause before the next turn: uniform in this range (seconds), seeded per turn."""
KV_BLOCK_BYTES = 128 * 30 * 2 * 3 * 64 * 2
"""One KV block of SmolLM2-135M: 128 tokens x 30 layers x (K, V) x 3 KV heads x 64 x 2 bytes
(vLLM's 1 GiB default is 364 blocks, 46,592 tokens, as ``/metrics`` reports)."""
SERVER_KV_BLOCKS = 112
"""The affinity replicas' KV cache in ``make bench``: 112 blocks (14,336 tokens). Measured with
144 blocks and ``SPILL`` 1.4 (42 conversations of ~618 tokens): 67, 54 and 87 s for the three
arms with each replica on about half a core (load 13-16); 112 blocks and 1.3 make the cell
~28% smaller (~30 conversations)."""
SERVER_KV_BYTES = SERVER_KV_BLOCKS * KV_BLOCK_BYTES + KV_BLOCK_BYTES // 2
WORDS = ("river", "engine", "ledger", "harbour", "violet", "signal", "meadow", "copper",
         "lantern", "orbit", "quarry", "saddle", "timber", "velvet", "walnut", "zephyr")
KV = re.compile(r'^vllm:cache_config_info\{[^}]*kv_cache_size_tokens="(\d+)"', re.M)


@dataclass
class Replica:
    name: str
    weight: float = 1.0
    outstanding: int = 0

    def serves(self, model: str) -> bool | None:
        return True


def _history(salt: str, i: int) -> str:
    rnd = random.Random(f"{salt}-{i}")
    words = " ".join(rnd.choice(WORDS) for _ in range(HISTORY_WORDS))
    return f"[{salt}-{i}] I am user {i}. Here are my notes: {words}. Name one word of my notes."


def kv_cache_tokens(urls: list[str]) -> int | None:
    """The smallest KV cache (tokens) of the replicas, from ``vllm:cache_config_info``."""
    import httpx

    sizes = []
    for u in urls:
        found = KV.search(httpx.get(u + "/metrics", timeout=30).text)
        if found:
            sizes.append(int(found.group(1)))
    return min(sizes) if len(sizes) == len(urls) else None


def conversation_tokens(url: str) -> int:
    """Tokens of one conversation at its last turn (its templated history, via ``/tokenize``,
    plus ``TURNS`` answers and follow-ups)."""
    import httpx

    messages = [{"role": "user", "content": _history("calibrate", 0)}]
    r = httpx.post(url + "/tokenize", json={"model": MODEL, "messages": messages}, timeout=60)
    r.raise_for_status()
    return int(r.json()["count"]) + TURNS * (MAX_TOKENS + 24)


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


def _policy_sender(client: Any, replicas: list[Replica], policy: Any,
                   placed: dict[str, list[str]]) -> Send:
    from vllm_accel._affinity import choose_for, request_key

    async def send(messages: list[dict[str, str]]) -> tuple[float, str]:
        chosen = choose_for(policy, replicas, MODEL,
                            request_key(policy, {"model": MODEL, "messages": messages}))
        placed.setdefault(messages[0]["content"][:24], []).append(chosen.name)
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


async def _conversation(send: Send, history: str) -> list[float]:
    rnd = random.Random(history[:32])
    await asyncio.sleep(rnd.uniform(0.0, START_SPREAD_S))
    messages = [{"role": "user", "content": history}]
    ttfts = []
    for turn in range(TURNS):
        if turn:
            await asyncio.sleep(rnd.uniform(*THINK_S))
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


async def _arm(urls: list[str], name: str, conversations: int) -> dict[str, Any]:
    import httpx

    from vllm_accel import LeastOutstanding, LoRAAware
    from vllm_accel._affinity import PrefixAffinity

    salt = uuid.uuid4().hex[:8]
    placed: dict[str, list[str]] = {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=600.0, limits=limits) as client:
        replicas = [Replica(u) for u in urls]
        if name == "litellm_router":
            send = _router_sender(urls)
        else:
            inner = PrefixAffinity() if name == "affinity" else LeastOutstanding()
            send = _policy_sender(client, replicas, LoRAAware(inner), placed)
        first = await _first_turn_tokens(client, urls[0], salt, conversations)
        before = await asyncio.to_thread(_cache, urls)
        t0 = time.perf_counter()
        ttfts = await asyncio.gather(*(_conversation(send, _history(salt, i))
                                       for i in range(conversations)))
        secs = time.perf_counter() - t0
        after = await asyncio.to_thread(_cache, urls)
    result = _arm_result(urls, before, after, ttfts, secs)
    return result | {"same_replica_share": same_share(placed), "first_turn_tokens": first,
                     "later_turns_hit_rate": later_hit_rate(result, first)}


async def _first_turn_tokens(client: Any, url: str, salt: str, conversations: int) -> int:
    """Prompt tokens of every conversation's first turn (``/tokenize``, before the arm): the
    queries no cache can hit (every history is new), taken out for the later turns' rate."""
    async def one(i: int) -> int:
        r = await client.post(url + "/tokenize", json={
            "model": MODEL, "messages": [{"role": "user", "content": _history(salt, i)}]})
        r.raise_for_status()
        return int(r.json()["count"])

    return sum(await asyncio.gather(*(one(i) for i in range(conversations))))


def later_hit_rate(result: dict[str, Any], first_turn_tokens: int) -> float | None:
    """Hits over the later turns' queries: every replica's queries less the first turns'
    prompt tokens (which cannot hit). The whole-arm rate is diluted by them: with three turns
    its ceiling is about two thirds whatever the policy."""
    hits = sum(r["hits"] for r in result["replicas"].values())
    queries = sum(r["queries"] for r in result["replicas"].values()) - first_turn_tokens
    return hits / queries if queries > 0 else None


def same_share(placed: dict[str, list[str]]) -> float | None:
    """The share of later turns placed on the replica of the conversation's previous turn."""
    pairs = [(a, b) for names in placed.values() for a, b in zip(names, names[1:], strict=False)]
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None


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


def arms() -> list[str]:
    """The cell's arms: the two vLLM policies, and LiteLLM's Router when it is installed."""
    import importlib.util

    found = importlib.util.find_spec("litellm") is not None
    return ["least_outstanding", "affinity"] + (["litellm_router"] if found else [])


def run(urls: list[str], reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    """``reps`` repetitions of every arm, in alternating order, on a cell sized to spill."""
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    every = arms()
    same = _same_server(urls)
    kv = kv_cache_tokens(urls)
    per_conv = conversation_tokens(urls[0])
    conversations = min(MAX_CONVERSATIONS, math.ceil(SPILL * (kv or 46_592) / per_conv))
    log(f"  affinity cell: {conversations} conversations of ~{per_conv} tokens "
        f"({conversations * per_conv} in all) over replicas of {kv} KV-cache tokens each")
    results: dict[str, list[dict[str, Any]]] = {a: [] for a in every}
    for rep in range(reps):
        order = every if rep % 2 == 0 else every[::-1]
        for arm in order:
            got = asyncio.run(_arm(urls, arm, conversations))
            results[arm].append(got)
            log(f"  affinity rep {rep + 1} {arm}: hit rate {got['hit_rate']!r:.6} (later turns"
                f" {got['later_turns_hit_rate']!r:.6}), "
                f"TTFT p50 {got['ttft_p50_s']:.3f} s, same replica "
                f"{got['same_replica_share']!r:.4}, {got['seconds']:.1f} s")
    return {"urls": urls, "same_server": same, "conversations": conversations, "turns": TURNS,
            "history_words": HISTORY_WORDS, "conversation_tokens": per_conv,
            "kv_cache_tokens": kv, "spill": SPILL, "system_words": 0,
            "think_s": list(THINK_S), "start_spread_s": START_SPREAD_S,
            "max_tokens": MAX_TOKENS, "reps": reps,
            "arms": {a: _median_arm(r) for a, r in results.items()}}


def _median_arm(reps: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["hit_rate"] for r in reps if r["hit_rate"] is not None]
    shares = [r["same_replica_share"] for r in reps if r["same_replica_share"] is not None]
    later = [r["later_turns_hit_rate"] for r in reps if r.get("later_turns_hit_rate") is not None]
    return {"hit_rate": statistics.median(rates) if rates else None,
            "later_turns_hit_rate": statistics.median(later) if later else None,
            "ttft_p50_s": statistics.median(r["ttft_p50_s"] for r in reps),
            "ttft_first_turn_p50_s": statistics.median(r["ttft_first_turn_p50_s"] for r in reps),
            "same_replica_share": statistics.median(shares) if shares else None,
            "replicas": reps[-1]["replicas"], "per_rep": reps}

"""Client overhead per request and per streamed chunk, against the zero-cost responder.

Method: every client of one kind (sync or async) is built once per answer length, warmed up, then
measured in rounds. In each round every client runs, in a fresh random order, ``K`` non-streamed
requests and ``K`` streams of ``N1`` and of ``N2`` tokens. A client's figure for a round is the
mean time per call; its ratio for the round is that time over the floor's (raw httpx) in the same
round, which cancels most of the drift a shared machine adds. Reported: medians over rounds.

Per chunk = ``(t(N2) - t(N1)) / (N2 - N1)``: the slope, so the request's fixed cost drops out.
Overhead of a client = its time minus the floor's (the cost the client adds on top of HTTP).

What remains, measured (cProfile call counts per non-streamed request on the responder, which
the machine's load does not move; branch cost6): raw httpx 1,642 Python calls sync / 2,617
async; ``VLLMClient`` 1,658 (+16; was +116 before ``guard`` counted identity bodies in place and
``_call`` memoized the route) and ``AsyncVLLMClient`` +21. Above their framework floors
(``floor_langchain.py`` 2,034 / 3,289, ``floor_llamaindex.py`` 1,907 / 2,897) ``ChatVLLM`` adds
+262 sync / +269 async (was +393 async: the async client lookup swept every cached event loop
per request) and LlamaIndex ``VLLM`` +187 / +194 (was +318 async). Sync and async wrappers now
add the same work. The floor ratio (``overhead_above_floor_vs_core``) stays far above 1.2: its
denominator, the core's own excess over httpx, is ~20 calls, and what a wrapper adds over its
floor is NOT the framework's bookkeeping (the floor pays that too: counted per package by
``bench/callprofile.py`` in every run, ``ChatVLLM`` makes no more ``langchain_core`` calls than
its floor) but the wrapper's own work in ``langchain_vllm_accel``/``llamaindex_vllm_accel``,
the core call, and the builtins they call: the parameter merge, the adapter scope, the richer
result (usage and response metadata, tool calls). The run prints those counts.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from .clients import SPECS, Client, Spec

REQUEST_TOKENS = 16
N1, N2 = 8, 264


class Plan:
    def __init__(self, rounds: int, k_req: int, k_short: int, k_long: int, warmup: int) -> None:
        self.rounds, self.k_req, self.k_short, self.k_long, self.warmup = (
            rounds, k_req, k_short, k_long, warmup)


FULL = Plan(rounds=5, k_req=40, k_short=12, k_long=4, warmup=15)
"""Five interleaved rounds (was ten, then seven: 108 s for both kinds): medians of per-round
ratios. Each round already holds 40 requests and 16 streams per client, so the per-round ratios
are medians of many calls; five rounds (~75 s) keep three throughput repetitions inside
``make bench``'s 20 minutes."""
QUICK = Plan(rounds=5, k_req=10, k_short=4, k_long=2, warmup=5)


def _build(spec: Spec, base: str) -> dict[str, Client]:
    return {"req": spec.build(base, REQUEST_TOKENS), "s1": spec.build(base, N1),
            "s2": spec.build(base, N2)}


def _check(spec: Spec, n: Any, tokens: int) -> None:
    # A streamed answer of `tokens` tokens has at least that many items (plus role/finish/usage).
    if not isinstance(n, int) or n < tokens:
        raise RuntimeError(f"{spec.label}: stream of {tokens} tokens yielded {n} items")


CPU: dict[str, list[float]] = {}
"""spec name/kind -> client CPU seconds per 1,000 non-streamed requests, one value per round."""


def _timed_sync(fn: Callable[[], Any], k: int, cpu_key: str | None = None) -> float:
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(k):
        fn()
    if cpu_key:
        CPU.setdefault(cpu_key, []).append((time.process_time() - c0) * 1000 / k)
    return (time.perf_counter() - t0) / k


async def _timed_async(fn: Callable[[], Any], k: int, cpu_key: str | None = None) -> float:
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(k):
        await fn()
    if cpu_key:
        CPU.setdefault(cpu_key, []).append((time.process_time() - c0) * 1000 / k)
    return (time.perf_counter() - t0) / k


def _run_sync(specs: list[Spec], base: str, plan: Plan) -> dict[str, dict[str, list[float]]]:
    built = {s.name: _build(s, base) for s in specs}
    for s in specs:
        c = built[s.name]
        for _ in range(plan.warmup):
            c["req"].call()
        for _ in range(max(1, plan.warmup // 5)):
            _check(s, c["s1"].stream(), N1)
            _check(s, c["s2"].stream(), N2)
    times: dict[str, dict[str, list[float]]] = {s.name: {"req": [], "s1": [], "s2": []}
                                                for s in specs}
    order = list(specs)
    for _ in range(plan.rounds):
        random.shuffle(order)
        for s in order:
            c = built[s.name]
            gc.collect()
            times[s.name]["req"].append(_timed_sync(c["req"].call, plan.k_req,
                                                    f"{s.name}/sync"))
            times[s.name]["s1"].append(_timed_sync(c["s1"].stream, plan.k_short))
            times[s.name]["s2"].append(_timed_sync(c["s2"].stream, plan.k_long))
    for c3 in built.values():
        for c in c3.values():
            c.close()
    return times


async def _run_async(specs: list[Spec], base: str, plan: Plan) -> dict[str, dict[str, list[float]]]:
    built = {s.name: _build(s, base) for s in specs}
    for s in specs:
        c = built[s.name]
        for _ in range(plan.warmup):
            await c["req"].call()
        for _ in range(max(1, plan.warmup // 5)):
            _check(s, await c["s1"].stream(), N1)
            _check(s, await c["s2"].stream(), N2)
    times: dict[str, dict[str, list[float]]] = {s.name: {"req": [], "s1": [], "s2": []}
                                                for s in specs}
    order = list(specs)
    for _ in range(plan.rounds):
        random.shuffle(order)
        for s in order:
            c = built[s.name]
            gc.collect()
            times[s.name]["req"].append(await _timed_async(c["req"].call, plan.k_req,
                                                           f"{s.name}/async"))
            times[s.name]["s1"].append(await _timed_async(c["s1"].stream, plan.k_short))
            times[s.name]["s2"].append(await _timed_async(c["s2"].stream, plan.k_long))
    for c3 in built.values():
        for c in c3.values():
            result = c.close()
            if asyncio.iscoroutine(result):
                await result
    return times


def _vs_floor(specs: list[Spec], times: dict[str, dict[str, list[float]]],
              out: dict[str, Any]) -> None:
    """A wrapper's cost above its framework floor over the core's cost above raw httpx.

    Medians of the per-round differences, then their ratio (a per-round ratio explodes when the
    core's excess is near zero in one round). None when the core adds nothing measurable.
    """
    floor, core = times["httpx"]["req"], times.get("core", {}).get("req")
    if core is None:
        return
    core_excess = statistics.median(c - h for c, h in zip(core, floor, strict=True))
    for s in specs:
        if s.floor is None or s.floor not in times:
            continue
        own, base = times[s.name]["req"], times[s.floor]["req"]
        excess = statistics.median(w - f for w, f in zip(own, base, strict=True))
        out[s.name]["above_floor_us"] = excess * 1e6
        out[s.name]["core_above_httpx_us"] = core_excess * 1e6
        out[s.name]["overhead_above_floor_vs_core"] = (
            excess / core_excess if core_excess > 0 else None)
        out[s.name]["floor_us"] = statistics.median(base) * 1e6


def _summarize(specs: list[Spec], times: dict[str, dict[str, list[float]]],
               kind: str = "sync") -> dict[str, Any]:
    floor = times["httpx"]
    slope_floor = [(b - a) / (N2 - N1) for a, b in zip(floor["s1"], floor["s2"], strict=True)]
    out: dict[str, Any] = {}
    for s in specs:
        t = times[s.name]
        slope = [(b - a) / (N2 - N1) for a, b in zip(t["s1"], t["s2"], strict=True)]
        out[s.name] = {
            "label": s.label, "family": s.family, "peer": s.peer,
            "request_us": statistics.median(t["req"]) * 1e6,
            "request_excess_us": statistics.median(
                [(x - f) * 1e6 for x, f in zip(t["req"], floor["req"], strict=True)]),
            "request_ratio": statistics.median(
                [x / f for x, f in zip(t["req"], floor["req"], strict=True)]),
            "stream_short_us": statistics.median(t["s1"]) * 1e6,
            "stream_long_us": statistics.median(t["s2"]) * 1e6,
            "chunk_us": statistics.median(slope) * 1e6,
            "chunk_excess_us": statistics.median(
                [(x - f) * 1e6 for x, f in zip(slope, slope_floor, strict=True)]),
            "chunk_ratio": statistics.median(
                [x / f for x, f in zip(slope, slope_floor, strict=True)]),
            "rounds": len(t["req"]),
            "cpu_s_per_1k": statistics.median(CPU.get(f"{s.name}/{kind}") or [float("nan")]),
        }
    # Integrations against their anchors, per round as well.
    for s in specs:
        if s.peer is None:
            continue
        t, p = times[s.name], times[s.peer]
        ex = [(x - f) / (y - f) if y > f else float("inf")
              for x, y, f in zip(t["req"], p["req"], floor["req"], strict=True)]
        sl = [((b - a) / ((d - c) or 1e-12))
              for a, b, c, d in zip(t["s1"], t["s2"], p["s1"], p["s2"], strict=True)]
        out[s.name]["request_overhead_vs_peer"] = statistics.median(ex)
        out[s.name]["chunk_vs_peer"] = statistics.median(sl)
    _vs_floor(specs, times, out)
    return out


def run(base: str, plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    result: dict[str, Any] = {"plan": vars(plan) | {"request_tokens": REQUEST_TOKENS,
                                                    "n1": N1, "n2": N2}}
    for kind in ("sync", "async"):
        specs = [s for s in SPECS if s.kind == kind]
        t0 = time.perf_counter()
        if kind == "sync":
            times = _run_sync(specs, base, plan)
        else:
            times = asyncio.run(_run_async(specs, base, plan))
        result[kind] = _summarize(specs, times, kind)
        log(f"overhead {kind}: {time.perf_counter() - t0:.0f} s")
        for name, r in result[kind].items():
            log(f"  {r['label']:<32} req {r['request_us']:8.0f} us x{r['request_ratio']:5.2f}"
                f" cpu {r['cpu_s_per_1k']:5.2f} s/1k"
                f"   chunk {r['chunk_us']:7.1f} us x{r['chunk_ratio']:5.2f}"
                + (f"   vs {r['peer']}: overhead x{r['request_overhead_vs_peer']:.2f}"
                   f" chunk x{r['chunk_vs_peer']:.2f}" if r.get("peer") else "")
                if name else "")
    return result

"""Batch throughput on the real embedded vLLM: every batch path against a plain asyncio fan-out.

Every request asks for ``MAX_TOKENS`` tokens with the end tokens banned (``NO_EOS``), so every
prompt generates the same number of tokens and tokens/s is ``prompts * MAX_TOKENS / wall time``
for every path (the ceiling's own usage numbers check that). Each repetition runs every path
once per batch size in a fresh random order; a path's ratio is its throughput over the
ceiling's in the same repetition, and the reported figure is the median over repetitions.

The sequential loop (``OpenAILike`` called prompt after prompt) is no target and runs only when
named (``--paths``): once per repetition, on the first ``LOOP_CAP`` prompts of the smallest batch.

Around every run the chat server's ``/metrics`` histograms are read (outside the timing): the
per-request means of queue time, prefill and end-to-end latency that the engine saw, and
``gap_s``, the wall time minus the mean end-to-end latency (time the requests spent outside the
engine: the client, HTTP and the server's chat-template rendering). They are the measured
cause reported next to a missed target.

Next to each wall-clock figure: the client's CPU seconds per 1,000 prompts (``process_time`` of
this process, every thread; vLLM runs in its own processes). Paths carry the target of issue
#16 they answer to: ``batch`` (a chat batch, at least 1.15x the ceiling at 64 and 128 prompts
once it goes out as one request) or ``fanout`` (must fan out, at least 0.98x at every size);
the pool rows (``VLLMClient(endpoints=[url])``) fan out by design.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import phases as phases_mod
from .anchors import (
    chatopenai_batch,
    litellm_gather,
    litellm_router_gather,
    openailike_gather,
    openailike_loop,
)
from .settings import EXTRA, FANOUT_EXTRA, LOOP_CAP, MAX_TOKENS, MODEL, NO_EOS

__all__ = ["EXTRA", "FANOUT_EXTRA", "LOOP_CAP", "MAX_TOKENS", "MODEL", "NO_EOS", "PATHS", "Path",
           "ceiling", "prompts", "run"]


def prompts(n: int) -> list[str]:
    return [f"Write one sentence about the number {i}." for i in range(n)]


# -- the ceiling --------------------------------------------------------------------------------

async def _fan_out(base: str, items: list[str]) -> int:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=600.0, limits=limits) as client:
        async def one(p: str) -> int:
            r = await client.post(base + "/v1/chat/completions", json={
                "model": MODEL, "messages": [{"role": "user", "content": p}],
                "max_tokens": MAX_TOKENS, **EXTRA})
            r.raise_for_status()
            return int(r.json()["usage"]["completion_tokens"])

        return sum(await asyncio.gather(*(one(p) for p in items)))


def ceiling(base: str, items: list[str]) -> int:
    return asyncio.run(_fan_out(base, items))


# -- this package -------------------------------------------------------------------------------

def _check_items(items: list[Any]) -> None:
    failed = [i for i in items if not i.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} items failed: {failed[0].error!r}")


def core_batch_chat(base: str, items: list[str]) -> None:
    from vllm_accel import VLLMClient

    with VLLMClient(base, model=MODEL) as client:
        _check_items(client.process_batch(items, mode="chat", max_tokens=MAX_TOKENS, **EXTRA))


def core_abatch_chat(base: str, items: list[str]) -> None:
    from vllm_accel import AsyncVLLMClient

    async def go() -> None:
        async with AsyncVLLMClient(base, model=MODEL) as client:
            _check_items(await client.process_batch(items, mode="chat", max_tokens=MAX_TOKENS,
                                                    **EXTRA))

    asyncio.run(go())


def core_batch_completions(base: str, items: list[str]) -> None:
    from vllm_accel import VLLMClient

    with VLLMClient(base, model=MODEL) as client:
        _check_items(client.process_batch(items, max_tokens=MAX_TOKENS, **EXTRA))


def chatvllm_batch(base: str, items: list[str]) -> None:
    from langchain_vllm_accel import ChatVLLM

    ChatVLLM(model=MODEL, base_url=base, max_tokens=MAX_TOKENS, **EXTRA).batch(items)


def chatvllm_abatch(base: str, items: list[str]) -> None:
    from langchain_vllm_accel import ChatVLLM

    model = ChatVLLM(model=MODEL, base_url=base, max_tokens=MAX_TOKENS, **EXTRA)
    asyncio.run(model.abatch(items))


def li_vllm_batch(base: str, items: list[str]) -> None:
    from llamaindex_vllm_accel import VLLM

    VLLM(base_url=base, model=MODEL, max_tokens=MAX_TOKENS).batch_complete(items, **EXTRA)


def li_vllm_abatch(base: str, items: list[str]) -> None:
    from llamaindex_vllm_accel import VLLM

    llm = VLLM(base_url=base, model=MODEL, max_tokens=MAX_TOKENS)
    asyncio.run(llm.abatch_complete(items, **EXTRA))


def core_pool_batch(base: str, items: list[str]) -> None:
    from vllm_accel import VLLMClient

    with VLLMClient(endpoints=[base], model=MODEL) as client:
        _check_items(client.process_batch(items, mode="chat", max_tokens=MAX_TOKENS,
                                          **FANOUT_EXTRA))


def core_pool_abatch(base: str, items: list[str]) -> None:
    from vllm_accel import AsyncVLLMClient

    async def go() -> None:
        async with AsyncVLLMClient(endpoints=[base], model=MODEL) as client:
            _check_items(await client.process_batch(items, mode="chat", max_tokens=MAX_TOKENS,
                                                    **FANOUT_EXTRA))

    asyncio.run(go())


Sample = tuple[float, int, float, dict[str, float]]
"""Seconds, tokens, client CPU s per 1,000 prompts, the engine's phases."""


@dataclass(frozen=True)
class Path:
    name: str
    label: str
    family: str
    run: Callable[[str, list[str]], Any]
    cap: int | None = None
    target: str | None = None
    """``batch``: a chat batch (>= 1.15x at 64 and 128); ``fanout``: must fan out (>= 0.98x)."""
    default: bool = True
    """False: runs only when named (``--paths``), to keep ``make bench`` within its budget."""


PATHS = [
    Path("fanout", "asyncio fan-out, raw httpx (ceiling)", "ceiling", ceiling),
    Path("chatopenai_batch", "ChatOpenAI.batch", "anchor", chatopenai_batch),
    Path("openailike_loop", "OpenAILike, loop", "anchor", openailike_loop, LOOP_CAP,
         default=False),
    Path("openailike_gather", "OpenAILike, asyncio.gather", "anchor", openailike_gather),
    Path("litellm_gather", "litellm.acompletion (hosted_vllm/), asyncio.gather", "anchor",
         litellm_gather),
    Path("litellm_router_gather", "litellm Router (one deployment), asyncio.gather", "anchor",
         litellm_router_gather, default=False),
    Path("process_batch", "VLLMClient.process_batch (chat)", "ours", core_batch_chat,
         target="batch"),
    Path("aprocess_batch", "AsyncVLLMClient.process_batch (chat)", "ours", core_abatch_chat,
         target="batch"),
    Path("process_batch_completions", "VLLMClient.process_batch (one completions request)",
         "ours", core_batch_completions),
    Path("pool_batch", "VLLMClient(endpoints=[url]).process_batch (chat, fans out)", "ours",
         core_pool_batch, target="fanout"),
    Path("pool_abatch", "AsyncVLLMClient(endpoints=[url]).process_batch (chat, fans out)",
         "ours", core_pool_abatch, target="fanout"),
    Path("chatvllm_batch", "ChatVLLM.batch", "ours", chatvllm_batch, target="batch"),
    Path("chatvllm_abatch", "ChatVLLM.abatch", "ours", chatvllm_abatch, target="batch"),
    Path("li_batch", "llamaindex VLLM.batch_complete", "ours", li_vllm_batch, target="batch"),
    Path("li_abatch", "llamaindex VLLM.abatch_complete", "ours", li_vllm_abatch,
         target="batch"),
]


def _timed(path: Path, base: str, items: list[str]) -> tuple[float, int, float, dict[str, float]]:
    """Seconds, tokens (from the prompt count; the ceiling's usage is checked), client CPU
    seconds per 1,000 prompts (this process's user + system time, every thread) and the
    engine's phases (:func:`bench.phases.phases`)."""
    run_items = items[: path.cap] if path.cap else items
    before = phases_mod.server_hists(base)
    c0, t0 = time.process_time(), time.perf_counter()
    tokens = path.run(base, run_items)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    expected = len(run_items) * MAX_TOKENS
    if isinstance(tokens, int) and tokens != expected:
        raise RuntimeError(f"end tokens not banned: {tokens} tokens, expected {expected}")
    after = phases_mod.server_hists(base)
    return secs, expected, cpu * 1000 / len(run_items), phases_mod.phases(secs, before, after)


def _estimate(p: Path, n: int, ceil_secs: dict[int, float]) -> float:
    """Seconds ``p`` should take at batch size ``n``, from the ceiling's times of this run."""
    one_wave = min(ceil_secs.values())  # about one request's time: the smallest batch
    if p.cap is not None:
        return p.cap * one_wave
    if p.name == "chatopenai_batch":  # a thread pool of min(32, cpus + 4) workers
        return max(ceil_secs.get(n, one_wave), -(-n // ((os.cpu_count() or 1) + 4)) * one_wave)
    return ceil_secs.get(n, one_wave) * 1.5


def warm_imports() -> None:
    """Import every client before the clock runs (LiteLLM alone takes seconds to import)."""
    import importlib

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    for name in ("vllm_accel", "langchain_vllm_accel", "llamaindex_vllm_accel", "litellm",
                 "langchain_openai", "llama_index.llms.openai_like"):
        with contextlib.suppress(ImportError):  # the path then fails and is reported
            importlib.import_module(name)


def run(base: str, sizes: list[int], reps: int, log: Callable[[str], None],
        budget_s: float = 1e9, only: list[str] | None = None) -> dict[str, Any]:
    """Up to ``reps`` repetitions within ``budget_s`` seconds.

    Sizes run in increasing order, the ceiling first at each size; a path whose estimated time
    (from the ceiling's) would overrun the budget is skipped and reported as not measured, so a
    slow or saturated server shortens the section instead of stalling ``make bench``.
    """
    paths = [p for p in PATHS
             if (p.default if only is None else p.name in only) or p.name == "fanout"]
    sizes = sorted(sizes)
    warm_imports()
    deadline = time.perf_counter() + budget_s
    # Warm-up: the first requests of a fresh server are slow.
    ceiling(base, prompts(8))
    ceiling(base, prompts(8))
    samples: dict[int, dict[str, dict[int, Sample]]] = {
        n: {p.name: {} for p in paths} for n in sizes}
    t_start = time.perf_counter()
    errors: list[str] = []
    skipped: list[str] = []
    ceil_secs: dict[int, float] = {}
    done_reps = 0
    skipped_before = 0
    for rep in range(reps):
        per_rep = (time.perf_counter() - t_start) / rep if rep else 0.0
        if rep and (time.perf_counter() + per_rep > deadline or len(skipped) > skipped_before):
            log(f"throughput: stopping after {rep} repetitions (time budget {budget_s:.0f} s:"
                f" a repetition takes ~{per_rep:.0f} s,"
                f" {deadline - time.perf_counter():.0f} s are left)")
            break
        skipped_before = len(skipped)
        for n in sizes:
            # A sequential loop's rate does not depend on the batch size: run it once per rep.
            rest = [p for p in paths if p.name != "fanout" and (p.cap is None or n == sizes[0])]
            random.shuffle(rest)
            took = []
            for p in [paths[0], *rest]:
                if ceil_secs and time.perf_counter() + _estimate(p, n, ceil_secs) > deadline:
                    skipped.append(f"{p.name} at {n} (rep {rep + 1})")
                    took.append(f"{p.name} skipped")
                    continue
                try:
                    secs, tokens, cpu, phase = _timed(p, base, prompts(n))
                except Exception as exc:  # one broken path must not stop the run
                    errors.append(f"{p.name} at {n}: {type(exc).__name__}: {exc}"[:300])
                    took.append(f"{p.name} ERROR")
                    continue
                if p.name == "fanout":
                    ceil_secs[n] = secs
                samples[n][p.name][rep] = (secs, tokens, cpu, phase)
                took.append(f"{p.name} {secs:.1f}s")
            log(f"  rep {rep + 1} size {n}: " + ", ".join(took))
        done_reps += 1
        log(f"throughput rep {rep + 1}/{reps}: {time.perf_counter() - t_start:.0f} s")
    from vllm_accel._batch import BATCH_CHAT_CHUNK

    result: dict[str, Any] = {"max_tokens": MAX_TOKENS, "loop_cap": LOOP_CAP,
                              "chat_chunk": BATCH_CHAT_CHUNK,
                              "reps": done_reps, "reps_planned": reps, "errors": errors,
                              "skipped": skipped, "budget_s": budget_s}
    result["sizes"] = _summarize(paths, sizes, samples, errors, log)
    for err in errors:
        log(f"  error: {err}")
    return result


def _summarize(paths: list[Path], sizes: list[int],
               samples: dict[int, dict[str, dict[int, Sample]]],
               errors: list[str],
               log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in sizes:
        ceil = {rep: tok / s for rep, (s, tok, _, _) in samples[n]["fanout"].items()}
        entry = {}
        for p in paths:
            got = {rep: v for rep, v in samples[n][p.name].items() if rep in ceil}
            if not got and p.cap is not None and n != sizes[0]:
                continue
            if not got:
                entry[p.name] = {"label": p.label, "family": p.family,
                                 "prompts_run": min(n, p.cap or n),
                                 "error": any(e.startswith(f"{p.name} at {n}:") for e in errors),
                                 "not_measured": True}
                continue
            tps = {rep: tok / s for rep, (s, tok, _, _) in got.items()}
            entry[p.name] = {
                "label": p.label, "family": p.family, "target": p.target,
                "prompts_run": min(n, p.cap or n),
                "tokens_per_s": statistics.median(tps.values()),
                "seconds": statistics.median([s for s, _, _, _ in got.values()]),
                "cpu_s_per_1k": statistics.median([c for _, _, c, _ in got.values()]),
                "phases": phases_mod.median_phases([ph for _, _, _, ph in got.values()]),
                "ratio": statistics.median([t / ceil[rep] for rep, t in tps.items()]),
                "ratios": [t / ceil[rep] for rep, t in tps.items()],
                "reps_ok": len(got),
                "samples_tokens_per_s": list(tps.values()),
            }
        out[str(n)] = entry
        log(f"  batch {n}:")
        for p in paths:
            e = entry.get(p.name)
            if e is None:
                continue
            if e.get("not_measured"):
                log(f"    {p.label:<52} {'failed' if e['error'] else 'not measured (time)'}")
            else:
                log(f"    {p.label:<52} {e['tokens_per_s']:7.1f} tok/s  x{e['ratio']:.2f}"
                    f"  cpu {e['cpu_s_per_1k']:5.1f} s/1k")
    return out

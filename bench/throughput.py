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

MODEL = "smollm2"
MAX_TOKENS = 8
"""Eight answer tokens (was 16, the issue's table 32): every path does the same server work in
the same repetition, so the ratios still compare the clients; fewer tokens make the fixed cost
of each request (the client, HTTP, the server's rendering) a larger share of the wall time, so
the differences between paths are larger than with long answers. Halving the tokens is what
lets three repetitions of every cell fit in ``make bench``'s 20 minutes."""
LOOP_CAP = 8
NO_EOS = {"0": -100.0, "1": -100.0, "2": -100.0}
"""SmolLM2's ``<|endoftext|>``, ``<|im_start|>`` and ``<|im_end|>`` banned: every answer runs to
``max_tokens``. Unlike ``ignore_eos`` (which ``/v1/chat/completions/batch`` drops silently, so a
batch carrying it fans out), ``logit_bias`` is honoured by every route, so the chat batch paths
go out as one request and every path, the ceiling included, does the same work."""
EXTRA: dict[str, Any] = {"logit_bias": NO_EOS}
FANOUT_EXTRA: dict[str, Any] = {**EXTRA, "ignore_eos": True}
"""The pool rows: ``ignore_eos`` (a no-op next to the bias) keeps them off the batch route, so
they measure the fan-out they stand for."""


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


def core_batch_chat_unchunked(base: str, items: list[str]) -> None:
    """``process_batch(mode="chat")`` with every conversation in ONE batch-chat request (the
    chunk size raised for the run): what the chunks are measured against."""
    from vllm_accel import _batch

    chunk = _batch.BATCH_CHAT_CHUNK
    _batch.BATCH_CHAT_CHUNK = 1 << 30
    try:
        core_batch_chat(base, items)
    finally:
        _batch.BATCH_CHAT_CHUNK = chunk


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


# -- the anchors ------------------------------------------------------------------------------

def _chat_openai(base: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=MODEL, base_url=base + "/v1", api_key="bench-key",
                      max_tokens=MAX_TOKENS, extra_body=EXTRA)


def chatopenai_batch(base: str, items: list[str]) -> None:
    _chat_openai(base).batch(items)


def _openai_like(base: str) -> Any:
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(model=MODEL, api_base=base + "/v1", api_key="bench-key",
                      max_tokens=MAX_TOKENS, is_chat_model=True, is_function_calling_model=False,
                      context_window=2048, timeout=600.0,
                      additional_kwargs={"extra_body": EXTRA})


def litellm_gather(base: str, items: list[str]) -> None:
    import litellm

    async def go() -> None:
        await asyncio.gather(*(litellm.acompletion(
            model=f"hosted_vllm/{MODEL}", api_base=base + "/v1", api_key="bench-key",
            messages=[{"role": "user", "content": p}], max_tokens=MAX_TOKENS,
            extra_body=EXTRA) for p in items))

    asyncio.run(go())


def litellm_router_gather(base: str, items: list[str]) -> None:
    from litellm import Router

    router = Router(model_list=[{"model_name": MODEL, "litellm_params": {
        "model": f"hosted_vllm/{MODEL}", "api_base": base + "/v1", "api_key": "bench-key"}}])

    async def go() -> None:
        await asyncio.gather(*(router.acompletion(
            model=MODEL, messages=[{"role": "user", "content": p}], max_tokens=MAX_TOKENS,
            extra_body=EXTRA) for p in items))

    asyncio.run(go())


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


def openailike_loop(base: str, items: list[str]) -> None:
    llm = _openai_like(base)
    for p in items:
        llm.complete(p)


def openailike_gather(base: str, items: list[str]) -> None:
    llm = _openai_like(base)

    async def go() -> None:
        await asyncio.gather(*(llm.acomplete(p) for p in items))

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
    Path("process_batch_unchunked", "VLLMClient.process_batch (chat, one batch request, no"
         " chunks)", "reference", core_batch_chat_unchunked),
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


_HISTS = {"e2e_request_latency_seconds": "e2e", "request_queue_time_seconds": "queue",
          "request_prefill_time_seconds": "prefill"}


def _server_hists(base: str) -> dict[str, float]:
    """The sums and counts of the engine's per-request histograms (empty if unreadable)."""
    import httpx

    try:
        text = httpx.get(base + "/metrics", timeout=30).text
    except httpx.HTTPError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition("{")
        if name == "vllm:prompt_tokens_total":
            out["prompt_tokens"] = out.get("prompt_tokens", 0.0) + float(value.rsplit(" ", 1)[1])
            continue
        short = _HISTS.get(name.removeprefix("vllm:").rsplit("_", 1)[0])
        if short and name.endswith(("_sum", "_count")):
            key = f"{short}_{name.rsplit('_', 1)[1]}"
            out[key] = out.get(key, 0.0) + float(value.rsplit(" ", 1)[1])
    return out


def phases(wall: float, before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per-request means the engine saw during one run (seconds; ``prompt_tokens``: prompt
    tokens per request, the chat template's included) and the gap outside it."""
    out: dict[str, float] = {}
    for short in _HISTS.values():
        count = after.get(f"{short}_count", 0.0) - before.get(f"{short}_count", 0.0)
        if count > 0:
            out[f"{short}_s"] = (after[f"{short}_sum"] - before.get(f"{short}_sum", 0.0)) / count
    if "e2e_s" in out:
        out["gap_s"] = wall - out["e2e_s"]
        count = after["e2e_count"] - before.get("e2e_count", 0.0)
        out["prompt_tokens"] = (after.get("prompt_tokens", 0.0)
                                - before.get("prompt_tokens", 0.0)) / count
    return out


def _timed(path: Path, base: str, items: list[str]) -> tuple[float, int, float, dict[str, float]]:
    """Seconds, tokens (from the prompt count; the ceiling's usage is checked), client CPU
    seconds per 1,000 prompts (this process's user + system time, every thread) and the
    engine's phases (:func:`phases`)."""
    run_items = items[: path.cap] if path.cap else items
    before = _server_hists(base)
    c0, t0 = time.process_time(), time.perf_counter()
    tokens = path.run(base, run_items)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    expected = len(run_items) * MAX_TOKENS
    if isinstance(tokens, int) and tokens != expected:
        raise RuntimeError(f"end tokens not banned: {tokens} tokens, expected {expected}")
    return secs, expected, cpu * 1000 / len(run_items), phases(secs, before, _server_hists(base))


def _estimate(p: Path, n: int, ceil_secs: dict[int, float]) -> float:
    """Seconds ``p`` should take at batch size ``n``, from the ceiling's times of this run."""
    one_wave = min(ceil_secs.values())  # about one request's time: the smallest batch
    if p.cap is not None:
        return p.cap * one_wave
    if p.name == "chatopenai_batch":  # a thread pool of min(32, cpus + 4) workers
        return max(ceil_secs.get(n, one_wave), -(-n // ((os.cpu_count() or 1) + 4)) * one_wave)
    return ceil_secs.get(n, one_wave) * 1.5


def _median_phases(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = set().union(*rows) if rows else set()
    return {k: statistics.median(r[k] for r in rows if k in r) for k in sorted(keys)}


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
        if rep and (time.perf_counter() + (time.perf_counter() - t_start) / rep > deadline
                    or len(skipped) > skipped_before):
            log(f"throughput: stopping after {rep} repetitions (time budget {budget_s:.0f} s)")
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
                "phases": _median_phases([ph for _, _, _, ph in got.values()]),
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

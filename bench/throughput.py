"""Batch throughput on the real embedded vLLM: every batch path against a plain asyncio fan-out.

Every request asks for ``MAX_TOKENS`` tokens with ``ignore_eos``, so every prompt generates the
same number of tokens and tokens/s is ``prompts * MAX_TOKENS / wall time`` for every path (the
ceiling's own usage numbers check that). Each repetition runs every path once per batch size in a
fresh random order; a path's ratio is its throughput over the ceiling's in the same repetition,
and the reported figure is the median over repetitions.

The sequential loop (``OpenAILike`` called prompt after prompt) runs on the first
``LOOP_CAP`` prompts only: a loop's throughput does not depend on the batch size, and running
128 prompts one by one would take minutes.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MODEL = "smollm2"
MAX_TOKENS = 16
LOOP_CAP = 8
EXTRA = {"ignore_eos": True}


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


# -- the anchors ------------------------------------------------------------------------------

def _chat_openai(base: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=MODEL, base_url=base + "/v1", api_key="bench-key",
                      max_tokens=MAX_TOKENS, extra_body=EXTRA)


def chatopenai_batch(base: str, items: list[str]) -> None:
    _chat_openai(base).batch(items)


def chatopenai_abatch(base: str, items: list[str]) -> None:
    asyncio.run(_chat_openai(base).abatch(items))


def _openai_like(base: str) -> Any:
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(model=MODEL, api_base=base + "/v1", api_key="bench-key",
                      max_tokens=MAX_TOKENS, is_chat_model=True, is_function_calling_model=False,
                      context_window=2048, timeout=600.0,
                      additional_kwargs={"extra_body": EXTRA})


def openailike_loop(base: str, items: list[str]) -> None:
    llm = _openai_like(base)
    for p in items:
        llm.complete(p)


def openailike_gather(base: str, items: list[str]) -> None:
    llm = _openai_like(base)

    async def go() -> None:
        await asyncio.gather(*(llm.acomplete(p) for p in items))

    asyncio.run(go())


@dataclass(frozen=True)
class Path:
    name: str
    label: str
    family: str
    run: Callable[[str, list[str]], Any]
    cap: int | None = None


PATHS = [
    Path("fanout", "asyncio fan-out, raw httpx (ceiling)", "ceiling", ceiling),
    Path("chatopenai_batch", "ChatOpenAI.batch", "anchor", chatopenai_batch),
    Path("chatopenai_abatch", "ChatOpenAI.abatch", "anchor", chatopenai_abatch),
    Path("openailike_loop", "OpenAILike, loop", "anchor", openailike_loop, LOOP_CAP),
    Path("openailike_gather", "OpenAILike, asyncio.gather", "anchor", openailike_gather),
    Path("process_batch", "VLLMClient.process_batch (chat)", "ours", core_batch_chat),
    Path("aprocess_batch", "AsyncVLLMClient.process_batch (chat)", "ours", core_abatch_chat),
    Path("process_batch_completions", "VLLMClient.process_batch (one completions request)",
         "ours", core_batch_completions),
    Path("chatvllm_batch", "ChatVLLM.batch", "ours", chatvllm_batch),
    Path("chatvllm_abatch", "ChatVLLM.abatch", "ours", chatvllm_abatch),
    Path("li_batch", "llamaindex VLLM.batch_complete", "ours", li_vllm_batch),
    Path("li_abatch", "llamaindex VLLM.abatch_complete", "ours", li_vllm_abatch),
]


def _timed(path: Path, base: str, items: list[str]) -> tuple[float, int]:
    """Seconds and tokens (from the prompt count; the ceiling's usage is checked)."""
    run_items = items[: path.cap] if path.cap else items
    t0 = time.perf_counter()
    tokens = path.run(base, run_items)
    secs = time.perf_counter() - t0
    expected = len(run_items) * MAX_TOKENS
    if isinstance(tokens, int) and tokens != expected:
        raise RuntimeError(f"ignore_eos not honoured: {tokens} tokens, expected {expected}")
    return secs, expected


def run(base: str, sizes: list[int], reps: int, log: Callable[[str], None],
        only: list[str] | None = None) -> dict[str, Any]:
    paths = [p for p in PATHS if only is None or p.name in only or p.name == "fanout"]
    # Warm-up: the first requests of a fresh server are slow.
    ceiling(base, prompts(8))
    ceiling(base, prompts(8))
    samples: dict[int, dict[str, dict[int, tuple[float, int]]]] = {
        n: {p.name: {} for p in paths} for n in sizes}
    t_start = time.perf_counter()
    errors: list[str] = []
    for rep in range(reps):
        for n in sizes:
            order = list(paths)
            random.shuffle(order)
            took = []
            for p in order:
                try:
                    secs, tokens = _timed(p, base, prompts(n))
                except Exception as exc:  # one broken path must not stop the run
                    errors.append(f"{p.name} at {n}: {type(exc).__name__}: {exc}"[:300])
                    took.append(f"{p.name} ERROR")
                    continue
                samples[n][p.name][rep] = (secs, tokens)
                took.append(f"{p.name} {secs:.1f}s")
            log(f"  rep {rep + 1} size {n}: " + ", ".join(took))
        log(f"throughput rep {rep + 1}/{reps}: {time.perf_counter() - t_start:.0f} s")
    result: dict[str, Any] = {"max_tokens": MAX_TOKENS, "loop_cap": LOOP_CAP, "reps": reps,
                              "sizes": {}}
    result["errors"] = errors
    for n in sizes:
        ceil = {rep: tok / s for rep, (s, tok) in samples[n]["fanout"].items()}
        entry = {}
        for p in paths:
            got = {rep: v for rep, v in samples[n][p.name].items() if rep in ceil}
            if not got:
                entry[p.name] = {"label": p.label, "family": p.family, "error": True,
                                 "prompts_run": min(n, p.cap or n)}
                continue
            tps = {rep: tok / s for rep, (s, tok) in got.items()}
            entry[p.name] = {
                "label": p.label, "family": p.family, "prompts_run": min(n, p.cap or n),
                "tokens_per_s": statistics.median(tps.values()),
                "seconds": statistics.median([s for s, _ in got.values()]),
                "ratio": statistics.median([t / ceil[rep] for rep, t in tps.items()]),
                "reps_ok": len(got),
                "samples_tokens_per_s": list(tps.values()),
            }
        result["sizes"][str(n)] = entry
        log(f"  batch {n}:")
        for p in paths:
            e = entry[p.name]
            if e.get("error"):
                log(f"    {p.label:<52} failed")
            else:
                log(f"    {p.label:<52} {e['tokens_per_s']:7.1f} tok/s  x{e['ratio']:.2f}")
    for err in errors:
        log(f"  error: {err}")
    return result

"""Why one chat-batch request is (or is not) faster than the fan-out: phase timings.

For one batch size, every shape of the same work runs interleaved against the raw fan-out
(the throughput section's ceiling), each once per repetition:

* ``fanout``: one ``/v1/chat/completions`` request per conversation (the ceiling);
* ``batch_one``: one ``/v1/chat/completions/batch`` request with every conversation;
* ``batch_chunks``: ``/v1/chat/completions/batch`` requests of ``CHUNK`` conversations, all in
  flight at once (what ``process_batch(mode="chat")`` sends);
* ``completions_one``: one ``/v1/completions`` request with the plain prompt strings (no chat
  template: the path the completions row measures);
* ``completions_tokens``: one ``/v1/completions`` request whose prompts are the token ids of the
  chat-rendered conversations (``/tokenize`` with ``messages`` and ``add_generation_prompt``,
  done before the timed runs): the chat route's prompts through the completions route. Next to
  ``completions_one`` it separates the two candidate causes of the completions row's lead:
  prompt length (the chat template adds SmolLM2's default system prompt) and the route.

Every shape also reports ``prompt_tokens``: the mean ``usage.prompt_tokens`` per conversation
its answers carried.

Measured (2026-12-01, 3 interleaved repetitions per size, 8 tokens per answer, on a chat server
of the default spec with its engine on one core while another engineer's LoRA training held
the other, load average 4-13; ratio to the fan-out, median):

=========================  ==========  ===========  =====================
shape                      64 prompts  128 prompts  prompt tokens / conv.
=========================  ==========  ===========  =====================
``completions_one``        2.14        2.20         9.8 / 10.1
``completions_tokens``     1.17        1.01         39.8 / 40.1
``batch_one``              1.08        1.05         39.8 / 40.1
``batch_chunks``           1.25        1.01         39.8 / 40.1
=========================  ==========  ===========  =====================

The chat-rendered token ids through the completions route run no faster than the chat routes:
the completions row's lead is the prompt length (SmolLM2's default system prompt makes every
conversation 4x longer, the same server work for any client), not vLLM 0.32's batch route, so
``process_batch(mode="chat")`` keeps the batch route.

Around each run the server's ``/metrics`` histograms are read before and after; their deltas
give the server-side mean per request of queue time, prefill, time to first token and
end-to-end latency (vLLM starts these clocks when a request reaches the engine, after the HTTP
layer rendered its chat template). ``gap_s = wall - mean e2e`` is then the time the requests
spend outside the engine: the route's rendering before the engine sees the first one (vLLM
0.32's batch route renders every conversation, one after the other, before it submits any) and
the HTTP round trip.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .throughput import EXTRA, MAX_TOKENS, MODEL, prompts

CHUNK = 16
_HISTS = {"e2e_request_latency_seconds": "e2e", "request_queue_time_seconds": "queue",
          "request_prefill_time_seconds": "prefill", "time_to_first_token_seconds": "ttft"}
"""vLLM's per-request histograms (clocks start when the engine gets the request) -> short name."""
_LINE = re.compile(r"^vllm:(\w+)_(sum|count)\{[^}]*\} (\S+)$", re.M)


def _hists(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, kind, value in _LINE.findall(text):
        if name in _HISTS:
            out[f"{name}_{kind}"] = out.get(f"{name}_{kind}", 0.0) + float(value)
    return out


def _metrics_text(base: str) -> str:
    import httpx

    return httpx.get(base + "/metrics", timeout=60).text


def _messages(items: list[str]) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": p}] for p in items]


Shape = Callable[[], Awaitable[tuple[int, float]]]
"""Runs once; (choices, prompt tokens in all from the answers' usage)."""


def _counted(answers: list[Any]) -> tuple[int, float]:
    return (sum(len(a["choices"]) for a in answers),
            float(sum(a["usage"]["prompt_tokens"] for a in answers)))


async def chat_token_ids(client: Any, base: str, items: list[str]) -> list[list[int]]:
    """The token ids of each conversation as the chat route renders it (``/tokenize`` with
    ``messages`` and ``add_generation_prompt``), fetched before any timed run."""
    async def one(m: list[dict[str, str]]) -> list[int]:
        r = await client.post(base + "/tokenize", json={
            "model": MODEL, "messages": m, "add_generation_prompt": True})
        r.raise_for_status()
        return [int(t) for t in r.json()["tokens"]]

    return list(await asyncio.gather(*(one(m) for m in _messages(items))))


async def _shapes(client: Any, base: str, items: list[str]) -> dict[str, Shape]:
    body = {"model": MODEL, "max_tokens": MAX_TOKENS, **EXTRA}
    token_ids = await chat_token_ids(client, base, items)

    async def post(path: str, payload: dict[str, Any]) -> Any:
        r = await client.post(base + path, json={**body, **payload})
        r.raise_for_status()
        return r.json()

    async def fanout() -> tuple[int, float]:
        return _counted(await asyncio.gather(*(post("/v1/chat/completions", {"messages": m})
                                               for m in _messages(items))))

    async def batch_one() -> tuple[int, float]:
        return _counted([await post("/v1/chat/completions/batch",
                                    {"messages": _messages(items)})])

    async def batch_chunks() -> tuple[int, float]:
        convs = _messages(items)
        return _counted(await asyncio.gather(*(post("/v1/chat/completions/batch",
                                                    {"messages": convs[i:i + CHUNK]})
                                               for i in range(0, len(convs), CHUNK))))

    async def completions_one() -> tuple[int, float]:
        return _counted([await post("/v1/completions", {"prompt": items})])

    async def completions_tokens() -> tuple[int, float]:
        return _counted([await post("/v1/completions", {"prompt": token_ids})])

    return {"fanout": fanout, "batch_one": batch_one, "batch_chunks": batch_chunks,
            "completions_one": completions_one, "completions_tokens": completions_tokens}


async def _measure(base: str, n: int, reps: int,
                   log: Callable[[str], None]) -> dict[str, list[dict[str, float]]]:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    samples: dict[str, list[dict[str, float]]] = {}
    async with httpx.AsyncClient(timeout=600.0, limits=limits) as client:
        shapes = await _shapes(client, base, prompts(n))
        await shapes["fanout"]()  # warm-up
        rest = [s for s in shapes if s != "fanout"]
        for rep in range(reps):
            random.shuffle(rest)
            line = []
            for name in ["fanout", *rest]:
                before = _hists(await asyncio.to_thread(_metrics_text, base))
                t0 = time.perf_counter()
                got, prompt_tokens = await shapes[name]()
                wall = time.perf_counter() - t0
                after = _hists(await asyncio.to_thread(_metrics_text, base))
                if got != n:
                    raise RuntimeError(f"{name}: {got} choices for {n} conversations")
                samples.setdefault(name, []).append(
                    _phase(wall, before, after) | {"prompt_tokens": prompt_tokens / n})
                line.append(f"{name} {wall:.2f}s")
            log(f"  phases rep {rep + 1} size {n}: " + ", ".join(line))
    return samples


def _phase(wall: float, before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    out = {"wall_s": wall}
    for h in _HISTS:
        count = after.get(f"{h}_count", 0.0) - before.get(f"{h}_count", 0.0)
        total = after.get(f"{h}_sum", 0.0) - before.get(f"{h}_sum", 0.0)
        out[_HISTS[h] + "_mean_s"] = total / count if count else float("nan")
    out["gap_s"] = wall - out["e2e_mean_s"]
    return out


def run(base: str, sizes: list[int], reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Per size: each shape's medians of wall, ratio to the fan-out, and server phases.

    Args:
        base: the chat server's root URL.
        sizes: batch sizes.
        reps: interleaved repetitions per size.
        log: progress lines.
    """
    out: dict[str, Any] = {"chunk": CHUNK, "reps": reps, "max_tokens": MAX_TOKENS, "sizes": {}}
    for n in sizes:
        samples = asyncio.run(_measure(base, n, reps, log))
        ceil = [s["wall_s"] for s in samples["fanout"]]
        entry = {}
        for name, rows in samples.items():
            med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            med["ratio"] = statistics.median(
                c / r["wall_s"] for c, r in zip(ceil, rows, strict=True))
            entry[name] = {k: round(v, 4) for k, v in med.items()}
        out["sizes"][str(n)] = entry
        for name, e in entry.items():
            log(f"    {n:>4} {name:<16} x{e['ratio']:.2f} wall {e['wall_s']:.2f}s gap "
                f"{e['gap_s']:.2f}s e2e {e['e2e_mean_s']:.2f}s queue {e['queue_mean_s']:.2f}s "
                f"prefill {e['prefill_mean_s']:.2f}s ttft {e['ttft_mean_s']:.2f}s"
                f" prompt {e['prompt_tokens']:.1f} tok")
    return out


if __name__ == "__main__":
    import sys

    sizes = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "64,128").split(",")]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    print(f"load {os.getloadavg()}", flush=True)
    print(run(sys.argv[1], sizes, reps, lambda m: print(m, flush=True)))
    print(f"load {os.getloadavg()}", flush=True)

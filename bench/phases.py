"""Engine phases of one throughput run: the chat server's ``/metrics`` histograms around it.

The per-request means of queue time, prefill and end-to-end latency the engine saw, prompt
tokens per request, and ``gap_s``, the wall time minus the mean end-to-end latency: the time
the requests spent outside the engine (the client, HTTP, the server's chat-template rendering).
"""

from __future__ import annotations

import statistics

_HISTS = {"e2e_request_latency_seconds": "e2e", "request_queue_time_seconds": "queue",
          "request_prefill_time_seconds": "prefill"}


def server_hists(base: str) -> dict[str, float]:
    """:func:`parse` of the server's ``/metrics`` (empty if unreadable)."""
    import httpx

    try:
        return parse(httpx.get(base + "/metrics", timeout=30).text)
    except httpx.HTTPError:
        return {}


def parse(text: str) -> dict[str, float]:
    """The sums and counts of the engine's per-request histograms, and the prompt tokens."""
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


def median_phases(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = set().union(*rows) if rows else set()
    return {k: statistics.median(r[k] for r in rows if k in r) for k in sorted(keys)}

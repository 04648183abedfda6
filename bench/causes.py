"""The measured cause of every missed target: figures from the same run, never a guess.

``attach(data, targets)`` adds a ``cause`` line to each missed target it has figures for:

* a throughput cell (chat batch or fan-out): the path's wall time against the ceiling's, the
  engine's per-request means (``/metrics`` deltas around the run: end-to-end, queue,
  prefill), the time outside the engine (``gap``: wall minus the mean end-to-end latency:
  the client, HTTP and the server's rendering) and the client CPU per 1,000 prompts;
* per-request client cost (the zero-cost responder): microseconds per request and client CPU
  seconds per 1,000 requests against raw httpx;
* a wrapper above its framework floor: the wrapper's microseconds above the floor against the
  core's above raw httpx;
* prefix affinity: the cell's size against one replica's KV cache, the share of later turns
  placed on the previous turn's replica, hit rates and TTFT per arm;
* import time: the measured import times against their baseline.
"""

from __future__ import annotations

from typing import Any

from ._lookup import get as _get
from .callprofile import excess_text

COMPLETIONS = "process_batch_completions"


def _ms(x: float | None) -> str:
    return "?" if x is None else f"{x * 1000:.0f} ms"


def throughput_cause(data: dict[str, Any], size: str, name: str) -> str | None:
    """Phases of path ``name`` at ``size`` prompts against the ceiling's, this run."""
    cell = _get(data, "throughput", "sizes", size) or {}
    e, c = cell.get(name) or {}, cell.get("fanout") or {}
    if "seconds" not in e or "seconds" not in c:
        return None
    ep, cp = e.get("phases") or {}, c.get("phases") or {}
    text = (f"wall {e['seconds']:.2f} s vs the ceiling's {c['seconds']:.2f} s; client CPU"
            f" {e['cpu_s_per_1k']:.1f} vs {c['cpu_s_per_1k']:.1f} s per 1,000 prompts")
    if "gap_s" in ep and "gap_s" in cp:
        text += (f"; engine per request (mean): end-to-end {_ms(ep.get('e2e_s'))} vs"
                 f" {_ms(cp.get('e2e_s'))}, queue {_ms(ep.get('queue_s'))} vs"
                 f" {_ms(cp.get('queue_s'))}, prefill {_ms(ep.get('prefill_s'))} vs"
                 f" {_ms(cp.get('prefill_s'))}; outside the engine (wall - mean end-to-end:"
                 f" client, HTTP, the server's rendering) {_ms(ep['gap_s'])} vs"
                 f" {_ms(cp['gap_s'])}")
    if ep.get("prompt_tokens") and cp.get("prompt_tokens"):
        text += (f"; prompt tokens per request {ep['prompt_tokens']:.0f} vs"
                 f" {cp['prompt_tokens']:.0f}")
    plain = completions_comparison(cell, name)
    return text + (f"; {plain}" if plain else "")


def completions_comparison(cell: dict[str, Any], name: str) -> str | None:
    """What the one-completions-request row of the same cell shows next to a chat path: its
    speed against the ceiling and its prompt tokens per request against the chat path's
    (the chat template adds SmolLM2's default system prompt to every conversation)."""
    e, plain = cell.get(name) or {}, cell.get(COMPLETIONS) or {}
    chat_tokens = (e.get("phases") or {}).get("prompt_tokens")
    plain_tokens = (plain.get("phases") or {}).get("prompt_tokens")
    if name == COMPLETIONS or not chat_tokens or not plain_tokens or "ratio" not in plain:
        return None
    text = (f"the one completions request of the plain prompts ran x{plain['ratio']:.2f} the"
            f" ceiling with {plain_tokens:.0f} prompt tokens per prompt against this path's"
            f" {chat_tokens:.0f}")
    if chat_tokens >= 2 * plain_tokens:
        text += (f" (the chat template makes every prompt {chat_tokens / plain_tokens:.1f}x"
                 " longer: more server work per conversation on every chat route, the"
                 " ceiling's included; bench/batch_phases.py separates that from the route)")
    return text


def overhead_cause(data: dict[str, Any], kind: str, name: str = "core") -> str | None:
    """Per-request wall time and client CPU of ``name`` against raw httpx (responder)."""
    e, h = _get(data, "overhead", kind, name) or {}, _get(data, "overhead", kind, "httpx") or {}
    if "request_us" not in e or "request_us" not in h:
        return None
    text = f"{e['request_us']:.0f} µs per request vs raw httpx {h['request_us']:.0f} µs"
    if e.get("cpu_s_per_1k") is not None and h.get("cpu_s_per_1k") is not None:
        text += (f"; client CPU {e['cpu_s_per_1k']:.2f} vs {h['cpu_s_per_1k']:.2f} s per 1,000"
                 f" requests (+{e['cpu_s_per_1k'] - h['cpu_s_per_1k']:.2f} s, the core's own"
                 " work per request)")
    if kind == "sync" and (extra := excess_text(_get(data, "overhead", "calls") or {},
                                                name)) is not None:
        text += f"; {extra}"
    return text


def floor_cause(data: dict[str, Any], kind: str, name: str) -> str | None:
    """The wrapper's cost above its framework floor against the core's above raw httpx."""
    e = _get(data, "overhead", kind, name) or {}
    if e.get("above_floor_us") is None or e.get("core_above_httpx_us") is None:
        return None
    text = (f"{e['label']} costs {e['above_floor_us']:.0f} µs per request above its floor"
            f" ({e.get('floor_us', 0):.0f} µs) vs the core's {e['core_above_httpx_us']:.0f} µs"
            " above raw httpx")
    calls = _get(data, "overhead", "calls") or {}
    for who in (name, "core"):
        if (extra := excess_text(calls, who)) is not None:
            text += f"; {calls[who]['label']}: {extra}"
    return text


def affinity_cause(data: dict[str, Any]) -> str | None:
    """Cell size against the KV cache, placement and hit rates per arm."""
    af = data.get("affinity") or {}
    arms = af.get("arms") or {}
    if not arms:
        return None
    parts = []
    if af.get("kv_cache_tokens") and af.get("conversation_tokens"):
        total = af["conversations"] * af["conversation_tokens"]
        parts.append(f"{af['conversations']} conversations, ~{total} tokens in all vs"
                     f" {af['kv_cache_tokens']} KV-cache tokens per replica"
                     f" ({total / af['kv_cache_tokens']:.2f}x one replica)")
    for arm, a in arms.items():
        share = a.get("same_replica_share")
        rate, later = a.get("hit_rate"), a.get("later_turns_hit_rate")
        parts.append(f"{arm}: hit rate {'?' if rate is None else f'{rate:.2f}'}"
                     + ("" if later is None else f" (later turns {later:.2f}: the first turns"
                        " cannot hit)") + f", TTFT p50 {_ms(a.get('ttft_p50_s'))}"
                     + ("" if share is None else f", later turns on the previous turn's"
                        f" replica {share:.0%}"))
    return "; ".join(parts)


def attach(data: dict[str, Any], targets: list[dict[str, Any]]) -> None:
    """Add ``cause`` to every missed target that has a figure for it (keyed by ``cause_key``)."""
    for t in targets:
        key = t.get("cause_key")
        if t.get("met") is not False or not key:
            continue
        kind, *args = key
        cause = {"throughput": throughput_cause, "overhead": overhead_cause,
                 "floor": floor_cause, "affinity": affinity_cause}[kind](data, *args)
        if cause:
            t["cause"] = cause

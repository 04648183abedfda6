"""Where a client's per-request cost goes: cProfile call counts and time split by package.

The overhead section's wall-clock figures say *how much* a client adds per request; this says
*where*, from the same run. Each sync client of :data:`NAMES` is built against the zero-cost
responder, warmed up, and profiled over :data:`CALLS` non-streamed requests. Per request:

* ``calls``: Python function calls (deterministic: the machine's load does not move it);
* ``by_package``: those calls by the package of the function called (``langchain_vllm_accel``,
  ``vllm_accel``, ``langchain_core``, ``httpx`` and its transport, ``pydantic``, builtins, ...).

Counts, not profiled times: tried first, the profiled CPU time per package moved by +-40%
between clients that run the same transport code on a loaded machine (the profiler's own cost
per call is several times the code's), while counts are exact. ``extra(a, b)`` is ``a``'s calls
over ``b``'s, package by package: for a wrapper against its framework floor it names the code
the wrapper's excess runs in.
"""

from __future__ import annotations

import cProfile
import pstats
from typing import Any

from .clients import SPECS

NAMES = ("httpx", "core", "lc_floor", "chatvllm", "li_floor", "li_vllm")
PAIRS = (("chatvllm", "lc_floor"), ("li_vllm", "li_floor"), ("core", "httpx"))
"""Each client and the one it is measured against (a wrapper and its framework floor)."""
CALLS = 60
WARMUP = 10
_BUCKETS = (
    ("langchain_vllm_accel", "/langchain_vllm_accel/"),
    ("llamaindex_vllm_accel", "/llamaindex_vllm_accel/"),
    ("langchain_core", "/langchain_core/"),
    ("llama_index", "/llama_index/"),
    ("pydantic", "/pydantic"),
    ("httpx", "/httpx/"),
    ("httpcore, h11", "/httpcore/"),
    ("httpcore, h11", "/h11/"),
    ("bench", "/bench/"),
    ("vllm_accel", "/core/"),
)


def _bucket(filename: str) -> str:
    if filename.startswith("~"):  # a C function (cProfile files builtins under "~")
        return "builtins"
    for name, part in _BUCKETS:
        if part in filename:
            return name
    return "stdlib, other"


def _profile(name: str, base: str) -> dict[str, Any]:
    spec = next(s for s in SPECS if s.name == name and s.kind == "sync")
    client = spec.build(base, 16)
    try:
        for _ in range(WARMUP):
            client.call()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(CALLS):
            client.call()
        profiler.disable()
    finally:
        client.close()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    calls = 0
    by: dict[str, int] = {}
    for (filename, _, _), (_, ncalls, _, _, _) in stats.items():
        calls += ncalls
        key = _bucket(filename)
        by[key] = by.get(key, 0) + ncalls
    return {"label": spec.label, "calls": calls / CALLS,
            "by_package": {k: v / CALLS for k, v in sorted(by.items())}}


def extra(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """``a``'s calls per request over ``b``'s, per package, largest first."""
    keys = set(a["by_package"]) | set(b["by_package"])
    diff = {k: a["by_package"].get(k, 0.0) - b["by_package"].get(k, 0.0) for k in keys}
    return dict(sorted(diff.items(), key=lambda kv: -kv[1]))


def excess_parts(calls: dict[str, Any], name: str) -> str | None:
    """``name``'s extra calls over its pair's by package (``builtins +136, ...``), or None."""
    floor = dict(PAIRS).get(name)
    if floor is None or name not in calls or floor not in calls:
        return None
    return ", ".join(f"{k} {v:+.0f}" for k, v in extra(calls[name], calls[floor]).items()
                     if abs(v) >= 2)


def excess_text(calls: dict[str, Any], name: str) -> str | None:
    """``name``'s Python calls per request over its pair's, and the packages they are in."""
    parts = excess_parts(calls, name)
    if parts is None:
        return None
    a, b = calls[name], calls[dict(PAIRS)[name]]
    return (f"Python calls per request (cProfile, sync): {a['calls']:.0f} vs {b['calls']:.0f}"
            f" ({a['calls'] - b['calls']:+.0f}; by the package of the function called: {parts})")


def run(base: str) -> dict[str, Any]:
    """Call counts and per-package profiled time of every client in :data:`NAMES`."""
    return {name: _profile(name, base) for name in NAMES}

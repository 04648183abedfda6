"""One interleaved throughput cell: paths in a fresh random order per repetition, each against
the ceiling of the same repetition; medians of the per-repetition ratios; client CPU per item.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

Run = Callable[[], int]
"""Does the work once and returns how many items it handled (checked against the cell size)."""


def _one(run: Run, items: int) -> tuple[float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    got = run()
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    if got != items:
        raise RuntimeError(f"handled {got} items, expected {items}")
    return secs, cpu * 1000 / items


def interleaved(paths: dict[str, tuple[str, Run]], ceiling: str, items: int, reps: int,
                log: Callable[[str], None]) -> dict[str, Any]:
    """Run every path ``reps`` times; the ceiling first in each repetition, the rest shuffled.

    Args:
        paths: name -> (label, run); ``ceiling`` names one of them.
        ceiling: the path every ratio is taken against (same repetition).
        items: how many items each run must handle (documents, pairs).
        reps: repetitions.
        log: progress lines.

    Returns:
        name -> label, items/s (median), ratio (median of per-repetition ratios) and their
        list, client CPU seconds per 1,000 items (median), or the error that stopped it.
    """
    samples: dict[str, dict[int, tuple[float, float]]] = {name: {} for name in paths}
    errors: dict[str, str] = {}
    rest = [n for n in paths if n != ceiling]
    for rep in range(reps):
        random.shuffle(rest)
        took = []
        for name in [ceiling, *rest]:
            if name in errors:
                continue
            try:
                samples[name][rep] = _one(paths[name][1], items)
            except Exception as exc:  # one broken path must not stop the cell
                errors[name] = f"{type(exc).__name__}: {exc}"[:300]
                took.append(f"{name} ERROR")
                continue
            took.append(f"{name} {samples[name][rep][0]:.2f}s")
        log(f"  rep {rep + 1}: " + ", ".join(took))
    return _summary(paths, ceiling, items, samples, errors)


def _summary(paths: dict[str, tuple[str, Run]], ceiling: str, items: int,
             samples: dict[str, dict[int, tuple[float, float]]],
             errors: dict[str, str]) -> dict[str, Any]:
    ceil = {rep: items / s for rep, (s, _) in samples[ceiling].items()}
    out: dict[str, Any] = {}
    for name, (label, _) in paths.items():
        got = {rep: v for rep, v in samples[name].items() if rep in ceil}
        if not got:
            out[name] = {"label": label, "error": errors.get(name, "not measured")}
            continue
        ratios = [items / s / ceil[rep] for rep, (s, _) in got.items()]
        out[name] = {
            "label": label, "items_per_s": statistics.median(items / s for s, _ in got.values()),
            "ratio": statistics.median(ratios), "ratios": ratios, "reps_ok": len(got),
            "cpu_s_per_1k": statistics.median(c for _, c in got.values()),
        }
        if name in errors:
            out[name]["error"] = errors[name]
    return out

"""Memory: peak RSS while streaming a very long answer, and RSS growth over many requests.

Each figure comes from a fresh interpreter that imports and builds only the client measured
(``python -m bench.memory ...``), against the zero-cost responder. Peak RSS is the kernel's
high-water mark (``VmHWM``), reset after warm-up (``/proc/self/clear_refs``), so the figure is the
peak reached while streaming, above the resident size before the stream started.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .clients import spec

MB = 1024 * 1024


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child_stream(name: str, kind: str, base: str, tokens: int) -> dict[str, Any]:
    s = spec(name, kind)
    small, big = s.build(base, 32), s.build(base, tokens)
    if kind == "async":
        async def both() -> tuple[int, int, bool, float]:
            await small.stream()
            gc.collect()
            before = _status()["VmRSS"]
            reset = _reset_peak()
            t0 = time.perf_counter()
            n = await big.stream()
            return n, before, reset, time.perf_counter() - t0

        n, before, reset, secs = asyncio.run(both())
    else:
        small.stream()
        gc.collect()
        before = _status()["VmRSS"]
        reset = _reset_peak()
        t0 = time.perf_counter()
        n = big.stream()
        secs = time.perf_counter() - t0
    after = _status()
    return {"chunks": n, "rss_before_mb": before / MB, "peak_mb": after["VmHWM"] / MB,
            "peak_growth_mb": (after["VmHWM"] - before) / MB, "seconds": secs,
            "peak_reset": reset}


def child_requests(name: str, kind: str, base: str, count: int, more: int = 0) -> dict[str, Any]:
    """RSS after warm-up, after ``count`` requests, and after ``more`` (a steady-state check)."""
    client = spec(name, kind).build(base, 16)
    marks: list[int] = []

    def mark() -> None:
        gc.collect()
        marks.append(_status()["VmRSS"])

    async def run_async() -> float:
        for _ in range(500):
            await client.call()
        mark()
        t0 = time.perf_counter()
        for _ in range(count):
            await client.call()
        secs = time.perf_counter() - t0
        mark()
        for _ in range(more):
            await client.call()
        mark()
        return secs

    if kind == "async":
        secs = asyncio.run(run_async())
    else:
        for _ in range(500):
            client.call()
        mark()
        t0 = time.perf_counter()
        for _ in range(count):
            client.call()
        secs = time.perf_counter() - t0
        mark()
        for _ in range(more):
            client.call()
        mark()
    r0, r1, r2 = marks
    return {"requests": count, "rss_before_mb": r0 / MB, "rss_after_mb": r1 / MB,
            "growth_mb": (r1 - r0) / MB, "more_requests": more,
            "more_growth_mb": (r2 - r1) / MB if more else None, "seconds": secs}


def _child(args: list[str], timeout: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.memory", *args], capture_output=True,
                         text=True, timeout=timeout)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


STREAM_CLIENTS = [("httpx", "sync"), ("openai", "sync"), ("chatopenai", "sync"),
                  ("openailike", "sync"), ("core", "sync"), ("core", "async"),
                  ("chatvllm", "sync"), ("li_vllm", "sync")]
REQUEST_CLIENTS = STREAM_CLIENTS
ANCHORS = {"openai", "chatopenai", "openailike"}


def run(base: str, long_tokens: int, short_tokens: int, requests: int, anchor_requests: int,
        log: Callable[[str], None], workers: int = 2) -> dict[str, Any]:
    """Every child in its own interpreter; ``workers`` at a time (memory is not a timing)."""
    result: dict[str, Any] = {"long_tokens": long_tokens, "short_tokens": short_tokens,
                              "requests": requests, "anchor_requests": anchor_requests,
                              "stream": {}, "requests_growth": {}}
    jobs: dict[tuple[str, str], list[str]] = {}
    for name, kind in STREAM_CLIENTS:
        key = f"{name}/{kind}"
        jobs[(key, "short")] = ["stream", name, kind, base, str(short_tokens)]
        jobs[(key, "long")] = ["stream", name, kind, base, str(long_tokens)]
    for name, kind in REQUEST_CLIENTS:
        ours = name not in ANCHORS
        count = requests if ours else anchor_requests
        jobs[(f"{name}/{kind}", "requests")] = [
            "requests", name, kind, base, str(count), str(count // 2 if ours else 0)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {job: pool.submit(_child, args, 1200) for job, args in jobs.items()}
        done = {job: f.result() for job, f in futures.items()}
    for name, kind in STREAM_CLIENTS:
        key = f"{name}/{kind}"
        entry = {"short": done[(key, "short")], "long": done[(key, "long")]}
        if "error" not in entry["short"] and "error" not in entry["long"]:
            extra = entry["long"]["peak_growth_mb"] - entry["short"]["peak_growth_mb"]
            entry["extra_mb"] = extra
            entry["bytes_per_extra_chunk"] = extra * MB / max(1, long_tokens - short_tokens)
            log(f"  stream {key:<18} peak +{entry['short']['peak_growth_mb']:6.1f} MB at "
                f"{short_tokens}, +{entry['long']['peak_growth_mb']:6.1f} MB at {long_tokens} "
                f"chunks ({entry['long']['seconds']:.1f} s)")
        else:
            log(f"  stream {key}: {entry}")
        result["stream"][key] = entry
    for name, kind in REQUEST_CLIENTS:
        key = f"{name}/{kind}"
        entry = done[(key, "requests")]
        result["requests_growth"][key] = entry
        if "error" in entry:
            log(f"  requests {key}: {entry['error']}")
        else:
            more = (f", {entry['more_growth_mb']:+.1f} MB over {entry['more_requests']} more"
                    if entry.get("more_requests") else "")
            log(f"  requests {key:<16} RSS {entry['rss_before_mb']:6.1f} -> "
                f"{entry['rss_after_mb']:6.1f} MB over {entry['requests']}{more}"
                f" ({entry['seconds']:.1f} s)")
    return result


def main(argv: list[str]) -> None:
    mode, name, kind, base, n, *more = argv
    if mode == "stream":
        print(json.dumps(child_stream(name, kind, base, int(n))))
    else:
        print(json.dumps(child_requests(name, kind, base, int(n), int(more[0]) if more else 0)))


if __name__ == "__main__":
    main(sys.argv[1:])

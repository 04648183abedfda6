"""The benchmark run: imports, client overhead, memory, embeddings and rerank, batch throughput,
prefix affinity, then the report.

Sections that need no server run against the zero-cost responder (a child process on loopback).
The others run on the real vLLM: the embedded chat and embedding servers this run starts and
stops (``EmbeddedServers``), plus two chat replicas for the affinity cell (``bench/servers.py``),
or already running ones named by ``--url``, ``--embed-url`` and ``--replicas`` (for development
only; ``make bench`` always starts its own). The embedded servers launch after the overhead
section and load while the memory section runs (the one section that measures no time); the
embeddings server stops after its sections, the chat server after the throughput section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from . import affinity, callprofile, embeddings, imports, memory, overhead, report, throughput
from .__main__ import SETUP_ENV, STARTED_ENV
from .servers import Servers, affinity_replicas, vllm_servers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
URL_ENV = "VLLM_ACCEL_BENCH_URL"
EMBED_URL_ENV = "VLLM_ACCEL_BENCH_EMBED_URL"
REPLICAS_ENV = "VLLM_ACCEL_BENCH_REPLICAS"
SECTIONS = ("imports", "overhead", "memory", "embeddings", "rerank", "throughput", "affinity")
AFFINITY_ARM_S = 40.0
"""Seconds kept back from throughput for each arm of the affinity cell (its replicas launch
with the other servers, so they are ready by then). Measured on this machine with another
engineer's LoRA training and test runs on it (load 13-16, so each one-core replica had about
half a core): 67, 54 and 87 s for the three arms (least-outstanding, affinity, LiteLLM's
Router), 217 s in all with the set-up, on a cell then 28% larger (``bench/affinity.py``); a
quiet machine gives each replica its whole core. The smaller cell: 46 and 39 s for the two vLLM
arms at load 4.5-11."""
EMBED_REPS = 2
"""Repetitions of the embeddings cell (was 3, ~28 s each: 7 paths x 1,000 documents); the
rerank cell keeps the run's repetitions (~1 s each). Three repetitions are the throughput
section's rule (issue #16); the embeddings paths spread ~10% between repetitions."""
CHAT_STOP_S = 10.0
"""Seconds to stop the chat server before the affinity cell."""
REPORT_S = 15.0
"""Seconds kept for writing the report and the chart at the end."""
IMPORT_RUNS = 3
"""Fresh interpreters per import statement (was 5): the medians moved by under 5% between
3 and 5 runs on this machine, the 12 statements x 6 passes took 75 s, 4 passes take ~50 s."""
MEMORY_REQUESTS, MEMORY_ANCHOR_REQUESTS = 10_000, 1_000
"""Requests per client in the memory section (plus half as many again for this package's
clients, the steady-state check). Not cut: the core keeps the last 10,000 requests' statistics,
so fewer would leave that window filling during the steady-state check; and the section runs
while the servers boot (it measures memory, not time), so it costs no wall time of its own."""
PACKAGES = ["vllm-accel", "httpx", "httpx-sse", "pydantic", "openai", "langchain-core",
            "langchain-openai", "llama-index-core", "llama-index-llms-openai",
            "llama-index-llms-openai-like", "llama-index-embeddings-openai-like", "litellm",
            "matplotlib"]

_T0 = time.perf_counter()


def _elapsed() -> float:
    """Seconds since ``python -m bench`` started (its environment's set-up included)."""
    started = os.environ.get(STARTED_ENV)
    return time.time() - float(started) if started else time.perf_counter() - _T0


def log(msg: str) -> None:
    """A progress line stamped with the seconds since ``python -m bench`` started."""
    print(f"[{_elapsed():6.0f} s] {msg}", flush=True)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def machine() -> dict[str, Any]:
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": round(_mem_gib(), 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "loadavg_start": list(os.getloadavg())}


def other_vllm_servers() -> int:
    """vLLM API servers already running on this machine (they share its CPUs with the bench)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"vllm.entrypoints" in cmd and b"api_server" in cmd:
            count += 1
    return count


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@contextmanager
def responder() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.responder"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _server_version(base: str) -> str:
    import httpx

    try:
        return str(httpx.get(base + "/version", timeout=10).json().get("version"))
    except (httpx.HTTPError, ValueError):
        return "unknown"


def _get_load(data: dict[str, Any]) -> list[float] | None:
    load = data.get("machine", {}).get("loadavg_start")
    return list(load) if load else None


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help="comma-separated subset of " + ",".join(SECTIONS)
                   + " (the others are kept from the previous latest.json)")
    p.add_argument("--url", default=os.environ.get(URL_ENV),
                   help=f"use this running vLLM for throughput (env {URL_ENV}); dev only")
    p.add_argument("--embed-url", default=os.environ.get(EMBED_URL_ENV),
                   help=f"use this running embeddings vLLM (env {EMBED_URL_ENV}); dev only")
    p.add_argument("--replicas", default=os.environ.get(REPLICAS_ENV),
                   help="comma-separated chat replicas for the affinity cell (env "
                   f"{REPLICAS_ENV}); dev only. One server under two URLs is allowed (stated)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of every throughput cell")
    p.add_argument("--sizes", default="8,32,64,128", help="batch sizes")
    p.add_argument("--paths", default=None,
                   help="comma-separated throughput paths to run (the ceiling always runs)")
    p.add_argument("--budget", type=float, default=19.5,
                   help="minutes for the whole run, bench/.venv set-up included (the throughput"
                   " section gets what is left; make's own set-up of .venv comes on top)")
    p.add_argument("--note", default=os.environ.get("VLLM_ACCEL_BENCH_NOTE", ""),
                   help="conditions to state in the report (env VLLM_ACCEL_BENCH_NOTE)")
    p.add_argument("--report-only", action="store_true", help="regenerate the docs from the JSON")
    return p.parse_args(argv)


def _served(args: argparse.Namespace, sections: list[str], data: dict[str, Any],
            started: str, pre: Servers) -> None:
    """The sections on real vLLM servers: embeddings and rerank, throughput, then affinity.

    The embeddings server stops as soon as its sections are done (its CPU and memory are then
    the chat server's), the chat server before the affinity cell; the cell's two replicas,
    launched with the others, wait idle until then.
    """
    reps = 1 if args.quick else args.reps
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    with vllm_servers(args, pre) as (base, em, how):
        _record(data, "server wait", t0, load0)
        if em and "embeddings" in sections:
            log("embeddings throughput ...")
            with timed(data, "embeddings"):
                data["embeddings"] = embeddings.run_embeddings(em, min(reps, EMBED_REPS), log)
        if em and "rerank" in sections:
            log("rerank throughput ...")
            with timed(data, "rerank"):
                data["rerank"] = embeddings.run_rerank(em, reps, log)
        if pre.embedded is not None and pre.embedded.embeddings is not None:
            pre.embedded.embeddings.stop()
            log("embeddings server stopped")
        if "throughput" in sections:
            with timed(data, "throughput"):
                _throughput(args, sections, data, started, base, how, reps)
    if "affinity" in sections:
        pre.stop_chat()
        with timed(data, "affinity"), affinity_replicas(args.replicas, pre) as (urls, rhow):
            log(f"affinity: {len(urls)} replicas ({rhow}) ...")
            data["affinity"] = affinity.run(urls, 1, log) | {"how": rhow}


def affinity_reserve_s() -> float:
    """Seconds the throughput section leaves for the affinity cell: every arm's estimate."""
    return AFFINITY_ARM_S * len(affinity.arms()) + CHAT_STOP_S


def _throughput(args: argparse.Namespace, sections: list[str], data: dict[str, Any],
                started: str, base: str, how: str, reps: int) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    # What the run has left goes to throughput (at least 2 minutes), less the reserve.
    reserve = affinity_reserve_s() if "affinity" in sections else 0.0
    budget = max(120.0, args.budget * 60 - _elapsed() - REPORT_S - reserve)
    log(f"throughput: {budget:.0f} s left in the time budget ({reserve:.0f} s kept for the"
        f" affinity cell, {REPORT_S:.0f} s for the report)")
    only = args.paths.split(",") if args.paths else None
    tp = throughput.run(base, sizes, reps, log, budget_s=budget, only=only)
    tp["server"] = {"how": how, "version": _server_version(base), "model": "smollm2"}
    tp["measured_at"] = started
    tp["other_vllm_servers"] = data["machine"]["other_vllm_servers_at_start"]
    data["throughput"] = tp


def log_calls(calls: dict[str, Any]) -> None:
    """One line per profiled client: Python calls per request, and the wrappers' excess."""
    log("Python calls per request (cProfile, sync, zero-cost responder):")
    for c in calls.values():
        log(f"  {c['label']:<44} {c['calls']:6.0f}")
    for name, _ in callprofile.PAIRS:
        if (text := callprofile.excess_text(calls, name)) is not None:
            log(f"  {calls[name]['label']}: {text}")


@contextmanager
def timed(data: dict[str, Any], name: str) -> Iterator[None]:
    """Log and record (``data["timings"]``) the seconds and the load average of one section."""
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    try:
        yield
    finally:
        _record(data, name, t0, load0)


def _record(data: dict[str, Any], name: str, t0: float, load0: float) -> None:
    secs, load1 = time.perf_counter() - t0, os.getloadavg()[0]
    data.setdefault("timings", {})[name] = {
        "seconds": round(secs, 1), "load_start": round(load0, 2), "load_end": round(load1, 2)}
    log(f"section {name}: {secs:.0f} s (load {load0:.1f} -> {load1:.1f})")


def _sections(args: argparse.Namespace, sections: list[str], data: dict[str, Any],
              started: str, pre: Servers) -> None:
    """Every section in order; the servers launch after the timing-sensitive overhead section,
    so they load while the memory section runs."""
    plan = overhead.QUICK if args.quick else overhead.FULL
    if "imports" in sections:
        log("import times (fresh interpreter per run) ...")
        with timed(data, "imports"):
            data["imports"] = imports.run(3 if args.quick else IMPORT_RUNS, log)
    if "overhead" in sections or "memory" in sections:
        with responder() as base:
            log(f"zero-cost responder at {base}")
            if "overhead" in sections:
                with timed(data, "overhead"):
                    data["overhead"] = overhead.run(base, plan, log)
                    data["overhead"]["calls"] = callprofile.run(base)
                    log_calls(data["overhead"]["calls"])
            if "memory" in sections:
                pre.launch()
                log("memory (fresh interpreter per client) ...")
                with timed(data, "memory"):
                    data["memory"] = memory.run(
                        base, long_tokens=5_000 if args.quick else 20_000,
                        short_tokens=500 if args.quick else 2_000,
                        requests=1_000 if args.quick else MEMORY_REQUESTS,
                        anchor_requests=500 if args.quick else MEMORY_ANCHOR_REQUESTS, log=log)
    if {"throughput", "embeddings", "rerank", "affinity"} & set(sections):
        _served(args, sections, data, started, pre)


def main(argv: list[str]) -> int:
    # LiteLLM downloads its model cost map at import unless told to use its own copy.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    args = parse(argv)
    if args.report_only:
        data = json.loads(RESULTS.read_text())
        data["targets"] = report.targets(data)
        RESULTS.write_text(json.dumps(data, indent=1) + "\n")
        report.write(data, ROOT)
        print(report.console_table(data))
        return 0
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {sorted(unknown)}")
    data: dict[str, Any] = {}
    if set(sections) != set(SECTIONS) and RESULTS.exists():
        data = json.loads(RESULTS.read_text())
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    runs = data.setdefault("section_runs", {})
    for sec in SECTIONS:  # an older file: its sections came from its own run
        if sec in data and sec not in runs:
            runs[sec] = {"generated": data.get("generated"),
                         "loadavg_start": _get_load(data), "note": data.get("note", "")}
    for sec in sections:
        runs[sec] = {"generated": started.isoformat(), "loadavg_start": list(os.getloadavg()),
                     "note": args.note}
    data.update({"schema": 1, "generated": started.isoformat(),
                 "machine": machine() | {"other_vllm_servers_at_start": other_vllm_servers()},
                 "versions": versions(), "git": _git(), "quick": args.quick,
                 "note": args.note, "command": "python -m bench " + " ".join(argv)})
    setup = os.environ.get(SETUP_ENV)
    if setup:
        data.setdefault("timings", {})["bench venv"] = {"seconds": float(setup)}
        log(f"section bench venv: {float(setup):.0f} s (before this process)")
    pre = Servers(args, sections, log)
    try:
        _sections(args, sections, data, started.isoformat(), pre)
    finally:
        pre.stop()
    data["machine"]["loadavg_end"] = list(os.getloadavg())
    data["duration_s"] = round(_elapsed(), 1)
    data["targets"] = report.targets(data)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    report.write(data, ROOT)
    print(report.console_table(data))
    log(f"wrote {RESULTS.relative_to(ROOT)}, docs/benchmarks.md, docs/benchmarks.png")
    return 0

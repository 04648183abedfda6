"""The benchmark run: imports, client overhead, memory, embeddings and rerank, batch throughput,
prefix affinity, then the report.

Sections that need no server run against the zero-cost responder (a child process on loopback).
The others run on the real vLLM: the embedded chat and embedding servers this run starts and
stops (``EmbeddedServers``), plus a second chat replica for the affinity cell, or already
running ones named by ``--url``, ``--embed-url`` and ``--replicas`` (for development only;
``make bench`` always starts its own). The embedded servers launch after the overhead section
and load while the memory section runs; the embeddings server stops after its sections.
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

from . import affinity, embeddings, imports, memory, overhead, report, throughput

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
URL_ENV = "VLLM_ACCEL_BENCH_URL"
EMBED_URL_ENV = "VLLM_ACCEL_BENCH_EMBED_URL"
REPLICAS_ENV = "VLLM_ACCEL_BENCH_REPLICAS"
SECTIONS = ("imports", "overhead", "memory", "embeddings", "rerank", "throughput", "affinity")
AFFINITY_RESERVE_S = 170.0
"""Seconds kept back from throughput for the affinity cell: only its three arms (the second
replica launches with the other servers). Estimated, not measured on a quiet machine: ~65k
prompt tokens per arm's first turns plus the misses, at the ~4.5-5k prompt tokens/s the chat
server's own log reports at its best, ~40-55 s an arm."""
REPORT_S = 20.0
"""Seconds kept for writing the report and the chart at the end."""
PACKAGES = ["vllm-accel", "httpx", "httpx-sse", "pydantic", "openai", "langchain-core",
            "langchain-openai", "llama-index-core", "llama-index-llms-openai",
            "llama-index-llms-openai-like", "llama-index-embeddings-openai-like", "litellm",
            "matplotlib"]

_T0 = time.perf_counter()


def _elapsed() -> float:
    """Seconds since ``python -m bench`` started (its environment's set-up included)."""
    started = os.environ.get("VLLM_ACCEL_BENCH_STARTED")
    return time.time() - float(started) if started else time.perf_counter() - _T0


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.0f} s] {msg}", flush=True)


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


def _root(url: str) -> str:
    return url.rstrip("/").removesuffix("/v1")


class Servers:
    """The embedded vLLM servers this run needs: the chat and embeddings servers (unless
    external ones are given) and the affinity cell's second chat replica (unless ``--replicas``).

    :meth:`launch` starts their processes without waiting, so they load while the memory
    section runs (it measures resident memory, not time); :meth:`stop` stops every one.
    """

    def __init__(self, args: argparse.Namespace, sections: list[str]) -> None:
        self.embed = bool({"embeddings", "rerank"} & set(sections))
        served = {"throughput", "embeddings", "rerank", "affinity"} & set(sections)
        external = bool(args.url and (args.embed_url or not self.embed))
        if args.url and self.embed and not args.embed_url:
            raise SystemExit("--url needs --embed-url too for the embeddings and rerank sections")
        self.embedded: Any = None
        self.replica: Any = None
        if served and not external:
            from vllm_accel.server import EmbeddedServers

            self.embedded = EmbeddedServers(embeddings=self.embed)
        if "affinity" in sections and not args.replicas:
            from vllm_accel.server import VLLMServer, chat_spec, prepare

            self.replica = VLLMServer(chat_spec(prepare(lambda _m: None)))
        self.launched_at: float | None = None

    def launch(self) -> None:
        """Start every server process (idempotent); readiness is awaited when first used."""
        if self.launched_at is not None:
            return
        every = [self.replica] + ([self.embedded.chat, self.embedded.embeddings]
                                  if self.embedded else [])
        names = [s.spec.served_model_name for s in every if s is not None]
        if names:
            log(f"launching the embedded vLLM servers ({', '.join(names)}) ...")
        for server in every:
            if server is not None:
                server.launch()
        self.launched_at = time.perf_counter()

    def stop(self) -> None:
        for server in (self.replica, self.embedded):
            if server is not None:
                server.stop()


@contextmanager
def vllm_servers(args: argparse.Namespace,
                 pre: Servers) -> Iterator[tuple[str, str | None, str]]:
    """(chat root, embeddings root or None, how): the external ones, or the embedded ones."""
    if pre.embedded is None:
        em = _root(args.embed_url) if args.embed_url else None
        yield _root(args.url), em, "external (development) server"
        return
    pre.launch()
    servers = pre.embedded.start()  # waits for both (launch is idempotent)
    em = servers.embeddings.base_url if servers.embeddings else None
    log(f"servers ready {time.perf_counter() - (pre.launched_at or 0):.0f} s after their launch"
        f" at {servers.chat.base_url}" + (f" and {em}" if em else ""))
    yield servers.chat.base_url or "", em, "embedded server started by this run"


@contextmanager
def second_replica(chat: str, replicas: str | None,
                   server: Any) -> Iterator[tuple[list[str], str]]:
    """Two chat replicas: the given ones, or ``chat`` and the launched ``server``."""
    if replicas:
        urls = [_root(u) for u in replicas.split(",") if u.strip()]
        yield urls, "external replicas (development)"
        return
    t0 = time.perf_counter()
    server.launch()
    server.wait_ready()
    log(f"second replica ready (waited {time.perf_counter() - t0:.0f} s) at {server.base_url}")
    yield [chat, server.base_url or ""], "two embedded replicas started by this run"


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
    p.add_argument("--budget", type=float, default=19.0,
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
    the chat server's); the affinity replica, launched with the others, waits idle.
    """
    reps = 1 if args.quick else args.reps
    with vllm_servers(args, pre) as (base, em, how):
        if em and "embeddings" in sections:
            log("embeddings throughput ...")
            data["embeddings"] = embeddings.run_embeddings(em, reps, log)
        if em and "rerank" in sections:
            log("rerank throughput ...")
            data["rerank"] = embeddings.run_rerank(em, reps, log)
        if pre.embedded is not None and pre.embedded.embeddings is not None:
            pre.embedded.embeddings.stop()
            log("embeddings server stopped")
        if "throughput" in sections:
            _throughput(args, sections, data, started, base, how, reps)
        if "affinity" in sections:
            with second_replica(base, args.replicas, pre.replica) as (urls, rhow):
                log(f"affinity: {len(urls)} replicas ({rhow}) ...")
                data["affinity"] = affinity.run(urls, 1, log) | {"how": rhow}


def _throughput(args: argparse.Namespace, sections: list[str], data: dict[str, Any],
                started: str, base: str, how: str, reps: int) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    # What the run has left goes to throughput (at least 2 minutes), less the reserve.
    reserve = AFFINITY_RESERVE_S if "affinity" in sections else 0.0
    budget = max(120.0, args.budget * 60 - _elapsed() - REPORT_S - reserve)
    log(f"throughput: {budget:.0f} s left in the time budget")
    only = args.paths.split(",") if args.paths else None
    tp = throughput.run(base, sizes, reps, log, budget_s=budget, only=only)
    tp["server"] = {"how": how, "version": _server_version(base), "model": "smollm2"}
    tp["measured_at"] = started
    tp["other_vllm_servers"] = data["machine"]["other_vllm_servers_at_start"]
    data["throughput"] = tp


def _sections(args: argparse.Namespace, sections: list[str], data: dict[str, Any],
              started: str, pre: Servers) -> None:
    """Every section in order; the servers launch after the timing-sensitive overhead section,
    so they load while the memory section runs."""
    plan = overhead.QUICK if args.quick else overhead.FULL
    if "imports" in sections:
        log("import times (fresh interpreter per run) ...")
        data["imports"] = imports.run(3 if args.quick else 5, log)
    if "overhead" in sections or "memory" in sections:
        with responder() as base:
            log(f"zero-cost responder at {base}")
            if "overhead" in sections:
                data["overhead"] = overhead.run(base, plan, log)
            if "memory" in sections:
                pre.launch()
                log("memory (fresh interpreter per client) ...")
                data["memory"] = memory.run(
                    base, long_tokens=5_000 if args.quick else 20_000,
                    short_tokens=500 if args.quick else 2_000,
                    requests=1_000 if args.quick else 10_000,
                    anchor_requests=500 if args.quick else 1_000, log=log)
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
    pre = Servers(args, sections)
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

"""The embedded vLLM servers of ``make bench``: chat, embeddings, and the affinity cell's two
chat replicas.

The replicas are the default chat server (:func:`vllm_accel.server.chat_spec`: LoRA and hermes
tools on) with two changes. A smaller KV cache, :data:`bench.affinity.SERVER_KV_BYTES` through
``--kv-cache-memory-bytes`` (``VLLM_CPU_KVCACHE_SPACE`` takes whole GiB only, and when set it
wins over the flag, so these servers run without it): the cell then spills with few, short
conversations. And one core each (``VLLM_CPU_OMP_THREADS_BIND`` = ``0`` and ``1``): with the
default ``nobind`` each replica runs two OpenMP threads, so two busy replicas put four spinning
threads on two cores and every engine step waits on a descheduled thread (measured at
e3768ab: TTFT p50 12.5 s, ~245 s an arm). The chat server of the throughput section keeps the
default (both cores, 1 GiB of KV cache) and stops before the affinity cell.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Any

from .affinity import SERVER_KV_BYTES

Log = Callable[[str], None]


def _root(url: str) -> str:
    return url.rstrip("/").removesuffix("/v1")


def replica_spec(models: Any, core: int, kv_bytes: int = SERVER_KV_BYTES) -> Any:
    """The default chat spec with ``kv_bytes`` of KV cache and its engine on CPU ``core`` (a
    spec whose ``env`` drops ``VLLM_CPU_KVCACHE_SPACE``, so vLLM sizes the cache from
    ``--kv-cache-memory-bytes``)."""
    from vllm_accel.server import ServerSpec, chat_spec

    class SmallKVSpec(ServerSpec):
        __slots__ = ()

        def env(self) -> dict[str, str]:
            env = ServerSpec.env(self)
            env.pop("VLLM_CPU_KVCACHE_SPACE", None)
            return env

    spec = chat_spec(models)
    spec = replace(spec, extra_args=(*spec.extra_args, "--kv-cache-memory-bytes", str(kv_bytes)),
                   extra_env=(*spec.extra_env, ("VLLM_CPU_OMP_THREADS_BIND", str(core))))
    return SmallKVSpec(**{f.name: getattr(spec, f.name) for f in fields(spec)})


class Servers:
    """The embedded vLLM servers this run needs: the chat and embeddings servers (unless
    external ones are given) and the affinity cell's two replicas (unless ``--replicas``).

    :meth:`launch` starts their processes without waiting, so they load while the memory
    section runs (it measures resident memory, not time); :meth:`stop` stops every one.
    """

    def __init__(self, args: argparse.Namespace, sections: list[str], log: Log) -> None:
        self.log = log
        self.embed = bool({"embeddings", "rerank"} & set(sections))
        served = {"throughput", "embeddings", "rerank"} & set(sections)
        external = bool(args.url and (args.embed_url or not self.embed))
        if args.url and self.embed and not args.embed_url:
            raise SystemExit("--url needs --embed-url too for the embeddings and rerank sections")
        self.embedded: Any = None
        self.replicas: list[Any] = []
        if served and not external:
            from vllm_accel.server import EmbeddedServers

            self.embedded = EmbeddedServers(embeddings=self.embed)
        if "affinity" in sections and not args.replicas:
            from vllm_accel.server import VLLMServer, prepare

            models = self.embedded.models if self.embedded else prepare(lambda _m: None)
            cores = sorted(os.sched_getaffinity(0))
            self.replicas = [VLLMServer(replica_spec(models, cores[i % len(cores)]))
                             for i in range(2)]
        self.launched_at: float | None = None

    def launch(self) -> None:
        """Start every server process (idempotent); readiness is awaited when first used."""
        if self.launched_at is not None:
            return
        every = [*self.replicas] + ([self.embedded.chat, self.embedded.embeddings]
                                    if self.embedded else [])
        names = [s.spec.served_model_name for s in every if s is not None]
        if names:
            self.log(f"launching the embedded vLLM servers ({', '.join(names)}) ...")
        for server in every:
            if server is not None:
                server.launch()
        self.launched_at = time.perf_counter()

    def since_launch(self) -> float:
        return time.perf_counter() - (self.launched_at or time.perf_counter())

    def stop_chat(self) -> None:
        """Stop the throughput section's chat server (the affinity cell has its own)."""
        if self.embedded is not None and self.replicas:
            self.embedded.chat.stop()
            self.log("chat server stopped")

    def stop(self) -> None:
        for server in (*self.replicas, self.embedded):
            if server is not None:
                server.stop()


@contextmanager
def vllm_servers(args: argparse.Namespace,
                 pre: Servers) -> Iterator[tuple[str, str | None, str]]:
    """(chat root, embeddings root or None, how): the external ones, or the embedded ones."""
    if pre.embedded is None:
        em = _root(args.embed_url) if args.embed_url else None
        yield _root(args.url) if args.url else "", em, "external (development) server"
        return
    pre.launch()
    t0 = time.perf_counter()
    servers = pre.embedded.start()  # waits for both (launch is idempotent)
    em = servers.embeddings.base_url if servers.embeddings else None
    pre.log(f"servers ready {pre.since_launch():.0f} s after their launch (waited"
            f" {time.perf_counter() - t0:.0f} s) at {servers.chat.base_url}"
            + (f" and {em}" if em else ""))
    yield servers.chat.base_url or "", em, "embedded server started by this run"


@contextmanager
def affinity_replicas(replicas: str | None, pre: Servers) -> Iterator[tuple[list[str], str]]:
    """The affinity cell's two chat replicas: the given ones, or the launched ones."""
    if replicas:
        urls = [_root(u) for u in replicas.split(",") if u.strip()]
        yield urls, "external replicas (development)"
        return
    t0 = time.perf_counter()
    pre.launch()
    for server in pre.replicas:
        server.wait_ready()
    pre.log(f"affinity replicas ready {pre.since_launch():.0f} s after their launch (waited"
            f" {time.perf_counter() - t0:.0f} s)")
    yield ([s.base_url or "" for s in pre.replicas],
           "two embedded replicas started by this run (one core and"
           f" {SERVER_KV_BYTES / 2**20:.0f} MiB of KV cache each)")

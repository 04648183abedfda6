"""The fault matrix's vocabulary and its runner: what a cell is, and how the cells run.

``test_fault_matrix.py`` holds the table (which fault, which outcome) and the checks; this
module holds what running a cell takes: the expected-outcome and scenario records, the
calibrated timeout of the delay cells, and :class:`Matrix`, which runs the selected cells a few
at a time, each with its own client and proxies in front of the private real server.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from reliability_helpers import make_client, measure_latency
from support.faultproxy import Fault, FaultProxy

from vllm_accel import Endpoint, EndpointPool, RetryPolicy, VLLMError

MESSAGES = [{"role": "user", "content": "Say hi."}]
PROMPT = "The sky is"
BATCH = ["Apples are", "Bananas are", "Cherries are"]
MAX_TOKENS = 3
LONG_TIMEOUT = 60.0
SLOW = -1.0  # placeholder for "past the client's read timeout" (sized by calibration)
AHEAD = "server clock ahead"  # placeholder: a Date an hour ahead of ours, Retry-After 1 s later


@dataclass(frozen=True)
class Expect:
    """One cell: ``error`` None means the right answer; ``attempts`` reached the proxy."""

    error: type[VLLMError] | None = None
    attempts: int = 1
    chunks: int | None = None
    """For streams that fail: chunks the caller received before the error."""
    second: int | None = 0
    """Pool: how many of ``attempts`` reached endpoint ``b`` (None: not checked, the
    ``everywhere`` cells, where each endpoint must have been tried)."""
    causes: type[VLLMError] | None = None
    """For ``AllEndpointsFailedError``: the class of each endpoint's cause."""
    failed_items: int | None = None
    """Pool batches (one request per prompt, spread over both endpoints): how many items carry
    ``error`` (the rest are right answers); ``attempts`` None: not fixed (it depends on how many
    prompts were routed to ``a`` first), then every prompt was answered once by ``b`` and every
    attempt on ``a`` met the fault."""
    retries: int | None = None
    """The client's own count of retries (``stats().total_retries``): the attempts of faults
    that no proxy sees (a refused or black-holed connect, a TLS handshake)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: tuple[Fault, ...]
    cells: dict[str, Expect]
    refuse: float | None = None
    retry: RetryPolicy | None = None
    checks: tuple[str, ...] = field(default=())
    pool: dict[str, Expect] = field(default_factory=dict)
    """The pool column (no entry: the cell does not exist in that column)."""
    everywhere: bool = False
    """Pool: the fault (or the refusal) applies to both endpoints, not only ``a``."""
    pool_refuse: float | None = None
    """Pool: how long ``a`` refuses (default ``refuse``)."""
    target: str | None = None
    """``"blackhole"`` or ``"tls"``: the single server / endpoint ``a`` is that listener
    instead of proxy ``a`` (no proxy sees those attempts: ``Expect.retries`` counts them)."""
    client: dict[str, Any] = field(default_factory=dict)
    """Extra client arguments (``deadline``, ``max_response_bytes``)."""
    connect: float = 2.0
    """The client's connect timeout."""

    def column(self, topology: str) -> dict[str, Expect]:
        return self.cells if topology == "single" else self.pool



class Calibration:
    """The read timeout of the delay cells: comfortably above a real tiny generation here.

    Only the delay cells use it (each one outwaits it once); every other cell gets a long
    timeout, so a busy machine cannot turn them into timeouts. Eight times the worst of a few
    real generations, re-measured when the last measure is older than ``REFRESH`` seconds (the
    load of the machine, the matrix's own concurrent cells included, drifts), never under
    ``FLOOR``: a delay only has to outlast a timeout, so a short one proves what a long one
    does. Thread-safe: the cells ask for it from worker threads.
    """

    FLOOR = 1.5
    CAP = 20.0
    REFRESH = 30.0

    def __init__(self, url: str, api_key: str) -> None:
        self.url, self.api_key = url, api_key
        self.value, self.measured = self.CAP, -math.inf
        self._lock = threading.Lock()

    def timeout(self) -> float:
        with self._lock:
            if time.monotonic() - self.measured > self.REFRESH:
                latency = measure_latency(self.url, self.api_key)
                self.value = min(self.CAP, max(self.FLOOR, 8 * latency))
                self.measured = time.monotonic()
            return self.value


def make_pool_client(kind: str, urls: tuple[str, str], read_timeout: float,
                     **kwargs: Any) -> Any:
    """A sync or async client of a fresh two-endpoint pool (a fresh pool tries ``a`` first)."""
    pool = EndpointPool([Endpoint(urls[0], name="a"), Endpoint(urls[1], name="b")])
    return make_client(kind, None, read_timeout, endpoints=pool, **kwargs)


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None
    chunks: int = 0


def _call_sync(client: Any, op: str, out: Outcome) -> None:
    if op == "chat":
        out.value = client.chat(MESSAGES, max_tokens=MAX_TOKENS)
    elif op == "completions":
        out.value = client.complete(PROMPT, max_tokens=MAX_TOKENS)
    elif op == "batch":
        out.value = client.process_batch(BATCH, max_tokens=MAX_TOKENS, echo=True)
    else:
        with client.stream_chat(MESSAGES, max_tokens=MAX_TOKENS) as stream:
            for _ in stream:
                out.chunks += 1
            out.value = stream.final()


async def _call_async(client: Any, op: str, out: Outcome) -> None:
    if op == "chat":
        out.value = await client.chat(MESSAGES, max_tokens=MAX_TOKENS)
    elif op == "completions":
        out.value = await client.complete(PROMPT, max_tokens=MAX_TOKENS)
    elif op == "batch":
        out.value = await client.process_batch(BATCH, max_tokens=MAX_TOKENS, echo=True)
    else:
        async with client.stream_chat(MESSAGES, max_tokens=MAX_TOKENS) as stream:
            async for _ in stream:
                out.chunks += 1
            out.value = await stream.final()


def _resolve(fault: Fault, slow: float) -> Fault:
    if fault.seconds == SLOW:
        return Fault(fault.kind, after=fault.after, seconds=slow)
    if fault.date == AHEAD:
        ahead = time.time() + 3600
        return Fault.status_dated(fault.status_code,
                                  email.utils.formatdate(ahead + 1, usegmt=True),
                                  email.utils.formatdate(ahead, usegmt=True))
    return fault


@dataclass(frozen=True)
class Cell:
    topology: str
    scenario: Scenario
    op: str
    kind: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.topology, self.scenario.name, self.op, self.kind


@dataclass
class Ran:
    """What one cell's run left for its check: the outcome, the proxies' logs, the client."""

    out: Outcome
    proxies: tuple[FaultProxy, ...]
    client: Any
    failure: BaseException | None = None
    """The run itself broke (a hang past its bound, a proxy that would not start)."""


class Matrix:
    """Runs the selected cells ``CONCURRENCY`` at a time, before the first cell's check.

    A cell mostly waits (a delay past a timeout, a Retry-After, a refused port, backoff): run
    one after another, the ~440 cells kept the 2 cores half idle for over three minutes. Each
    cell still has its own client and its own two proxies in front of the private server, so
    what a cell proves does not change; only the server's latency grows with the load, which
    the calibration measures. Blocking work (the proxies' start and stop, the calibration, the
    sync twin) runs on this matrix's own threads, never on the event loop the async cells share.
    """

    CONCURRENCY = 6

    def __init__(self, url: str, api_key: str, listeners: dict[str, str]) -> None:
        self.url, self.api_key, self.listeners = url, api_key, listeners
        self.calibration = Calibration(url, api_key)
        self.threads = ThreadPoolExecutor(3 * self.CONCURRENCY, thread_name_prefix="matrix")

    async def run(self, cells: list[Cell]) -> dict[tuple[str, str, str, str], Ran]:
        gate = asyncio.Semaphore(self.CONCURRENCY)

        async def one(cell: Cell) -> tuple[tuple[str, str, str, str], Ran]:
            async with gate:
                return cell.key, await self._ran(cell)

        try:
            return dict(await asyncio.gather(*(one(c) for c in cells)))
        finally:
            self.threads.shutdown()

    async def _blocking(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.threads, fn, *args)

    async def _ran(self, cell: Cell) -> Ran:
        """Run ``cell`` behind its own proxy ``a`` (and ``b``, for the pool column)."""
        count = 2 if cell.topology == "pool" else 1
        ran = Ran(Outcome(), tuple(FaultProxy(self.url) for _ in range(count)), None)
        try:
            for proxy in ran.proxies:
                await self._blocking(proxy.start)
            await self._run(cell, ran)
        except Exception as exc:  # the cell's own test reports it
            ran.failure = exc
        finally:
            for proxy in ran.proxies:
                await self._blocking(proxy.stop)
        return ran

    async def _run(self, cell: Cell, ran: Ran) -> None:
        scenario, pooled, a = cell.scenario, cell.topology == "pool", ran.proxies[0]
        faulty = ran.proxies if pooled and scenario.everywhere else (a,)
        delays = any(f.seconds == SLOW for f in scenario.faults)
        calibrated = delays or SLOW in scenario.client.values()
        short = await self._blocking(self.calibration.timeout) if calibrated else LONG_TIMEOUT
        read_timeout = short if delays else LONG_TIMEOUT
        for proxy in faulty:
            proxy.script(*(_resolve(f, short + 1.5) for f in scenario.faults))
        extra: dict[str, Any] = {"retry": scenario.retry} if scenario.retry else {}
        extra |= {k: short if v == SLOW else v for k, v in scenario.client.items()}
        extra["connect"] = scenario.connect
        first = self.listeners[scenario.target] if scenario.target else a.url
        if pooled:
            ran.client = make_pool_client(cell.kind, (first, ran.proxies[1].url), read_timeout,
                                          api_key=self.api_key, **extra)
        else:
            ran.client = make_client(cell.kind, first, read_timeout, api_key=self.api_key,
                                     **extra)
        refuse = scenario.pool_refuse if pooled and scenario.pool_refuse else scenario.refuse
        if refuse is not None:
            for proxy in faulty:
                await self._blocking(proxy.refuse_for, refuse)
        await self._call(cell, ran, limit=5 * read_timeout + 30)

    async def _call(self, cell: Cell, ran: Ran, limit: float) -> None:
        """The cell's request, bounded: a hang fails the cell instead of eating the budget
        (the worst cell is 4 attempts each up to one read timeout, plus backoff)."""
        client, out = ran.client, ran.out

        def sync_run() -> None:
            try:
                _call_sync(client, cell.op, out)
            except VLLMError as exc:
                out.error = exc

        async def async_run() -> None:
            try:
                await _call_async(client, cell.op, out)
            except VLLMError as exc:
                out.error = exc

        try:
            if cell.kind == "sync":
                await asyncio.wait_for(self._blocking(sync_run), limit)
            else:
                await asyncio.wait_for(async_run(), limit)
        finally:
            if cell.kind == "sync":
                await self._blocking(client.close)
            else:
                await client.aclose()

"""The fault matrix: every injected fault x {sync, async} x {chat, stream, completions, batch}
x {single server, pool of two}.

Each cell runs a real request through :class:`FaultProxy` in front of the real vLLM server and
checks the documented outcome (``docs/reliability.md``): either the right answer (the text the
client returns is the text the server sent on the attempt that completed) or the documented typed
error; how many attempts reached the proxy (a stream is never retried once a chunk reached the
caller); for batches, every item present once, in input order; and all of it in bounded time.

The ``topology`` axis: ``single`` is one server behind one proxy; ``pool`` is a client with an
``EndpointPool`` of two endpoints, ``a`` and ``b``, two proxies in front of the same real server
(the client's failover logic meets real traffic without starting more servers). The fault is
scripted on ``a``, the endpoint a fresh pool tries first; ``b`` passes everything through, except
in the ``everywhere`` scenarios where both endpoints fail. Attempts are counted at each proxy, so
a cell proves where the request went and that nothing was sent again once a server had started
answering.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from reliability_helpers import close_client, make_client, measure_latency, run_bounded
from support.faultproxy import Blackhole, Fault, FaultProxy

from vllm_accel import (
    AllEndpointsFailedError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    DeadlineExceededError,
    Endpoint,
    EndpointPool,
    IncompleteStreamError,
    RateLimitError,
    ResponseTooLargeError,
    RetryPolicy,
    ServiceUnavailableError,
    StreamError,
    TLSError,
    VLLMError,
)

pytestmark = pytest.mark.live

TWINS = ("sync", "async")
OPS = ("chat", "stream", "completions", "batch")
TOPOLOGIES = ("single", "pool")
MESSAGES = [{"role": "user", "content": "Say hi."}]
PROMPT = "The sky is"
BATCH = ["Apples are", "Bananas are", "Cherries are"]
MAX_TOKENS = 3
LONG_TIMEOUT = 60.0
SLOW = -1.0  # placeholder for "past the client's read timeout" (sized by calibration)
AHEAD = "server clock ahead"  # placeholder: a Date an hour ahead of ours, Retry-After 1 s later
DEADLINE = {"deadline": SLOW}
"""The slow-loris and endless cells: the calibrated short timeout (above a real generation here,
so the healthy requests of a pool batch finish; far below the trickled body's minute)."""
CAP = {"max_response_bytes": 1 << 20}


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


def ok(attempts: int) -> Expect:
    return Expect(None, attempts)


def every(expect: Expect) -> dict[str, Expect]:
    return dict.fromkeys(OPS, expect)


FAILED_OVER = every(Expect(None, 2, second=1)) | {"batch": Expect(None, 4, second=None)}
"""Pool: ``a`` failed before answering; ``b`` answered (the request moved once)."""
REFUSED_OVER = every(Expect(None, 1, second=1)) | {"batch": Expect(None, 3, second=3)}
"""Pool: ``a`` refused the connection (no attempt reached it); ``b`` answered."""


def pool(single: Expect, batch: Expect, stream: Expect | None = None) -> dict[str, Expect]:
    """A pool row: ``single`` for chat and completions, ``stream``, and ``batch`` (with a pool
    a batch is one request per prompt: the fault on ``a`` hits one of them)."""
    return {"chat": single, "completions": single, "stream": stream or single, "batch": batch}


SCENARIOS = [
    Scenario("refused_then_up", (), every(ok(1)), refuse=0.3,
             retry=RetryPolicy(max_retries=6, initial_delay=0.05, max_delay=0.2, jitter=0.0),
             # Pool: a refuses for 2 s, so that even a cold client's first connect meets it.
             checks=("retried",), pool=REFUSED_OVER, pool_refuse=2.0),
    Scenario("refused_down", (), every(Expect(APIConnectionError, 0, retries=3)),
             refuse=math.inf, checks=("retried",), pool=REFUSED_OVER),
    # Pool only: both endpoints down; the retries alternate, then every endpoint's cause.
    Scenario("refused_down_everywhere", (), {}, refuse=math.inf, everywhere=True, pool=every(
        Expect(AllEndpointsFailedError, 0, second=None, causes=APIConnectionError,
               failed_items=3))),
    Scenario("reset_before_response", (Fault.reset(),), every(ok(2)), pool=FAILED_OVER),
    # Pool: a non-streamed answer cut mid-body reached no caller: it moves to b, as a single
    # server's client sends it again; a stream's 2 chunks did reach the caller: never resent.
    Scenario("cut_mid_response", (Fault.cut_after(2),), {
        "chat": ok(2), "completions": ok(2), "batch": ok(2),
        "stream": Expect(IncompleteStreamError, 1, chunks=2)},
        pool=FAILED_OVER | {"stream": Expect(IncompleteStreamError, 1, chunks=2)}),
    Scenario("rate_limited_429", (Fault.status(429, retry_after="0.3"),), every(ok(2)),
             checks=("waited_retry_after",), pool=FAILED_OVER),
    # Pool: "come back in an hour" is a's; b may answer now.
    Scenario("rate_limited_429_too_long", (Fault.status(429, retry_after="3600"),),
             every(Expect(RateLimitError, 1)), pool=FAILED_OVER),
    Scenario("unavailable_503", (Fault.status(503),), every(ok(2)), pool=FAILED_OVER),
    # Pool batch: every prompt routed to a first moves to b (1 to 3 of them).
    Scenario("unavailable_503_persistent", (Fault.status(503),) * 4,
             every(Expect(ServiceUnavailableError, 4)),
             pool=FAILED_OVER | {"batch": Expect(None, None, second=3)}),
    # Pool only: both endpoints answer 503 on every attempt: 4 attempts (max_retries 3) over
    # both, then every endpoint's cause (a batch: 3 prompts x 4 attempts).
    Scenario("unavailable_503_everywhere", (Fault.status(503),) * 12, {}, everywhere=True,
             pool=every(Expect(AllEndpointsFailedError, 4, second=None,
                               causes=ServiceUnavailableError)) | {
                 "batch": Expect(AllEndpointsFailedError, 12, second=None,
                                 causes=ServiceUnavailableError, failed_items=3)}),
    Scenario("server_error_500", (Fault.status(500),), every(ok(2)), pool=FAILED_OVER),
    Scenario("slow_headers", (Fault.delay_headers(SLOW),), every(ok(2)), pool=FAILED_OVER),
    # Pool: like the cut (a stream's 2 chunks reached the caller: its timeout is the caller's).
    Scenario("stalled_mid_response", (Fault.delay_after(2, SLOW),), {
        "chat": ok(2), "completions": ok(2), "batch": ok(2),
        "stream": Expect(APITimeoutError, 1, chunks=2)},
        pool=FAILED_OVER | {"stream": Expect(APITimeoutError, 1, chunks=2)}),
    Scenario("corrupt_json", (Fault.corrupt(after=1),), {
        "chat": Expect(APIError, 1), "completions": Expect(APIError, 1),
        "batch": Expect(APIError, 1), "stream": Expect(StreamError, 1, chunks=1)}, pool=pool(
        Expect(APIError, 1), Expect(APIError, 3, second=None, failed_items=1),
        Expect(StreamError, 1, chunks=1))),
    Scenario("split_every_byte", (Fault.split(),), every(ok(1)),
             pool=pool(ok(1), Expect(None, 3, second=None))),
    # vLLM reports errors of non-streamed requests by status (the 500 rows): in-band errors
    # exist only in streams.
    Scenario("inband_error", (Fault.inband_error(after=2),),
             {"stream": Expect(StreamError, 1, chunks=2)},
             pool={"stream": Expect(StreamError, 1, chunks=2)}),
    # Pool only: a Retry-After within the cap is a's; b is untried, so no wait at all.
    Scenario("rate_limited_429_pool_no_wait", (Fault.status(429, retry_after="20"),), {},
             checks=("no_wait",), pool=FAILED_OVER),
    # -- the faults of real networks (issue 15) ---------------------------------------------
    *(Scenario(f"live_{code}", (Fault.status(code),), every(ok(2)), pool=FAILED_OVER)
      for code in (408, 409, 502, 504)),
    *(Scenario(f"proxy_html_{code}", (Fault.html(code),), every(ok(2)), pool=FAILED_OVER)
      for code in (502, 504)),
    # A 200 that is not vLLM's JSON: an error, not retried; in a pool it counts against a.
    Scenario("html_200", (Fault.html(200),), {
        "chat": Expect(APIError, 1), "completions": Expect(APIError, 1),
        "batch": Expect(APIError, 1), "stream": Expect(StreamError, 1, chunks=0)},
        checks=("a_failed",), pool=pool(
            Expect(APIError, 1), Expect(APIError, 3, second=None, failed_items=1),
            Expect(StreamError, 1, chunks=0))),
    # The server's clock is an hour ahead: its Retry-After date is 1 s after its Date.
    Scenario("retry_after_date_server_ahead", (Fault.status_dated(503, AHEAD, AHEAD),),
             every(ok(2)), checks=("waited_retry_after",), pool=FAILED_OVER),
    # Every read is quick, the body takes minutes: the overall deadline ends it, no retry.
    Scenario("slow_loris_body", (Fault.trickle(0.1),), every(Expect(DeadlineExceededError, 1))
             | {"stream": Expect(DeadlineExceededError, 1, chunks=0)}, client=DEADLINE,
             pool=pool(Expect(DeadlineExceededError, 1),
                       Expect(DeadlineExceededError, 3, second=None, failed_items=1),
                       Expect(DeadlineExceededError, 1, chunks=0))),
    Scenario("endless_stream", (Fault.endless(),), every(Expect(DeadlineExceededError, 1))
             | {"stream": Expect(DeadlineExceededError, 1, chunks=None)}, client=DEADLINE,
             pool=pool(Expect(DeadlineExceededError, 1),
                       Expect(DeadlineExceededError, 3, second=None, failed_items=1),
                       Expect(DeadlineExceededError, 1, chunks=None))),
    Scenario("huge_response", (Fault.huge(4 << 20),), every(Expect(ResponseTooLargeError, 1))
             | {"stream": Expect(ResponseTooLargeError, 1, chunks=None)}, client=CAP,
             pool=pool(Expect(ResponseTooLargeError, 1),
                       Expect(ResponseTooLargeError, 3, second=None, failed_items=1),
                       Expect(ResponseTooLargeError, 1, chunks=None))),
    # A dropped SYN: the connect timeout, retried (single) or failed over at once (pool).
    Scenario("connect_timeout_blackhole", (), every(Expect(APITimeoutError, 0, retries=3)),
             target="blackhole", connect=0.5,
             pool=every(Expect(None, 1, second=1, retries=1))
             | {"batch": Expect(None, 3, second=3)}),
    # Our trust settings and the server's certificate disagree: not retried, not failed over,
    # no verdict on a's health.
    Scenario("tls_failure", (), every(Expect(TLSError, 0, retries=0)), target="tls",
             checks=("a_neutral",), pool={op: Expect(TLSError, 0, retries=0)
                                          for op in ("chat", "completions", "stream")}),
]
CELLS = [(t, s, op) for t in TOPOLOGIES for s in SCENARIOS for op in OPS
         if op in s.column(t)]


class Calibration:
    """The read timeout of the delay cells: comfortably above a real tiny generation here.

    Only the delay cells use it (each one outwaits it once); every other cell gets a long
    timeout, so a busy machine cannot turn them into timeouts. Eight times the worst of a few
    real generations, re-measured when the last measure is older than ``REFRESH`` seconds (the
    load of a shared machine drifts during the matrix), never under ``FLOOR``: a delay only has
    to outlast a timeout, so a short one proves what a long one does and the ~64 delay cells
    stop paying 3 s each on a quiet machine.
    """

    FLOOR = 1.5
    CAP = 20.0
    REFRESH = 30.0

    def __init__(self, url: str, api_key: str) -> None:
        self.url, self.api_key = url, api_key
        self.value, self.measured = self.CAP, -math.inf

    def timeout(self) -> float:
        if time.monotonic() - self.measured > self.REFRESH:
            latency = measure_latency(self.url, self.api_key)
            self.value = min(self.CAP, max(self.FLOOR, 8 * latency))
            self.measured = time.monotonic()
        return self.value


@pytest.fixture(scope="module")
def calibration(keyed_server_url: str, api_key: str) -> Calibration:
    return Calibration(keyed_server_url, api_key)


@pytest.fixture
def proxies(keyed_server_url: str) -> Iterator[tuple[FaultProxy, FaultProxy]]:
    """Two proxies in front of the private server (no other session's requests queue ahead):
    ``a`` is the single column's proxy and the pool's first endpoint, ``b`` the pool's second."""
    with FaultProxy(keyed_server_url) as a, FaultProxy(keyed_server_url) as b:
        yield a, b


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
    elapsed: float = 0.0


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


@pytest.fixture(scope="module")
def listeners(self_signed_tls: int) -> Iterator[dict[str, str]]:
    """The listeners no proxy fronts: a black-holed port and a TLS server with a certificate
    the client does not trust (both on loopback).

    One of each for the module: a client's timed-out connect leaves the black hole's full
    accept queue as it was (every later SYN is still dropped), and building one waits 0.1 s,
    which every one of the ~440 cells paid when it was per test."""
    with Blackhole() as hole:
        yield {"blackhole": hole.url, "tls": f"https://127.0.0.1:{self_signed_tls}"}


@pytest.mark.parametrize("kind", TWINS)
@pytest.mark.parametrize(("topology", "scenario", "op"), CELLS,
                         ids=[f"{t}-{s.name}-{op}" for t, s, op in CELLS])
async def test_fault_cell(topology: str, scenario: Scenario, op: str, kind: str,
                          proxies: tuple[FaultProxy, FaultProxy], calibration: Calibration,
                          api_key: str, listeners: dict[str, str]) -> None:
    a, b = proxies
    pooled = topology == "pool"
    faulty = (a, b) if pooled and scenario.everywhere else (a,)
    delays = any(f.seconds == SLOW for f in scenario.faults)
    calibrated = delays or SLOW in scenario.client.values()
    short_timeout = calibration.timeout() if calibrated else LONG_TIMEOUT
    read_timeout = short_timeout if delays else LONG_TIMEOUT
    slow = short_timeout + 1.5
    for proxy in faulty:
        proxy.script(*(_resolve(f, slow) for f in scenario.faults))
    extra: dict[str, Any] = {"retry": scenario.retry} if scenario.retry else {}
    extra |= {k: short_timeout if v == SLOW else v for k, v in scenario.client.items()}
    extra["connect"] = scenario.connect
    first = listeners[scenario.target] if scenario.target else a.url
    if pooled:
        client = make_pool_client(kind, (first, b.url), read_timeout, api_key=api_key, **extra)
    else:
        client = make_client(kind, first, read_timeout, api_key=api_key, **extra)
    out = Outcome()

    def sync_run() -> None:
        try:
            _call_sync(client, op, out)
        except VLLMError as exc:
            out.error = exc

    async def async_run() -> None:
        try:
            await _call_async(client, op, out)
        except VLLMError as exc:
            out.error = exc

    refuse = scenario.pool_refuse if pooled and scenario.pool_refuse else scenario.refuse
    if refuse is not None:
        for proxy in faulty:
            proxy.refuse_for(refuse)
    started = time.monotonic()
    try:
        # Bounded: the worst cell is 4 attempts each up to one read timeout, plus backoff.
        await run_bounded(kind, sync_run, async_run, limit=5 * read_timeout + 30)
    finally:
        out.elapsed = time.monotonic() - started
        await close_client(client)
    expect = scenario.column(topology)[op]
    _check(scenario, op, expect, out, (a, b) if pooled else (a,), client)


def _check(scenario: Scenario, op: str, expect: Expect, out: Outcome,
           proxies: tuple[FaultProxy, ...], client: Any) -> None:
    attempts = sorted((e for p in proxies for e in p.attempts()), key=lambda e: e.started)
    where = [(p.url, a.fault, a.status, a.broke) for p in proxies for a in p.attempts()]
    if len(proxies) == 2:  # what each endpoint's last failure was, for a failed cell
        where.append({n: repr(s.last_error) for n, s in client.pool.stats().items()})
    pooled = len(proxies) == 2
    _check_attempts(expect, attempts, proxies, client, where)
    if pooled:
        second = len(proxies[1].attempts())
        if expect.second is not None:  # a failure after answering started is never resent
            assert second == expect.second, where
        elif expect.attempts:  # everywhere: the retries went to both endpoints
            assert second >= 1, where
            assert len(proxies[0].attempts()) >= 1, where
    if op == "batch" and pooled:
        _check_pool_batch(expect, out, attempts)
    elif op == "batch":
        _check_batch(expect, out, attempts)
    elif expect.error is None:
        assert out.error is None, repr(out.error)
        assert out.value.text, "an empty answer"
        assert out.value.text == attempts[-1].text()  # what the server sent, nothing else
    else:
        assert type(out.error) is expect.error, repr(out.error)
        assert out.error.request_id, "errors carry the request id"
        _check_causes(expect, out.error)
        if expect.chunks is not None:
            assert out.chunks == expect.chunks  # no retry after these reached the caller
    if "retried" in scenario.checks and expect.error is None:
        assert client.stats().total_retries >= 1
    if "waited_retry_after" in scenario.checks and not pooled:
        assert attempts[1].started - attempts[0].started >= 0.3
    if pooled and op != "batch" and expect.error is None and expect.second:
        stats = client.pool.stats()  # a's failure is on record; b answered
        assert stats["a"].last_error, stats["a"]
        assert stats["b"].last_error is None, stats["b"]
        assert stats["b"].requests.total_requests == 1
        assert client.stats().total_retries == 1  # one failover, counted as one retry
    _check_pool_health(scenario, op, pooled, client, attempts)
    if op != "batch" and attempts:
        ids = {a.headers.get("x-request-id") for a in attempts}
        assert None not in ids, f"every attempt carries the X-Request-Id: {ids}"
        assert len(ids) == 1, f"one X-Request-Id for every attempt: {ids}"


def _check_attempts(expect: Expect, attempts: list[Any], proxies: tuple[FaultProxy, ...],
                    client: Any, where: Any) -> None:
    if expect.attempts is not None:
        assert len(attempts) == expect.attempts, where
    elif len(proxies) == 2:  # every prompt answered once by b, after each attempt on a failed
        on_a = proxies[0].attempts()
        assert on_a, where
        assert all(e.fault is not None for e in on_a), where
        assert len(attempts) == len(BATCH) + len(on_a), where
    if expect.retries is not None:  # attempts no proxy saw (refused, black-holed, TLS)
        assert client.stats().total_retries == expect.retries, client.stats()


def _check_pool_health(scenario: Scenario, op: str, pooled: bool, client: Any,
                       attempts: list[Any]) -> None:
    """What the pool's breaker and timing must show after the cell (pool column only)."""
    if not pooled or op == "batch":
        return
    stats = client.pool.stats()
    if "a_failed" in scenario.checks:  # a 200 that is not vLLM's answer counts against a
        assert stats["a"].consecutive_failures == 1, stats["a"]
    if "a_neutral" in scenario.checks:  # our TLS settings: no verdict on a
        assert stats["a"].consecutive_failures == 0, stats["a"]
        assert stats["a"].state == "closed", stats["a"]
    if "no_wait" in scenario.checks:  # b was untried: a's Retry-After (20 s) is not waited
        assert attempts[1].started - attempts[0].started < 10.0, attempts


def _check_causes(expect: Expect, error: BaseException) -> None:
    if expect.causes is not None:
        assert isinstance(error, AllEndpointsFailedError)
        assert set(error.causes) == {"a", "b"}, error.causes
        assert all(type(c) is expect.causes for c in error.causes.values()), error.causes


def _check_batch(expect: Expect, out: Outcome, attempts: list[Any]) -> None:
    assert out.error is None, "a batch never raises for a failed request"
    items = out.value
    assert [i.index for i in items] == [0, 1, 2]  # none lost, none duplicated, in order
    assert [i.prompt for i in items] == BATCH
    if expect.error is None:
        assert all(i.ok for i in items), [repr(i.error) for i in items]
        sent = {c["index"]: c["text"] for c in json.loads(attempts[-1].content)["choices"]}
        for item in items:
            assert item.text == sent[item.index]
            assert item.text.startswith(item.prompt)  # echo: the answer of this very prompt
    else:
        assert all(type(i.error) is expect.error for i in items), [repr(i.error) for i in items]
        for item in items:
            _check_causes(expect, item.error)


def _check_pool_batch(expect: Expect, out: Outcome, attempts: list[Any]) -> None:
    """A pool's batch: one request per prompt over both endpoints. Every item once, in order;
    ``failed_items`` of them carry the error; every other one is the answer its own request
    got, from exactly one completed exchange (nothing was sent again once answered)."""
    assert out.error is None, "a batch never raises for a failed request"
    items = out.value
    assert [i.index for i in items] == [0, 1, 2]  # none lost, none duplicated, in order
    assert [i.prompt for i in items] == BATCH
    failed = [i for i in items if not i.ok]
    assert len(failed) == (expect.failed_items or 0), [repr(i.error) for i in items]
    for item in failed:
        assert type(item.error) is expect.error, repr(item.error)
        _check_causes(expect, item.error)
    answered = [e for e in attempts if e.completed and e.status == 200]
    for item in items:
        mine = [e for e in answered if e.body.get("prompt") == item.prompt]
        if item.ok:
            assert len(mine) == 1, (item.prompt, len(mine))  # answered once, never resent
            assert item.text == json.loads(mine[0].content)["choices"][0]["text"]
            assert item.text.startswith(item.prompt)  # echo: the answer of this very prompt
        elif expect.causes is None:  # answering had started, then broke: never resent
            tries = [e for e in attempts if e.body.get("prompt") == item.prompt]
            assert len(tries) == 1, (item.prompt, [(e.fault, e.status) for e in tries])
            assert tries[0].fault is not None

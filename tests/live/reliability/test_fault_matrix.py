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

The selected cells run a few at a time before the first check (``matrix_runner.Matrix``); each
cell's test checks the record its own run left.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from matrix_runner import AHEAD, BATCH, SLOW, Cell, Expect, Matrix, Outcome, Ran, Scenario
from support.faultproxy import Blackhole, Fault, FaultProxy

from vllm_accel import (
    AllEndpointsFailedError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    DeadlineExceededError,
    IncompleteStreamError,
    RateLimitError,
    ResponseTooLargeError,
    RetryPolicy,
    ServiceUnavailableError,
    StreamError,
    TLSError,
)

pytestmark = pytest.mark.live

TWINS = ("sync", "async")
OPS = ("chat", "stream", "completions", "batch")
TOPOLOGIES = ("single", "pool")
DEADLINE = {"deadline": SLOW}
"""The slow-loris and endless cells: the calibrated short timeout (above a real generation here,
so the healthy requests of a pool batch finish; far below the trickled body's minute)."""
CAP = {"max_response_bytes": 1 << 20}


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
    # A dropped SYN: the connect timeout, retried (single) or failed over at once (pool). The
    # default 2 s connect timeout: it is the whole client's, and at 0.5 s an async cell's
    # connect to the healthy proxy b timed out once, its loop shared with 5 running cells.
    Scenario("connect_timeout_blackhole", (), every(Expect(APITimeoutError, 0, retries=3)),
             target="blackhole",
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


@pytest.fixture(scope="module")
def listeners(self_signed_tls: int) -> Iterator[dict[str, str]]:
    """The listeners no proxy fronts: a black-holed port and a TLS server with a certificate
    the client does not trust (both on loopback).

    One of each for the module: a client's timed-out connect leaves the black hole's full
    accept queue as it was (every later SYN is still dropped), and building one waits 0.1 s,
    which every one of the ~440 cells paid when it was per test."""
    with Blackhole() as hole:
        yield {"blackhole": hole.url, "tls": f"https://127.0.0.1:{self_signed_tls}"}


@pytest.fixture(scope="module")
async def matrix(request: pytest.FixtureRequest, keyed_server_url: str, api_key: str,
                 listeners: dict[str, str]) -> dict[tuple[str, str, str, str], Ran]:
    """Every selected cell of this module, run (see :class:`Matrix`)."""
    cells = [Cell(**{k: item.callspec.params[k] for k in ("topology", "scenario", "op", "kind")})
             for item in request.session.items
             if getattr(item, "originalname", None) == "test_fault_cell"
             and item.module is request.module]
    return await Matrix(keyed_server_url, api_key, listeners).run(cells)


@pytest.mark.parametrize("kind", TWINS)
@pytest.mark.parametrize(("topology", "scenario", "op"), CELLS,
                         ids=[f"{t}-{s.name}-{op}" for t, s, op in CELLS])
def test_fault_cell(topology: str, scenario: Scenario, op: str, kind: str,
                    matrix: dict[tuple[str, str, str, str], Ran]) -> None:
    ran = matrix[(topology, scenario.name, op, kind)]
    if ran.failure is not None:
        raise ran.failure
    _check(scenario, op, scenario.column(topology)[op], ran.out, ran.proxies, ran.client)


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

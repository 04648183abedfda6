"""The fault matrix: every injected fault x {sync, async} x {chat, stream, completions, batch}.

Each cell runs a real request through :class:`FaultProxy` in front of the real vLLM server and
checks the documented outcome (``docs/reliability.md``): either the right answer (the text the
client returns is the text the server sent on the attempt that completed) or the documented typed
error; how many attempts reached the proxy (a stream is never retried once a chunk reached the
caller); for batches, every item present once, in input order; and all of it in bounded time.

The ``topology`` axis has one column today, ``single`` (one server behind the proxy). The
``pool`` column (two replicas behind an ``EndpointPool``, issue #4) is added by extending
``TOPOLOGIES`` and ``make_target``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from reliability_helpers import close_client, make_client, measure_latency, run_bounded
from support.faultproxy import Fault, FaultProxy

from vllm_accel import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    IncompleteStreamError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
    StreamError,
    VLLMError,
)

pytestmark = pytest.mark.live

TWINS = ("sync", "async")
OPS = ("chat", "stream", "completions", "batch")
TOPOLOGIES = ("single",)  # + "pool" once issue #4's EndpointPool is merged
MESSAGES = [{"role": "user", "content": "Say hi."}]
PROMPT = "The sky is"
BATCH = ["Apples are", "Bananas are", "Cherries are"]
MAX_TOKENS = 3
LONG_TIMEOUT = 60.0
SLOW = -1.0  # placeholder for "past the client's read timeout" (sized by calibration)


@dataclass(frozen=True)
class Expect:
    """One cell: ``error`` None means the right answer; ``attempts`` reached the proxy."""

    error: type[VLLMError] | None = None
    attempts: int = 1
    chunks: int | None = None
    """For streams that fail: chunks the caller received before the error."""


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: tuple[Fault, ...]
    cells: dict[str, Expect]
    refuse: float | None = None
    retry: RetryPolicy | None = None
    checks: tuple[str, ...] = field(default=())


def ok(attempts: int) -> Expect:
    return Expect(None, attempts)


def every(expect: Expect) -> dict[str, Expect]:
    return dict.fromkeys(OPS, expect)


SCENARIOS = [
    Scenario("refused_then_up", (), every(ok(1)), refuse=0.3,
             retry=RetryPolicy(max_retries=6, initial_delay=0.05, max_delay=0.2, jitter=0.0),
             checks=("retried",)),
    Scenario("refused_down", (), every(Expect(APIConnectionError, 0)), refuse=math.inf),
    Scenario("reset_before_response", (Fault.reset(),), every(ok(2))),
    Scenario("cut_mid_response", (Fault.cut_after(2),), {
        "chat": ok(2), "completions": ok(2), "batch": ok(2),
        "stream": Expect(IncompleteStreamError, 1, chunks=2)}),
    Scenario("rate_limited_429", (Fault.status(429, retry_after="0.3"),), every(ok(2)),
             checks=("waited_retry_after",)),
    Scenario("rate_limited_429_too_long", (Fault.status(429, retry_after="3600"),),
             every(Expect(RateLimitError, 1))),
    Scenario("unavailable_503", (Fault.status(503),), every(ok(2))),
    Scenario("unavailable_503_persistent", (Fault.status(503),) * 4,
             every(Expect(ServiceUnavailableError, 4))),
    Scenario("server_error_500", (Fault.status(500),), every(ok(2))),
    Scenario("slow_headers", (Fault.delay_headers(SLOW),), every(ok(2))),
    Scenario("stalled_mid_response", (Fault.delay_after(2, SLOW),), {
        "chat": ok(2), "completions": ok(2), "batch": ok(2),
        "stream": Expect(APITimeoutError, 1, chunks=2)}),
    Scenario("corrupt_json", (Fault.corrupt(after=1),), {
        "chat": Expect(APIError, 1), "completions": Expect(APIError, 1),
        "batch": Expect(APIError, 1), "stream": Expect(StreamError, 1, chunks=1)}),
    Scenario("split_every_byte", (Fault.split(),), every(ok(1))),
    # vLLM reports errors of non-streamed requests by status (the 500 rows): in-band errors
    # exist only in streams.
    Scenario("inband_error", (Fault.inband_error(after=2),),
             {"stream": Expect(StreamError, 1, chunks=2)}),
]
CELLS = [(s, op) for s in SCENARIOS for op in OPS if op in s.cells]


@pytest.fixture(scope="module")
def short_timeout(keyed_server_url: str, api_key: str) -> float:
    """The read timeout of the delay cells: comfortably above a real tiny generation here.

    Only the delay cells use it (they must outwait it); every other cell gets a long timeout,
    so a busy machine cannot turn them into timeouts.
    """
    return min(20.0, max(3.0, 8 * measure_latency(keyed_server_url, api_key)))


@pytest.fixture(scope="module", params=TOPOLOGIES)
def topology(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def proxy(keyed_server_url: str, topology: str) -> Iterator[FaultProxy]:
    """The proxy in front of the private server: no other session's requests queue ahead."""
    with FaultProxy(keyed_server_url) as fault_proxy:
        yield fault_proxy


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
    return fault


@pytest.mark.parametrize("kind", TWINS)
@pytest.mark.parametrize(("scenario", "op"), CELLS,
                         ids=[f"{s.name}-{op}" for s, op in CELLS])
async def test_fault_cell(scenario: Scenario, op: str, kind: str, proxy: FaultProxy,
                          short_timeout: float, api_key: str) -> None:
    delays = any(f.seconds == SLOW for f in scenario.faults)
    read_timeout = short_timeout if delays else LONG_TIMEOUT
    slow = short_timeout + 1.5
    proxy.script(*(_resolve(f, slow) for f in scenario.faults))
    extra = {"retry": scenario.retry} if scenario.retry else {}
    client = make_client(kind, proxy.url, read_timeout, api_key=api_key, **extra)
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

    if scenario.refuse is not None:
        proxy.refuse_for(scenario.refuse)
    started = time.monotonic()
    try:
        # Bounded: the worst cell is 4 attempts each up to one read timeout, plus backoff.
        await run_bounded(kind, sync_run, async_run, limit=5 * read_timeout + 30)
    finally:
        out.elapsed = time.monotonic() - started
        await close_client(client)
    expect = scenario.cells[op]
    _check(scenario, op, expect, out, proxy, client)


def _check(scenario: Scenario, op: str, expect: Expect, out: Outcome, proxy: FaultProxy,
           client: Any) -> None:
    attempts = proxy.attempts()
    assert len(attempts) == expect.attempts, [(a.fault, a.status) for a in attempts]
    if op == "batch":
        _check_batch(expect, out, attempts)
    elif expect.error is None:
        assert out.error is None, repr(out.error)
        assert out.value.text, "an empty answer"
        assert out.value.text == attempts[-1].text()  # what the server sent, nothing else
    else:
        assert type(out.error) is expect.error, repr(out.error)
        assert out.error.request_id, "errors carry the request id"
        if expect.chunks is not None:
            assert out.chunks == expect.chunks  # no retry after these reached the caller
    if "retried" in scenario.checks:
        assert client.stats().total_retries >= 1
    if "waited_retry_after" in scenario.checks:
        assert attempts[1].started - attempts[0].started >= 0.3


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

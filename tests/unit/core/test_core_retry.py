"""Retry-After parsing, backoff delays and the retry decision (pure)."""

from __future__ import annotations

import email.utils

import pytest

from vllm_accel import (
    APIConnectionError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
)
from vllm_accel._retry import (
    Attempt,
    Decision,
    FailOver,
    GiveUp,
    PoolFacts,
    Retry,
    backoff_delay,
    decide,
    parse_retry_after,
    retry_delay,
)

pytestmark = pytest.mark.unit

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("3", 3.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:00", None),  # no zone: not an HTTP date
        ("Wed, 99 Foo 2015", None),
    ],
)
def test_parse_retry_after_table(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_backoff_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=4.0, jitter=0.25)
    assert [backoff_delay(policy, n, rand=0.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_delay(policy, 1, rand=0.999) == pytest.approx(1.0 * (1 - 0.25 * 0.999))
    assert backoff_delay(policy, 10_000, rand=0.0) == 4.0  # no overflow


def test_jitter_only_shortens_the_delay() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0, jitter=0.5)
    delays = {backoff_delay(policy, 2) for _ in range(200)}
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(delays) > 1


def _status(cls: type, status: int, retry_after: float | None = None) -> object:
    return cls("x", status_code=status, retry_after=retry_after)


def test_retry_decisions() -> None:
    policy = RetryPolicy(max_retries=2, initial_delay=1.0, jitter=0.0, max_retry_after=30.0)
    busy = _status(ServiceUnavailableError, 503)
    assert retry_delay(policy, 0, busy) == 1.0  # type: ignore[arg-type]
    assert retry_delay(policy, 1, busy) == 2.0  # type: ignore[arg-type]
    assert retry_delay(policy, 2, busy) is None  # type: ignore[arg-type]
    assert retry_delay(policy, 0, busy, retryable=False) is None  # type: ignore[arg-type]
    assert retry_delay(policy, 0, _status(BadRequestError, 400)) is None  # type: ignore[arg-type]
    assert retry_delay(policy, 0, APIConnectionError("refused")) == 1.0


def test_retry_after_replaces_backoff_and_too_long_gives_up() -> None:
    policy = RetryPolicy(max_retries=3, initial_delay=1.0, jitter=0.0, max_retry_after=30.0)
    assert retry_delay(policy, 0, _status(RateLimitError, 429, 12.5)) == 12.5  # type: ignore[arg-type]
    assert retry_delay(policy, 0, _status(RateLimitError, 429, 0.0)) == 0.0  # type: ignore[arg-type]
    assert retry_delay(policy, 0, _status(RateLimitError, 429, 31.0)) is None  # type: ignore[arg-type]


def test_status_outside_the_policy_is_not_retried() -> None:
    policy = RetryPolicy(retry_statuses=frozenset({429}))
    assert retry_delay(policy, 0, _status(InternalServerError, 500)) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"max_retries": -1}, {"jitter": 1.5}, {"max_delay": -1.0}])
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# -- the one decision: Retry | FailOver | GiveUp ------------------------------------------------

DECIDE_POLICY = RetryPolicy(max_retries=2, initial_delay=1.0, jitter=0.0, max_retry_after=30.0)
BUSY = ServiceUnavailableError("busy", status_code=503)
BUSY_LONG = ServiceUnavailableError("busy", status_code=503, retry_after=90.0)
BUSY_SHORT = RateLimitError("slow down", status_code=429, retry_after=4.0)
DOWN = APIConnectionError("refused")
BAD = BadRequestError("bad", status_code=400)
GONE = NotFoundError("no adapter", status_code=404)
FRESH = PoolFacts(untried=True)
TRIED = PoolFacts(covered=True)


@pytest.mark.parametrize(
    ("attempt", "decision"),
    [
        # one server
        (Attempt(BUSY), Retry(1.0)),
        (Attempt(BUSY, retries=1), Retry(2.0)),
        (Attempt(BUSY, retries=2), GiveUp(BUSY)),
        (Attempt(BUSY, retryable=False), GiveUp(BUSY)),
        (Attempt(DOWN), Retry(1.0)),
        (Attempt(BAD), GiveUp(BAD)),
        (Attempt(GONE), GiveUp(GONE)),
        (Attempt(BUSY_SHORT), Retry(4.0)),
        (Attempt(BUSY_LONG), GiveUp(BUSY_LONG)),  # over the cap: not waited for
        # a pool: an untried endpoint at once, else the same wait as one server
        (Attempt(BUSY, pool=FRESH), FailOver(0.0)),
        (Attempt(BUSY, retries=1, pool=TRIED), FailOver(2.0)),
        (Attempt(BUSY, retries=2, pool=TRIED), GiveUp(BUSY, everywhere=True)),
        (Attempt(BUSY, retries=2, pool=PoolFacts()), GiveUp(BUSY)),
        (Attempt(DOWN, pool=FRESH), FailOver(0.0)),
        (Attempt(BUSY_SHORT, pool=TRIED), FailOver(4.0)),
        (Attempt(BUSY_LONG, pool=FRESH), FailOver(0.0)),  # that endpoint's cap: move on
        (Attempt(BUSY_LONG, pool=TRIED), GiveUp(BUSY_LONG, everywhere=True)),
        (Attempt(BUSY, retryable=False, pool=FRESH), GiveUp(BUSY)),
        (Attempt(BAD, pool=FRESH), GiveUp(BAD)),  # an answer: the same everywhere
        (Attempt(GONE, pool=PoolFacts(moved=True)), FailOver(0.0)),  # the adapter is elsewhere
        (Attempt(GONE, retries=2, pool=PoolFacts(moved=True)), GiveUp(GONE)),
        (Attempt(GONE, pool=FRESH), GiveUp(GONE)),
    ],
)
def test_decide_table(attempt: Attempt, decision: Decision) -> None:
    assert decide(DECIDE_POLICY, attempt) == decision


def test_decide_is_what_retry_delay_and_the_statuses_say() -> None:
    only_429 = RetryPolicy(retry_statuses=frozenset({429}), jitter=0.0)
    assert decide(only_429, Attempt(BUSY)) == GiveUp(BUSY)
    assert decide(only_429, Attempt(BUSY, pool=FRESH)) == GiveUp(BUSY, everywhere=False)
    assert retry_delay(DECIDE_POLICY, 1, BUSY) == 2.0

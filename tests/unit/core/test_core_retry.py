"""Retry-After parsing, backoff delays and the retry decision (pure)."""

from __future__ import annotations

import email.utils

import pytest

from vllm_accel import (
    APIConnectionError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
)
from vllm_accel._retry import backoff_delay, parse_retry_after, retry_delay

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

"""One decision per failed attempt: retry, fail over, or give up (pure).

:func:`decide` is the only place that knows the retry rules: which errors may be repeated,
the backoff, the ``Retry-After`` cap, and, with an endpoint pool, when a request moves to
another endpoint. The client's send loops (``vllm_accel._async._transport`` and its generated
sync twin) call it through ``BaseClient._retry_delay`` / ``_failover_delay``, which keep the
bookkeeping (releasing the endpoint, statistics, logging) outside the decision::

    while True:
        error = attempt()
        match decide(policy, Attempt(error, retries, retryable, pool_facts)):
            case GiveUp(error=error): raise error          # wrapped when it failed everywhere
            case Retry(delay) | FailOver(delay): sleep(delay); retries += 1

``Retry-After`` is parsed once, into ``error.retry_after``, by
:func:`vllm_accel._retry_after.parse_retry_after` (re-exported here).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._config import RetryPolicy
from ._pool import fails_over
from ._retry_after import parse_retry_after

if TYPE_CHECKING:
    from ._errors import VLLMError

__all__ = [
    "Attempt",
    "Decision",
    "FailOver",
    "GiveUp",
    "PoolFacts",
    "Retry",
    "backoff_delay",
    "decide",
    "parse_retry_after",
    "retry_delay",
]


@dataclass(frozen=True, slots=True)
class Retry:
    """Send the request again to the same server after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class FailOver:
    """Send the request again on the pool after ``delay`` seconds (0: an untried endpoint)."""

    delay: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Raise ``error``; ``everywhere``: every eligible endpoint failed (raise it as such)."""

    error: VLLMError
    everywhere: bool = False


Decision = Retry | FailOver | GiveUp


@dataclass(frozen=True, slots=True)
class PoolFacts:
    """What the pool knows after a failed attempt (the attempt's endpoint already counted)."""

    moved: bool = False
    """A 404 for a LoRA adapter that another endpoint still serves: go there."""
    untried: bool = False
    """An eligible endpoint this request has not tried yet."""
    covered: bool = False
    """Every eligible endpoint has failed this request."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """A failed attempt: its error, how many retries came before, and the pool's view."""

    error: VLLMError
    retries: int = 0
    """Retries (or failovers) already made: 0 after the first attempt."""
    retryable: bool = True
    """False for what must never be sent twice (LoRA load/unload, a stream that yielded)."""
    pool: PoolFacts | None = None
    """None for a single-server client."""


def backoff_delay(policy: RetryPolicy, attempt: int, *, rand: float | None = None) -> float:
    """Exponential backoff with jitter: ``min(initial * 2**attempt, max) * (1 - jitter * r)``.

    Args:
        policy: the retry policy.
        attempt: 0 for the first retry.
        rand: a number in [0, 1) (for tests); defaults to ``random.random()``.
    """
    base = min(policy.initial_delay * (2.0 ** min(attempt, 62)), policy.max_delay)
    r = random.random() if rand is None else rand
    return base * (1.0 - policy.jitter * r)


def decide(policy: RetryPolicy, attempt: Attempt, *, rand: float | None = None) -> Decision:
    """What to do after a failed attempt.

    Single server: :class:`Retry` after the ``Retry-After`` (at most ``max_retry_after``
    seconds; a longer one gives up) or the backoff, if the error is retryable, its status is in
    ``retry_statuses`` and retries are left; else :class:`GiveUp`.

    Pool: the same rule decides whether and when to :class:`FailOver`, at once when an untried
    endpoint is left; a ``Retry-After`` over the cap is that endpoint's and still moves to an
    untried one; a 404 for an adapter served elsewhere moves too. Errors that do not fail over
    (4xx answers) give up; when every eligible endpoint has failed, ``GiveUp.everywhere``.

    Args:
        policy: the retry policy (``max_retries``, delays, cap, statuses).
        attempt: the failed attempt.
        rand: the jitter's random number (for tests).
    """
    if attempt.pool is None:
        wait = _wait(policy, attempt, rand)
        return GiveUp(attempt.error) if wait is None else Retry(wait)
    return _decide_pooled(policy, attempt, attempt.pool, rand)


def _may_repeat(policy: RetryPolicy, attempt: Attempt) -> bool:
    return attempt.retryable and attempt.retries < policy.max_retries


def _wait(policy: RetryPolicy, attempt: Attempt, rand: float | None) -> float | None:
    """Seconds before the same request may be sent again, or None."""
    error = attempt.error
    if not _may_repeat(policy, attempt) or not error.is_retryable:
        return None
    if error.status_code is not None and error.status_code not in policy.retry_statuses:
        return None
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= policy.max_retry_after else None
    return backoff_delay(policy, attempt.retries, rand=rand)


def _decide_pooled(policy: RetryPolicy, attempt: Attempt, facts: PoolFacts,
                   rand: float | None) -> Decision:
    error = attempt.error
    if facts.moved:
        return FailOver(0.0) if _may_repeat(policy, attempt) else GiveUp(error)
    if not fails_over(error):
        return GiveUp(error)
    wait = _wait(policy, attempt, rand)
    if (wait is None and facts.untried and error.retry_after is not None
            and _may_repeat(policy, attempt) and error.status_code in policy.retry_statuses):
        wait = 0.0  # a Retry-After beyond the cap is this endpoint's: try another now
    if wait is None:
        return GiveUp(error, everywhere=facts.covered)
    return FailOver(0.0 if facts.untried else wait)


def retry_delay(
    policy: RetryPolicy, attempt: int, error: VLLMError, *, retryable: bool = True
) -> float | None:
    """Seconds to wait before retrying after ``error`` on one server, or None to give up.

    The single-server case of :func:`decide`, kept for existing callers.
    """
    decision = decide(policy, Attempt(error, attempt, retryable))
    return decision.delay if isinstance(decision, Retry) else None

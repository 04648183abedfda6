"""Pure retry decisions: the one ``Retry-After`` parser, the backoff delay, and ``retry_delay``.

Both client twins run the same loop around these functions; only the sleep differs::

    attempt = 0
    while True:
        try:
            return send()
        except VLLMError as error:
            delay = retry_delay(policy, attempt, error, retryable=call.retryable)
            if delay is None:
                raise
            sleep(delay)
            attempt += 1
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from typing import TYPE_CHECKING

from ._config import RetryPolicy

if TYPE_CHECKING:
    from ._errors import VLLMError

__all__ = ["backoff_delay", "parse_retry_after", "retry_delay"]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or None if absent or unreadable.

    Accepts delta-seconds (``"3"``, also ``"1.5"``) and an HTTP date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``); a date in the past gives ``0.0``.

    Args:
        value: the header value.
        now: the current Unix time (for tests); defaults to ``time.time()``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


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


def retry_delay(
    policy: RetryPolicy, attempt: int, error: VLLMError, *, retryable: bool = True
) -> float | None:
    """Seconds to wait before retrying after ``error``, or None to give up and raise it.

    Args:
        policy: the retry policy.
        attempt: how many retries were already made (0 before the first retry).
        error: the mapped error of the failed attempt.
        retryable: False for operations that must never be repeated (LoRA load/unload, a stream
            that already yielded a chunk).
    """
    if not retryable or attempt >= policy.max_retries or not error.is_retryable:
        return None
    status = error.status_code
    if status is not None and status not in policy.retry_statuses:
        return None
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= policy.max_retry_after else None
    return backoff_delay(policy, attempt)

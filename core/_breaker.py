"""A per-endpoint circuit breaker (pure: the clock is passed in, nothing sleeps).

::

    closed --(failure_threshold consecutive failures)--> open
    open   --(reset_timeout elapsed, next request)-----> half-open (exactly one probe in flight)
    half-open --(probe succeeds)--> closed
    half-open --(probe fails)-----> open (the timeout starts again)

Example:
    >>> now = [0.0]
    >>> breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10, clock=lambda: now[0])
    >>> breaker.record_failure()
    >>> breaker.state, breaker.allow()
    ('open', False)
    >>> now[0] = 10.0
    >>> breaker.allow(), breaker.state, breaker.allow()   # one probe only
    (True, 'half-open', False)
    >>> breaker.record_success()
    >>> breaker.state
    'closed'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker", "Clock"]

BreakerState = Literal["closed", "open", "half-open"]
Clock = Callable[[], float]
"""Seconds from an arbitrary origin (``time.monotonic`` by default; tests pass their own)."""


class CircuitBreaker:
    """Closed / open / half-open state of one endpoint. Thread-safe.

    Args:
        failure_threshold: consecutive failures that open the circuit.
        reset_timeout: seconds the circuit stays open before one probe request is let through.
        clock: the time source.
    """

    def __init__(self, *, failure_threshold: int = 3, reset_timeout: float = 10.0,
                 clock: Clock = time.monotonic) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if reset_timeout < 0:
            raise ValueError("reset_timeout must be >= 0")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state!r}, failures={self._failures})"

    @property
    def state(self) -> BreakerState:
        """The current state.

        An open circuit whose timeout elapsed reads ``open`` until :meth:`allow` lets its
        probe through.
        """
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._failures

    def available(self) -> bool:
        """Whether :meth:`allow` would let a request through now (without taking the probe)."""
        with self._lock:
            if self._state == "closed":
                return True
            if self._state == "open":
                return self._clock() - self._opened_at >= self.reset_timeout
            return not self._probing

    def allow(self) -> bool:
        """Take permission to send one request; in half-open only one probe is allowed."""
        with self._lock:
            if self._state == "closed":
                return True
            if self._state == "open":
                if self._clock() - self._opened_at < self.reset_timeout:
                    return False
                self._state = "half-open"
                self._probing = False
            if self._probing:
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        """The endpoint answered: close the circuit."""
        with self._lock:
            self._state = "closed"
            self._failures = 0
            self._probing = False

    def record_failure(self) -> None:
        """The endpoint failed (no answer or a 5xx): count it, maybe open the circuit."""
        with self._lock:
            self._failures += 1
            if self._state == "half-open" or self._failures >= self.failure_threshold:
                self._trip()

    def release(self) -> None:
        """A request taken with :meth:`allow` ended without a verdict (e.g. cancelled)."""
        with self._lock:
            self._probing = False

    def trip(self) -> None:
        """Open the circuit now (an active health check failed)."""
        with self._lock:
            self._trip()

    def _trip(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._probing = False

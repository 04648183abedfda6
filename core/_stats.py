"""Client-side request statistics, recorded at one choke point.

Every request a client makes ends in exactly one :class:`RequestRecord` (success, failure, or a
stream closed early). :meth:`StatsRecorder.snapshot` gives all-time totals and, over the last
``STATS_WINDOW`` requests, latency and time-to-first-token percentiles per endpoint and per
model (for LoRA requests the model is the adapter name).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ._config import STATS_WINDOW

__all__ = ["GroupStats", "RequestRecord", "StatsRecorder", "StatsSnapshot", "percentile"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One finished request."""

    request_id: str
    route: str
    """The route (path), e.g. ``/v1/chat/completions``."""
    model: str | None
    status: int | None
    """HTTP status of the last attempt (None if no response)."""
    latency: float
    """Seconds from the first attempt to the end (stream: until closed)."""
    ttft: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    error: str | None = None
    """Exception class name when the request failed."""
    cancelled: bool = False
    """A stream the consumer closed before the end."""
    finished_at: float = field(default_factory=time.time)

    @property
    def endpoint(self) -> str:
        """Deprecated alias of :attr:`route` (an endpoint is a server; a path is a route)."""
        warnings.warn("RequestRecord.endpoint is deprecated; use RequestRecord.route",
                      DeprecationWarning, stacklevel=2)
        return self.route

    @property
    def ok(self) -> bool:
        """True if the request succeeded (a cancelled stream counts as success)."""
        return self.error is None


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in [0, 100]) of an ascending sequence."""
    if not sorted_values:
        return None
    if not 0.0 <= q <= 100.0:
        raise ValueError("q must be in [0, 100]")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    if lo == hi:
        return float(sorted_values[lo])
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Statistics of one endpoint or model over the recent window. Times are seconds."""

    requests: int
    errors: int
    retries: int
    prompt_tokens: int
    completion_tokens: int
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    latency_mean: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    ttft_p99: float | None

    @classmethod
    def of(cls, records: Iterable[RequestRecord]) -> GroupStats:
        """Summarize records."""
        items = list(records)
        lat = sorted(r.latency for r in items)
        ttft = sorted(r.ttft for r in items if r.ttft is not None)
        return cls(
            requests=len(items),
            errors=sum(1 for r in items if not r.ok),
            retries=sum(r.retries for r in items),
            prompt_tokens=sum(r.prompt_tokens for r in items),
            completion_tokens=sum(r.completion_tokens for r in items),
            latency_p50=percentile(lat, 50), latency_p95=percentile(lat, 95),
            latency_p99=percentile(lat, 99),
            latency_mean=sum(lat) / len(lat) if lat else None,
            ttft_p50=percentile(ttft, 50), ttft_p95=percentile(ttft, 95),
            ttft_p99=percentile(ttft, 99),
        )


NO_MODEL = "(no model)"
"""The ``by_model`` group of requests that name no model: model lists, LoRA loads, metrics,
health checks."""


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """Totals since the client was created, and percentiles over the recent window."""

    total_requests: int
    total_errors: int
    total_retries: int
    prompt_tokens: int
    completion_tokens: int
    overall: GroupStats
    by_route: dict[str, GroupStats]
    """Per route (path), e.g. ``/v1/chat/completions``."""
    by_model: dict[str, GroupStats]
    """Per model or LoRA adapter name; requests that name none are under :data:`NO_MODEL`."""
    recent: tuple[RequestRecord, ...]
    """The window of records the percentiles come from, oldest first."""

    @classmethod
    def of(cls, records: tuple[RequestRecord, ...], total_requests: int, total_errors: int,
           total_retries: int, prompt_tokens: int, completion_tokens: int) -> StatsSnapshot:
        """The snapshot of these totals, with percentiles per route and model over ``records``."""
        by_route: dict[str, list[RequestRecord]] = {}
        by_model: dict[str, list[RequestRecord]] = {}
        for r in records:
            by_route.setdefault(r.route, []).append(r)
            by_model.setdefault(r.model or NO_MODEL, []).append(r)
        return cls(
            total_requests=total_requests, total_errors=total_errors,
            total_retries=total_retries, prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens, overall=GroupStats.of(records),
            by_route={k: GroupStats.of(v) for k, v in by_route.items()},
            by_model={k: GroupStats.of(v) for k, v in by_model.items()},
            recent=records,
        )

    @property
    def by_endpoint(self) -> dict[str, GroupStats]:
        """Deprecated alias of :attr:`by_route` (an endpoint is a server; a path is a route)."""
        warnings.warn("StatsSnapshot.by_endpoint is deprecated; use StatsSnapshot.by_route",
                      DeprecationWarning, stacklevel=2)
        return self.by_route

    @property
    def success_rate(self) -> float | None:
        """Fraction of requests that succeeded (None before any request)."""
        if not self.total_requests:
            return None
        return 1.0 - self.total_errors / self.total_requests


class StatsRecorder:
    """Thread-safe store of request records (one per client)."""

    def __init__(self, window: int = STATS_WINDOW) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=window)
        self._totals = [0, 0, 0, 0, 0]  # requests, errors, retries, prompt, completion tokens

    def add(self, record: RequestRecord) -> None:
        """Store one finished request."""
        with self._lock:
            self._records.append(record)
            t = self._totals
            t[0] += 1
            t[1] += 0 if record.ok else 1
            t[2] += record.retries
            t[3] += record.prompt_tokens
            t[4] += record.completion_tokens

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self._records.clear()
            self._totals = [0, 0, 0, 0, 0]

    def snapshot(self) -> StatsSnapshot:
        """Totals and per-route / per-model percentiles."""
        with self._lock:
            records = tuple(self._records)
            totals = list(self._totals)
        return StatsSnapshot.of(records, *totals)

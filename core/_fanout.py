"""Operations run on every endpoint of a pool (pure): results, errors, combined answers.

``FanOut`` collects each endpoint's result or error and decides the error the operation ends
with; ``merge_models`` and ``aggregate_statistics`` combine the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from ._errors import AllEndpointsFailedError, EndpointsFailedError, InvalidRequestError, VLLMError
from ._pool import EndpointPool, EndpointState
from ._stats import RequestRecord, StatsRecorder

if TYPE_CHECKING:  # the wire models are imported on first use (import cost)
    from ._models import ModelList, ModelStatistics

__all__ = ["FanOut", "aggregate_statistics", "merge_models"]

T = TypeVar("T")


class _TeeRecorder(StatsRecorder):
    """Records into several recorders (a fan-out call counts for the client and the endpoint)."""

    def __init__(self, *targets: StatsRecorder) -> None:
        super().__init__()
        self._targets = targets

    def add(self, record: RequestRecord) -> None:
        for target in self._targets:
            target.add(record)


class FanOut(Generic[T]):
    """The results of one operation run on several endpoints, and the error it ends with.

    Example:
        >>> ops: FanOut[int] = FanOut(pool)  # doctest: +SKIP
        >>> for state in pool.endpoints:  # doctest: +SKIP
        ...     try:
        ...         ops.ok(state, call(state))
        ...     except VLLMError as exc:
        ...         ops.failed(state, exc)
        >>> ops.check("loading adapter 'x'")  # doctest: +SKIP
    """

    def __init__(self, pool: EndpointPool) -> None:
        self.pool = pool
        self.results: dict[str, T] = {}
        self.errors: dict[str, VLLMError] = {}

    def ok(self, state: EndpointState, value: T) -> None:
        """``state`` answered ``value``."""
        self.results[state.name] = value

    def failed(self, state: EndpointState, error: VLLMError) -> None:
        """``state`` failed (its last error is kept for :meth:`EndpointPool.stats`)."""
        self.errors[state.name] = error
        state.last_error = error

    def check(self, what: str, *, partial_ok: bool = False) -> None:
        """Raise if the operation failed anywhere.

        Everywhere: :class:`AllEndpointsFailedError`; on some endpoints:
        :class:`EndpointsFailedError`, unless ``partial_ok``.
        """
        if not self.errors:
            return
        if not self.results:
            raise AllEndpointsFailedError(f"{what} failed on all {len(self.errors)} endpoint(s)",
                                          causes=self.errors)
        if not partial_ok:
            raise EndpointsFailedError(
                f"{what} failed on {len(self.errors)} of {len(self.pool)} endpoint(s) "
                f"(it succeeded on {', '.join(self.results)})", causes=self.errors)

    @staticmethod
    def recorder(client: StatsRecorder, state: EndpointState) -> StatsRecorder:
        """Where a per-endpoint call records: the client's statistics and the endpoint's."""
        return _TeeRecorder(client, state.recorder)


def merge_models(lists: Iterable[ModelList]) -> ModelList:
    """One ``/v1/models`` answer for a pool: every served name once, in first-seen order."""
    seen: dict[str, object] = {}
    cards = []
    for models in lists:
        for card in models.data:
            if card.id not in seen:
                seen[card.id] = card
                cards.append(card)
    from ._models import ModelList

    return ModelList(data=cards)


def _weighted(items: Sequence[ModelStatistics], attr: str) -> float | None:
    pairs: list[tuple[float, int]] = [
        (float(getattr(s, attr)), s.requests_processed) for s in items
        if getattr(s, attr) is not None]
    total = sum(w for _, w in pairs)
    if not pairs:
        return None
    if total == 0:
        return sum(v for v, _ in pairs) / len(pairs)
    return sum(v * w for v, w in pairs) / total


def aggregate_statistics(items: Sequence[ModelStatistics]) -> ModelStatistics:
    """Server-side statistics of one model summed over endpoints.

    Averages are weighted by requests; ``uptime`` is the youngest server's and
    ``kv_cache_usage`` the fullest one's.
    """
    if not items:
        raise InvalidRequestError("no statistics to aggregate")
    reasons: dict[str, int] = {}
    for s in items:
        for reason, count in s.requests_by_finish_reason.items():
            reasons[reason] = reasons.get(reason, 0) + count
    maxima = [s.max_tokens_per_request for s in items if s.max_tokens_per_request is not None]
    kv = [s.kv_cache_usage for s in items if s.kv_cache_usage is not None]
    uptimes = [s.uptime for s in items if s.uptime is not None]
    from ._models import ModelStatistics

    return ModelStatistics(
        model=items[0].model,
        metrics_model=items[0].metrics_model,
        requests_processed=sum(s.requests_processed for s in items),
        requests_by_finish_reason=reasons,
        prompt_tokens=sum(s.prompt_tokens for s in items),
        tokens_generated=sum(s.tokens_generated for s in items),
        avg_tokens_per_request=_weighted(items, "avg_tokens_per_request"),
        max_tokens_per_request=max(maxima) if maxima else None,
        avg_generation_time=_weighted(items, "avg_generation_time"),
        avg_time_to_first_token=_weighted(items, "avg_time_to_first_token"),
        throughput=_weighted(items, "throughput"),
        errors=sum(s.errors for s in items),
        errors_4xx=sum(s.errors_4xx for s in items),
        errors_5xx=sum(s.errors_5xx for s in items),
        requests_running=sum(s.requests_running for s in items),
        requests_waiting=sum(s.requests_waiting for s in items),
        kv_cache_usage=max(kv) if kv else None,
        uptime=min(uptimes) if uptimes else None,
    )

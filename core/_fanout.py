"""Operations run on every endpoint of a pool (pure): results, errors, combined answers.

Both client twins run a fan-out the same way: ``answers = gather([...])`` (the flavour's
primitive: results or exceptions in endpoint order), then one ``fold_*`` function here. Every
``fold_*`` goes through :func:`fold`, the one rule for what an answer means: a result, an
error to report (:class:`FanOut`), an error that is the same everywhere (raised once every
endpoint has answered), or not an error of the request at all (cancellation: raised).
``merge_models`` and ``aggregate_statistics`` combine the answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from ._errors import AllEndpointsFailedError, EndpointsFailedError, InvalidRequestError, VLLMError
from ._pool import EndpointPool, EndpointState
from ._stats import RequestRecord, StatsRecorder

if TYPE_CHECKING:  # the wire models are imported on first use (import cost)
    from ._models import LoRAAdapter, ModelList, ModelStatistics

__all__ = [
    "FanOut", "aggregate_statistics", "fold", "fold_health", "fold_learned", "fold_loads",
    "fold_models", "fold_statistics", "fold_unloads", "merge_models",
]

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


def fold(
    pool: EndpointPool,
    states: Sequence[EndpointState],
    answers: Sequence[T | BaseException],
    *,
    fatal: type[VLLMError] | tuple[type[VLLMError], ...] = (),
    on_ok: Callable[[EndpointState, T], None] | None = None,
    on_error: Callable[[EndpointState, VLLMError], T | None] | None = None,
) -> FanOut[T]:
    """Fold each endpoint's answer (in endpoint order) into a :class:`FanOut`.

    Args:
        pool: the pool asked.
        states: the endpoints asked, in the order of ``answers``.
        answers: each endpoint's result, or the exception it ended with.
        fatal: error types that are the same answer everywhere (a local check, a name
            clash): the first is raised, but only once every answer has been folded.
        on_ok: called with each result (e.g. to teach the pool what an endpoint serves).
        on_error: may turn an error into a result (``None``: it stays an error).

    Raises:
        BaseException: an answer that is not a :class:`VLLMError` (cancellation, a bug), at
            once; else the first ``fatal`` error.
    """
    ops: FanOut[T] = FanOut(pool)
    first_fatal: VLLMError | None = None
    for state, answer in zip(states, answers, strict=True):
        if not isinstance(answer, BaseException):
            ops.ok(state, answer)
            if on_ok is not None:
                on_ok(state, answer)
        elif not isinstance(answer, VLLMError):
            raise answer
        elif isinstance(answer, fatal):
            first_fatal = first_fatal or answer
        elif on_error is not None and (value := on_error(state, answer)) is not None:
            ops.ok(state, value)
        else:
            ops.failed(state, answer)
    if first_fatal is not None:
        raise first_fatal
    return ops


def fold_models(pool: EndpointPool, states: Sequence[EndpointState],
                answers: Sequence[ModelList | BaseException]) -> ModelList:
    """``models()`` on a pool: teach the pool who serves what; one merged list.

    Raises:
        AllEndpointsFailedError: no endpoint answered.
    """
    ops = fold(pool, states, answers, on_ok=pool.learn_models)
    ops.check("GET /v1/models", partial_ok=True)
    return merge_models(ops.results.values())


def fold_learned(pool: EndpointPool, states: Sequence[EndpointState],
                 answers: Sequence[ModelList | BaseException]) -> None:
    """Placement: each endpoint's ``/v1/models`` answer, or its error, teaches the pool."""
    fold(pool, states, answers, on_ok=pool.learn_models,
         on_error=lambda state, error: pool.learn_models(state, error))


def fold_health(pool: EndpointPool, states: Sequence[EndpointState],
                answers: Sequence[bool | BaseException]) -> dict[str, bool]:
    """``check_health()``: each endpoint's probe updates its circuit; name -> healthy."""
    from ._errors import APIConnectionError

    ops = fold(pool, states, answers, on_error=lambda state, error: False)
    for state in states:
        ok = ops.results[state.name]
        pool.record_health(state, ok, None if ok else APIConnectionError(
            "active health check failed"))
    return {state.name: ops.results[state.name] for state in states}


def fold_statistics(
    pool: EndpointPool, states: Sequence[EndpointState],
    answers: Sequence[ModelStatistics | BaseException],
) -> dict[str, ModelStatistics | VLLMError]:
    """``get_model_statistics_by_endpoint``: each endpoint's statistics or its error."""
    ops = fold(pool, states, answers)
    merged: dict[str, ModelStatistics | VLLMError] = {**ops.results, **ops.errors}
    return {state.name: merged[state.name] for state in states}


def fold_loads(pool: EndpointPool, name: str, states: Sequence[EndpointState],
               answers: Sequence[LoRAAdapter | BaseException]) -> LoRAAdapter:
    """``load_lora_adapter`` on a pool: every load was sent; where it is now loaded.

    Raises:
        InvalidRequestError: a local check or a name clash (the same answer everywhere).
        EndpointsFailedError: some endpoints failed (the others have it).
        AllEndpointsFailedError: no endpoint could load it.
    """
    ops = fold(pool, states, answers, fatal=InvalidRequestError,
               on_ok=lambda state, adapter: pool.add_model(state, name))
    ops.check(f"loading LoRA adapter {name!r}")
    return next(iter(ops.results.values()))


def fold_unloads(pool: EndpointPool, name: str, states: Sequence[EndpointState],
                 answers: Sequence[None | BaseException], *, missing_ok: bool) -> None:
    """``unload_lora_adapter`` on a pool: forgotten everywhere; a missing one is no failure.

    Raises:
        EndpointsFailedError: some endpoints could not be asked.
        NotFoundError: no endpoint had it and ``missing_ok`` is False.
    """
    from . import _lora
    from ._errors import NotFoundError

    # True: unloaded there; False: it was not loaded there.
    unloaded = [True if answer is None else answer for answer in answers]
    ops: FanOut[bool] = fold(
        pool, states, unloaded,
        on_error=lambda state, error: False if _lora.is_missing(error) else None)
    for state in states:
        pool.remove_model(state, name)
    ops.check(f"unloading LoRA adapter {name!r}")
    if not missing_ok and not any(ops.results.values()):
        raise NotFoundError(f"LoRA adapter {name!r} is not loaded on any endpoint",
                            status_code=404)


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

"""What a failed (or answered) attempt says about the replica that served it (pure).

The breaker judges a replica by what the replica did, not by whether an error has a status:

=====================================================  ===========  =========
what happened                                          breaker      fails over
=====================================================  ===========  =========
an answer (2xx parsed; 400/401/403/409/422, 404 of     success      409 only
an adapter or of a model it does not list)
503 or 429 (busy: vLLM's full queue)                   neutral      yes
500, 502, 504 and other 5xx; 408                       failure      yes
a 2xx whose body is not the expected JSON (an HTML     failure      no
page from a proxy, a non-vLLM server)
404 for a base model the replica lists, or for a       failure      no
generation route without a model (the replica should
serve it)
refused, reset, timed out, cut mid-body, a stream      failure      yes (before
that ended without ``[DONE]``                                       any chunk)
a local error: an illegal header, the key, our TLS     neutral      no
trust settings, the response size cap, the overall
deadline, a cancelled request
=====================================================  ===========  =========
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ._breaker import BreakerState
from ._errors import (
    APIConnectionError,
    APIStatusError,
    DeadlineExceededError,
    IncompleteStreamError,
    InvalidRequestError,
    NotFoundError,
    ResponseTooLargeError,
    TLSError,
    VLLMError,
)
from ._stats import StatsSnapshot

if TYPE_CHECKING:
    from ._call import Call
    from ._pool import EndpointState

__all__ = ["GENERATION_ROUTES", "EndpointStats", "Outcome", "counts_against", "fails_over",
           "attempt_outcome", "outcome_of"]

Outcome = Literal["success", "failure", "neutral"]
"""How an attempt ended for the endpoint's health: answered, failed, or no verdict."""

GENERATION_ROUTES = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})
_LOCAL = (InvalidRequestError, TLSError, ResponseTooLargeError, DeadlineExceededError)


def fails_over(error: VLLMError) -> bool:
    """Whether a failed attempt may move to another endpoint (nothing was answered).

    Connection failures and timeouts, and the retryable statuses (408, 409, 429, 5xx).
    """
    if isinstance(error, APIConnectionError):
        return error.is_retryable
    return isinstance(error, APIStatusError) and error.is_retryable


def counts_against(error: VLLMError) -> bool:
    """Whether an error counts against the endpoint's circuit breaker (down, not busy).

    The errors of the table above that are a failure whatever the request was; a 2xx with a
    bad body and a 404 need the request too (:func:`outcome_of`).
    """
    if isinstance(error, _LOCAL):
        return False
    if isinstance(error, APIConnectionError):
        return error.is_retryable  # not retryable: raised on our side (an illegal header)
    status = error.status_code  # 503 and 429 mean busy (vLLM's full queue), not down
    return status is not None and (status >= 500 or status == 408) and status != 503


def outcome_of(error: BaseException | None, *, cancelled: bool = False,
               model: str | None = None, route: str | None = None,
               base_models: Collection[str] = ()) -> Outcome:
    """What an ended request tells about its endpoint's health (see the table above).

    Args:
        error: the request's error, None if it was answered.
        cancelled: the caller cancelled it (no verdict).
        model: the model the request named (None: the server's default).
        route: the request's path (``/v1/chat/completions``).
        base_models: the base models the endpoint listed in ``/v1/models``.
    """
    if error is None:
        return "success"
    if cancelled or not isinstance(error, VLLMError) or isinstance(error, _LOCAL):
        return "neutral"
    if isinstance(error, IncompleteStreamError) or counts_against(error):
        return "failure"
    status = error.status_code
    if status is None:
        return "neutral"
    if 200 <= status < 300:
        return "failure"  # answered 2xx, but not what a vLLM replica answers
    if isinstance(error, NotFoundError) and (
            model in base_models or (model is None and route in GENERATION_ROUTES)):
        return "failure"
    return "neutral" if status in (429, 503) else "success"


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """One endpoint as :meth:`EndpointPool.stats` reports it."""

    name: str
    base_url: str
    state: BreakerState
    """The circuit: ``closed`` (healthy), ``open`` (out), ``half-open`` (one probe)."""
    outstanding: int
    consecutive_failures: int
    models: tuple[str, ...] | None
    """Served names known to the pool (None until learned)."""
    last_error: str | None
    requests: StatsSnapshot
    """Client-side statistics of the requests this endpoint answered or failed."""


def attempt_outcome(call: Call, state: EndpointState, error: BaseException | None,
                    cancelled: bool = False) -> Outcome:
    """What an ended attempt of ``call`` tells about the health of ``state``."""
    return outcome_of(error, cancelled=cancelled, model=call.model, route=call.pool_path,
                      base_models=state.base_models)

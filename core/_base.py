"""What both client flavours share (no I/O).

Configuration, request building, response handling, the bookkeeping around
:func:`vllm_accel._retry.decide`, the statistics choke point. The send loops are in
``vllm_accel._async._transport`` (and its generated sync twin).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from ._affinity import request_key
from ._answers import Answers
from ._call import Call
from ._capacity import ScrapeCache
from ._config import (
    CAPACITY_TTL,
    DEFAULT_MAX_RESPONSE_BYTES,
    ENV_API_KEY,
    ENV_MODEL,
    RetryPolicy,
    make_timeout,
    normalize_base_url,
)
from ._errors import (
    AllEndpointsFailedError,
    APIError,
    InvalidRequestError,
    NotFoundError,
    VLLMError,
)
from ._generation_calls import GenerationCalls
from ._health import Outcome, attempt_outcome
from ._limits import Limits, check_headers
from ._pool import Endpoint, EndpointPool, EndpointState
from ._pooling_calls import PoolingCalls
from ._response_calls import ResponseCalls
from ._retry import Attempt, GiveUp, PoolFacts, decide
from ._secret import Secret, SecretLike, to_secret
from ._stats import RequestRecord, StatsRecorder, StatsSnapshot
from ._translate import error_from_response
from ._urls import cached_origin, httpx_url, redact_url, url_path

if TYPE_CHECKING:  # the models are imported on first use (import cost)
    from ._models import Usage

__all__ = ["BaseClient", "Call"]

logger = logging.getLogger("vllm_accel")


_USER_AGENT = "vllm-accel/0.1"
_TARGETS_KEPT = 256
"""Paths whose URL and route a client memoizes (absolute URLs beyond are computed each time)."""
LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=128)


class BaseClient(Answers, GenerationCalls, PoolingCalls, ResponseCalls):
    """Configuration and the pure half of a vLLM client (see ``VLLMClient`` for the arguments)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | SecretLike | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        endpoints: EndpointPool | Sequence[Endpoint | str] | None = None,
        deadline: float | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.limits = Limits.make(deadline, max_response_bytes)
        """The default overall deadline and response size cap (``vllm_accel._limits``)."""
        self.pool: EndpointPool | None = None
        """The endpoint pool (None for a single-server client)."""
        if endpoints is not None:
            if base_url is not None:
                raise InvalidRequestError("pass either base_url or endpoints, not both")
            self.pool = (endpoints if isinstance(endpoints, EndpointPool)
                         else EndpointPool(endpoints))
            base_url = self.pool.endpoints[0].base_url
        self.base_url = normalize_base_url(base_url)
        self._api_key = to_secret(api_key if api_key is not None else os.environ.get(ENV_API_KEY))
        self.model: str | None = model or os.environ.get(ENV_MODEL) or None
        self.timeout = make_timeout(timeout)
        if retry is not None and max_retries is not None:
            raise InvalidRequestError("pass either max_retries or retry, not both")
        self.retry = retry or (RetryPolicy(max_retries=max_retries) if max_retries is not None
                               else RetryPolicy())
        self._headers = {"User-Agent": _USER_AGENT, **check_headers(headers or {})}
        self._stats = StatsRecorder()
        self._capacity_cache = ScrapeCache(CAPACITY_TTL)  # the batch default's /metrics scrape
        self._targets: dict[tuple[str, str], tuple[str, str, str | None]] = {}
        """(base URL, path or URL) -> URL, route, pool path (``_target``)."""
        self._no_batch_chat: set[str] = set()
        """Base URLs that answered 404/405 for ``/v1/chat/completions/batch``."""

    def __repr__(self) -> str:
        if self.pool is not None:
            names = [s.name for s in self.pool.endpoints]
            return f"{type(self).__name__}(endpoints={names!r}, model={self.model!r})"
        return (f"{type(self).__name__}(base_url={redact_url(self.base_url)!r}, "
                f"model={self.model!r})")

    # -- public, shared -----------------------------------------------------------------------

    def set_api_key(self, key: str | SecretLike | None) -> None:
        """Use another API key from the next request on (None removes it).

        With an endpoint pool this is the key of the endpoints that have none of their own;
        rotate one endpoint's key with ``client.pool.set_api_key(name, key)``.

        Args:
            key: the new key (str, ``Secret`` or pydantic ``SecretStr``).
        """
        self._api_key = to_secret(key)

    @property
    def has_api_key(self) -> bool:
        """Whether requests carry an ``Authorization`` header."""
        return self._api_key is not None

    def stats(self) -> StatsSnapshot:
        """Client-side statistics: totals, and p50/p95/p99 per route and per model.

        With an endpoint pool this covers every endpoint; ``client.pool.stats()`` gives each
        endpoint's own numbers, health and load.
        """
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Forget the recorded statistics."""
        self._stats.reset()

    # -- request building ---------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def _target(self, path_or_url: str) -> tuple[str, str, str | None]:
        """The URL, route and pool path of ``path_or_url`` (memoized per base URL and path)."""
        key = (self.base_url, path_or_url)
        found = self._targets.get(key)
        if found is None:
            url = self._url(path_or_url)
            absolute = path_or_url.startswith(("http://", "https://"))
            found = (url, url_path(url), None if absolute else "/" + path_or_url.lstrip("/"))
            if len(self._targets) < _TARGETS_KEPT:
                self._targets[key] = found
        return found

    def _call(
        self,
        method: str,
        path_or_url: str,
        *,
        json: Any = None,
        model: str | None = None,
        stream: bool = False,
        retryable: bool = True,
        api_key: str | SecretLike | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        files: Any = None,
        data: Any = None,
        send_api_key: bool = False,
        deadline: float | None = None,
        max_response_bytes: int | None = None,
    ) -> Call:
        if self.pool is not None and api_key is not None:
            raise InvalidRequestError(
                "a per-request api_key cannot be used with an endpoint pool (it could reach "
                "another endpoint on failover): give each Endpoint its own api_key")
        url, route, pool_path = self._target(path_or_url)
        limits = self.limits
        call = Call(
            method, url, route, json=json, model=model, stream=stream,
            retryable=retryable, api_key=None if api_key is None else to_secret(api_key),
            timeout=None if timeout is None else make_timeout(timeout), max_retries=max_retries,
            pool_path=pool_path, files=files, data=data, send_api_key=send_api_key,
            limits=(Limits(limits.deadline, limits.max_response_bytes)  # started now
                    if deadline is None and max_response_bytes is None
                    else limits.override(deadline, max_response_bytes)),
        )
        if isinstance(json, dict) and isinstance(json.get("request_id"), str):
            call.request_id = json["request_id"]  # X-Request-Id would override it otherwise
        return call

    def _request(self, http: httpx.Client | httpx.AsyncClient, call: Call,
                 target: EndpointState | None = None) -> httpx.Request:
        headers = dict(self._headers)
        headers["X-Request-Id"] = call.request_id
        url, timeout = call.url, call.timeout or self.timeout
        if target is not None:
            assert call.pool_path is not None
            url = target.base_url + call.pool_path
            if call.timeout is None and target.endpoint.timeout is not None:
                timeout = make_timeout(target.endpoint.timeout)
        key = self._key_for(call, url, target)
        timeout = call.limits.clip(timeout)
        if key is not None:
            headers["Authorization"] = f"Bearer {key.get_secret_value()}"
        if call.stream:
            headers["Accept"] = "text/event-stream"
        if call.state is not None:
            call.state.started = time.perf_counter()
        return http.build_request(call.method, httpx_url(url), json=call.json, files=call.files,
                                  data=call.data, headers=headers, timeout=timeout)

    def _key_for(self, call: Call, url: str, target: EndpointState | None) -> Secret | None:
        """The key ``url`` may carry: only to a configured server's origin, unless opted in."""
        if target is not None:
            return target.api_key or self._api_key
        if call.api_key is not None:  # passed for this very request: the caller's choice
            return call.api_key
        if self.pool is not None:  # an absolute URL: only the key of the endpoint it names
            return next((s.api_key or self._api_key for s in self.pool.endpoints
                         if cached_origin(url) == cached_origin(s.base_url)), None)
        if self._api_key is not None and (  # no key: nothing to decide
                call.send_api_key or cached_origin(url) == cached_origin(self.base_url)):
            return self._api_key
        return None

    def _model(self, model: str | None) -> str | None:
        return model or self.model

    # -- response handling and the statistics choke point -------------------------------------

    def _policy(self, call: Call) -> RetryPolicy:
        return self.retry if call.max_retries is None else self._replace_retries(call.max_retries)

    def _replace_retries(self, max_retries: int) -> RetryPolicy:
        """The client's policy with another ``max_retries`` (every other field kept)."""
        return dataclasses.replace(self.retry, max_retries=max_retries)

    def _error_from(self, call: Call, response: httpx.Response) -> APIError:
        """The typed error of a read error response (``Retry-After`` by the policy's clock)."""
        clock = self._policy(call).clock
        return error_from_response(response, request_id=call.request_id,
                                   now=None if clock is None else clock())

    def _retry_delay(self, call: Call, error: VLLMError) -> float:
        """Seconds to sleep before the next attempt; raises ``error`` (recorded) to give up."""
        error = call.limits.exceeded(error)
        decision = decide(self._policy(call), Attempt(error, call.retries, call.retryable))
        delay = None if isinstance(decision, GiveUp) else call.limits.allows(decision.delay)
        if delay is None:
            self._record(call, status=error.status_code, error=error)
            raise error
        call.retries += 1
        # Never the headers or body here: they may carry the API key or user data.
        logger.info("retry %d of %s %s [request %s] in %.2f s after %s: %s", call.retries,
                    call.method, call.route, call.request_id, delay,
                    type(error).__name__, error.message)
        return delay

    # -- the pool's decisions (the twins' pooled send loops call these) ------------------------

    def _notify_free(self) -> None:
        """An endpoint slot was released (the twins wake requests waiting for capacity)."""

    def _release(self, state: EndpointState, outcome: Outcome,
                 error: VLLMError | None = None, owner: Call | None = None) -> None:
        assert self.pool is not None
        self.pool.release(state, outcome, error, owner=owner)
        self._notify_free()

    def _acquire_now(self, call: Call) -> EndpointState | None:
        """Reserve an endpoint for the next attempt of ``call``; None: wait for a slot.

        Raises ``AllEndpointsFailedError`` (recorded) when every eligible circuit is open.
        """
        assert self.pool is not None
        try:
            state = self.pool.acquire(call.model, call.causes, owner=call,
                                      key=request_key(self.pool.policy, call.json))
        except AllEndpointsFailedError as exc:
            exc.request_id = call.request_id
            self._record(call, status=None, error=exc)
            raise
        if state is not None:
            call.last = state
        return state

    def _failover_delay(self, call: Call, state: EndpointState, error: VLLMError) -> float:
        """Seconds to wait after a failed attempt on ``state``; raises (recorded) to give up.

        The decision is :func:`vllm_accel._retry.decide`; this releases the endpoint, forgets
        a 404'd adapter there, and records and logs what was decided.
        """
        pool = self.pool
        assert pool is not None
        error = call.limits.exceeded(error)
        self._release(state, attempt_outcome(call, state, error), error, owner=call)
        call.causes[state.name] = error
        facts = PoolFacts(moved=self._forget_adapter(call, state, error),
                          untried=pool.has_untried(call.model, call.causes),
                          covered=pool.covers(call.model, call.causes))
        decision = decide(self._policy(call), Attempt(error, call.retries, call.retryable, facts))
        delay = None if isinstance(decision, GiveUp) else call.limits.allows(decision.delay)
        if delay is None:
            final: VLLMError = error
            if isinstance(decision, GiveUp) and decision.everywhere:
                final = pool.all_failed(pool.eligible(call.model), call.causes)
                final.request_id = call.request_id
            self._record(call, status=error.status_code, error=final)
            raise final
        state.recorder.add(RequestRecord(  # the endpoint's own view of the failed attempt
            request_id=call.request_id, route=call.route, model=call.model,
            status=error.status_code, latency=time.perf_counter() - call.started,
            error=type(error).__name__))
        call.retries += 1
        logger.info("failover %d of %s %s [request %s] from %s in %.2f s after %s: %s",
                    call.retries, call.method, call.route, call.request_id, state.name,
                    delay, type(error).__name__, error.message)
        return delay

    def _forget_adapter(self, call: Call, state: EndpointState, error: VLLMError) -> bool:
        """A 404 for ``call.model`` on ``state``: forget it there; whether another serves it."""
        pool = self.pool
        assert pool is not None
        if not (isinstance(error, NotFoundError) and call.model is not None
                and state.serves(call.model)):
            return False
        pool.remove_model(state, call.model)
        return any(s.serves(call.model) for s in pool.endpoints)

    def _record(
        self,
        call: Call,
        *,
        status: int | None,
        usage: Usage | None = None,
        ttft: float | None = None,
        error: BaseException | None = None,
        model: str | None = None,
        cancelled: bool = False,
    ) -> None:
        if call.lease is not None:
            lease, call.lease = call.lease, None
            failed = error if isinstance(error, VLLMError) else None
            self._release(lease, attempt_outcome(call, lease, error, cancelled), failed, owner=call)
        record = RequestRecord(
            request_id=call.request_id, route=call.route, model=model or call.model,
            status=status, latency=time.perf_counter() - call.started, ttft=ttft,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            retries=call.retries, error=type(error).__name__ if error is not None else None,
            cancelled=cancelled,
        )
        self._stats.add(record)
        if call.last is not None:
            call.last.recorder.add(record)

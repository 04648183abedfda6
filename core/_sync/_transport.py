# Generated from core/_async/_transport.py by tests/support/generate_sync.py
# (make generate); do not edit.
"""The send loop of the client: retries, pool attempts and failover, placement, health probes.

Every decision (retry or not, how long to wait, fail over or give up) is
:func:`vllm_accel._retry.decide`, called through ``BaseClient._retry_delay`` /
``_failover_delay``; this module only sends, sleeps and waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import httpx

from .._base import LIMITS, BaseClient, logger
from .._call import Call
from .._config import DEFAULT_MAX_RESPONSE_BYTES, RetryPolicy
from .._errors import APIConnectionError, VLLMError
from .._fanout import FanOut, fold_learned
from .._limits import guard
from .._pool import Endpoint, EndpointPool, EndpointState
from .._secret import SecretLike
from .._tls import default_tls
from .._translate import error_from_httpx
from ._primitives import Lock, Ticker, Wakeup, gather, sleep

if TYPE_CHECKING:
    from .client import VLLMClient

__all__ = ["Transport"]


class Transport(BaseClient):
    """Connections, the send loop and the pool machinery (see ``VLLMClient``)."""

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
        http_client: httpx.Client | None = None,
        endpoints: EndpointPool | Sequence[Endpoint | str] | None = None,
        deadline: float | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        super().__init__(base_url, api_key=api_key, model=model, timeout=timeout,
                         max_retries=max_retries, retry=retry, headers=headers,
                         endpoints=endpoints, deadline=deadline,
                         max_response_bytes=max_response_bytes)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=self.timeout, limits=LIMITS, verify=default_tls())  # shared CA load
        self._freed = Wakeup()
        self._placing = Lock()
        self._health: Ticker | None = None

    def close(self) -> None:
        """Close the connection pool (unless it was passed in) and stop health probes."""
        if self._health is not None:
            self._health.stop()
            self._health = None
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()

    # -- the send loops -------------------------------------------------------------------------

    def _sleep(self, call: Call, delay: float) -> None:
        policy = self._policy(call)
        (policy.sleep or sleep)(delay)

    def _send(self, call: Call) -> httpx.Response:
        """Send ``call`` with retries; return the 2xx response (unread when streaming)."""
        if self.pool is not None and call.pool_path is not None:
            return self._send_pooled(call)
        while True:
            request = self._request(self._http, call)
            try:
                response = guard(self._http.send(request, stream=True), call.limits)
                if not (call.stream and response.is_success):
                    try:
                        response.read()
                    finally:
                        response.close()
            except httpx.HTTPError as exc:
                error = error_from_httpx(exc, request_id=call.request_id)
            else:
                if response.is_success:
                    return response
                error = self._error_from(call, response)
            self._sleep(call, self._retry_delay(call, error))

    def _send_pooled(self, call: Call) -> httpx.Response:
        """Route ``call`` over the pool, failing over while nothing has been answered."""
        self._start_health_checks()
        self._place(call.model)
        while True:
            state = self._acquire(call)
            try:
                result = self._attempt(call, state)
            except BaseException as exc:
                if not isinstance(exc, VLLMError):  # cancelled or interrupted mid-attempt
                    self._release(state, "neutral", owner=call)
                raise
            if isinstance(result, httpx.Response):
                return result
            delay = self._failover_delay(call, state, result)
            if delay:
                self._sleep(call, delay)

    def _attempt(self, call: Call, state: EndpointState) -> httpx.Response | VLLMError:
        """One attempt on ``state``: the 2xx response, or the error to fail over from.

        On success ``call`` holds the endpoint until it is recorded. A non-streamed answer
        that breaks while its body is read is returned like any failure (the caller has seen
        nothing of it, so it may be sent again, as a single server's client does); a stream
        commits to the endpoint once its first chunk is in.
        """
        request = self._request(self._http, call, state)
        try:
            response = guard(self._http.send(request, stream=True), call.limits)
            if not response.is_success:
                try:
                    response.read()
                finally:
                    response.close()
        except httpx.HTTPError as exc:
            return error_from_httpx(exc, request_id=call.request_id)
        if not response.is_success:
            return self._error_from(call, response)
        if call.stream:
            return self._first_chunk(call, state, response)
        try:
            response.read()
        except httpx.HTTPError as exc:  # nothing reached the caller: as if it never answered
            response.close()
            return error_from_httpx(exc, request_id=call.request_id)
        call.lease = state
        return response

    def _first_chunk(self, call: Call, state: EndpointState,
                           response: httpx.Response) -> httpx.Response | VLLMError:
        """A stream fails over only until its first chunk is in; then it is put back."""
        raw = response.iter_raw()
        try:
            first = next(raw, b"")
        except httpx.HTTPError as exc:
            response.close()
            return error_from_httpx(exc, request_id=call.request_id)
        if not first:
            response.close()
            return APIConnectionError("the stream closed before its first chunk",
                                      request_id=call.request_id)
        from .._stream import replay_response

        call.lease = state
        return replay_response(response, first, raw)

    def _acquire(self, call: Call) -> EndpointState:
        while (state := self._acquire_now(call)) is None:
            self._freed.wait(0.05)  # woken by a release; the timeout covers circuit timers
        return state

    def _notify_free(self) -> None:
        self._freed.notify()

    # -- the pool's placement, per-endpoint clients and health probes ------------------------------

    def _place(self, model: str | None) -> None:
        """Learn which endpoints serve ``model``, and load it first if asked (pool only)."""
        pool = self.pool
        assert pool is not None
        if not pool.needs_models(model) and pool.load_target(model) is None:
            return
        with self._placing:
            states = pool.needs_models(model)
            answers = gather([self._on(s, max_retries=0).models for s in states])
            fold_learned(pool, states, answers)
            target = pool.load_target(model)
            if target is not None and model is not None:
                try:
                    self._on(target).load_lora_adapter(model, pool.lora_paths[model])
                except VLLMError as exc:
                    pool.record_failure(target, exc)  # the next request may pick another
                    raise
                pool.add_model(target, model)

    def _on(self, state: EndpointState, *, max_retries: int | None = None) -> VLLMClient:
        """A plain client of one pool endpoint (its own key only), sharing the connections."""
        retry = self.retry if max_retries is None else self._replace_retries(max_retries)
        child = type(self)(
            state.base_url, api_key=state.api_key or self._api_key, model=self.model,
            timeout=state.endpoint.timeout or self.timeout, headers=self._headers,
            retry=retry, http_client=self._http, deadline=self.limits.deadline,
            max_response_bytes=self.limits.max_response_bytes)
        child._stats = FanOut.recorder(self._stats, state)
        return cast("VLLMClient", child)

    def _start_health_checks(self) -> None:
        """Start the pool's periodic health probes (on the first pooled request, both twins)."""
        pool = self.pool
        if pool is None or pool.health_check_interval is None or self._health is not None:
            return
        with self._placing:  # concurrent first requests start one ticker
            if self._health is None:
                self._health = Ticker(pool.health_check_interval, self._probe_health)

    def _probe_health(self) -> Any:
        try:
            cast("VLLMClient", self).check_health()
        except Exception:  # pragma: no cover - never let the prober die
            logger.exception("active health check failed")

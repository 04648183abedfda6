"""Server-sent events: decoding on ``httpx-sse``, plus vLLM's stream protocol rules.

``httpx-sse`` turns the byte stream into events, correctly across any network chunk boundary.
:class:`SSEProtocol` (pure) then applies what vLLM's OpenAI server does on top: ``data: [DONE]``
ends the stream, ``data: {"error": {...}}`` is an error sent after the 200 status, and a stream
that stops before ``[DONE]`` was cut.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
from httpx_sse import EventSource, ServerSentEvent, SSEError

from ._errors import APITimeoutError, IncompleteStreamError, StreamError, VLLMError
from ._translate import DeadlinePassed, TooLarge, error_from_httpx, stream_error_from_event

__all__ = ["DONE", "SSEProtocol", "aiter_sse", "iter_sse"]

DONE = "[DONE]"


class SSEProtocol:
    """The per-stream state of vLLM's SSE protocol (no I/O).

    Example:
        >>> proto = SSEProtocol(request_id="r1")
        >>> proto.data_of(ServerSentEvent(data='{"choices": []}'))
        '{"choices": []}'
        >>> proto.data_of(ServerSentEvent(data="[DONE]")) is None, proto.done
        (True, True)
    """

    __slots__ = ("done", "request_id")

    def __init__(self, *, request_id: str | None = None) -> None:
        self.request_id = request_id
        self.done = False

    def data_of(self, event: ServerSentEvent) -> str | None:
        """The JSON text of a data event, or None for events to skip (``[DONE]``, empty, late).

        Raises:
            StreamError: the event is vLLM's in-band ``{"error": ...}``.
        """
        data = event.data
        if self.done or not data:
            return None
        if data == DONE:
            self.done = True
            return None
        if '"error"' in data[:32]:  # cheap pre-check; chunks start with {"id": ...
            payload = json.loads(data)
            if isinstance(payload, dict) and "error" in payload and "choices" not in payload:
                self.done = True
                raise stream_error_from_event(payload, request_id=self.request_id)
        return data

    def end(self) -> None:
        """Call when the byte stream ended.

        Raises:
            IncompleteStreamError: the stream ended before ``data: [DONE]``.
        """
        if not self.done:
            raise IncompleteStreamError(
                "the stream ended without 'data: [DONE]' (connection cut or server stopped)",
                request_id=self.request_id,
            )

    def translate(self, exc: Exception) -> VLLMError:
        """The typed error for an exception raised while reading the stream."""
        if isinstance(exc, DeadlinePassed | TooLarge):  # the client's own limits
            return error_from_httpx(exc, request_id=self.request_id)
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(
                f"timed out while streaming: {exc}", request_id=self.request_id,
                is_retryable=False,
            )
        if isinstance(exc, SSEError):
            # Only a 2xx reaches a stream: a 200 that is not SSE (a proxy's HTML page) is the
            # replica's fault, and the status tells the breaker so (``vllm_accel._health``).
            return StreamError(f"not an SSE response: {exc}", request_id=self.request_id,
                               status_code=200)
        return IncompleteStreamError(
            f"the stream was cut before 'data: [DONE]': {type(exc).__name__}: {exc}",
            request_id=self.request_id,
        )


def iter_sse(response: httpx.Response) -> Iterator[ServerSentEvent]:
    """The events of a streaming response (sync)."""
    return EventSource(response).iter_sse()


def aiter_sse(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """The events of a streaming response (async)."""
    return EventSource(response).aiter_sse()

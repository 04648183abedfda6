"""Responses API streams: typed events folded into a :class:`~vllm_accel.Response`.

Built on the chat streams' machinery (:class:`~vllm_accel._stream.StreamState`,
``httpx-sse``): entering, iterating or awaiting sends the request; leaving the ``with`` block
early closes the HTTP response, and vLLM aborts the generation. vLLM ends a Responses stream
with a terminal event instead of ``data: [DONE]``; bytes that stop before one raise
:class:`~vllm_accel.IncompleteStreamError`.

Example:
    >>> with client.stream_response("Tell me a joke.") as stream:  # doctest: +SKIP
    ...     for text in stream.text_deltas():
    ...         print(text, end="")
    ...     print(stream.final().usage)
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ._models import Usage
from ._responses import (
    TERMINAL,
    Response,
    ResponseContent,
    ResponseErrorEvent,
    ResponseEvent,
    ResponseLifecycleEvent,
    ResponseOutputItem,
    ResponseOutputItemEvent,
    ResponseTextDeltaEvent,
)
from ._stream import AsyncStream, Stream, StreamState
from ._translate import stream_error_from_event

__all__ = ["AsyncResponseStream", "ResponseAccumulator", "ResponseStream", "ResponseStreamState"]


class ResponseAccumulator:
    """Folds stream events into the :class:`Response` they describe.

    A finished stream gives the terminal event's response; a stream closed early gives the
    latest snapshot with the output received so far (text deltas joined), status unchanged.
    """

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.model = ""
        self.chunks = 0
        self.response: Response | None = None
        self.terminal = False
        self._items: dict[int, ResponseOutputItem] = {}
        self._text: dict[tuple[int, int], io.StringIO] = {}

    def add(self, event: ResponseEvent) -> None:
        """Fold one event."""
        self.chunks += 1
        if isinstance(event, ResponseLifecycleEvent):
            self.response = event.response
            self.model = event.response.model or self.model
            self.usage = event.response.usage or self.usage
            self.terminal = event.type in TERMINAL
        elif isinstance(event, ResponseOutputItemEvent):
            self._items[event.output_index] = event.item
        elif isinstance(event, ResponseTextDeltaEvent) and event.type.endswith("output_text.delta"):
            key = (event.output_index, event.content_index)
            self._text.setdefault(key, io.StringIO()).write(event.delta)

    def result(self) -> Response:
        """The response (partial if the stream was closed before its terminal event)."""
        base = self.response or Response(model=self.model)
        if self.terminal:
            return base
        output = []
        for index in sorted(self._items.keys() | {i for i, _ in self._text}):
            item = self._items.get(index) or ResponseOutputItem(role="assistant")
            texts = sorted((c, buf) for (i, c), buf in self._text.items() if i == index)
            if texts and item.type == "message":
                parts = [ResponseContent(type="output_text", text=buf.getvalue())
                         for _, buf in texts]
                item = item.model_copy(update={"content": parts})
            output.append(item)
        return base.model_copy(update={"output": output or base.output})


class ResponseStreamState(StreamState[ResponseEvent, Response]):
    """:class:`StreamState` for Responses: a terminal event, not ``[DONE]``, ends the stream."""

    def feed(self, event: Any) -> ResponseEvent | None:
        """The parsed event of one SSE event (None when it carries none).

        ``time_to_first_token`` is the time to the first text delta (the lifecycle events
        before it carry no token).
        """
        waiting = self.time_to_first_token is None
        chunk = super().feed(event)
        if waiting and chunk is not None and not isinstance(chunk, ResponseTextDeltaEvent):
            self.time_to_first_token = None
        if chunk is not None and chunk.type in TERMINAL:
            self.protocol.done = True  # nothing follows; the end of the bytes is expected
        if isinstance(chunk, ResponseErrorEvent):
            self.protocol.done = True
            raise stream_error_from_event({"error": chunk.model_dump()},
                                          request_id=self.protocol.request_id)
        return chunk


def _delta(event: ResponseEvent) -> str:
    if isinstance(event, ResponseTextDeltaEvent) and event.type == "response.output_text.delta":
        return event.delta
    return ""


class ResponseStream(Stream[ResponseEvent, Response]):
    """A streamed response: iterates typed events; ``final()`` gives the :class:`Response`."""

    def text_deltas(self) -> Iterator[str]:
        """The non-empty ``response.output_text.delta`` fragments, in order."""
        for event in self:
            text = _delta(event)
            if text:
                yield text


class AsyncResponseStream(AsyncStream[ResponseEvent, Response]):
    """Async twin of :class:`ResponseStream`."""

    async def text_deltas(self) -> AsyncIterator[str]:
        """The non-empty ``response.output_text.delta`` fragments, in order."""
        async for event in self:
            text = _delta(event)
            if text:
                yield text


"""Typed streams: context managers that iterate chunks and always close their HTTP response.

A stream sends its request when it is entered (``with``/``async with``), awaited, or first
iterated. Leaving the ``with`` block, ``close()``, or finishing the iteration closes the HTTP
response; closing early makes vLLM abort the generation. Opening is retried by the client; once
the first chunk has arrived nothing is ever retried.

Example:
    >>> with client.stream_chat([{"role": "user", "content": "Hi"}]) as stream:  # doctest: +SKIP
    ...     for text in stream.text_deltas():
    ...         print(text, end="")
    ...     print(stream.final().usage, stream.time_to_first_token)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import httpx

from ._replay import replay_response
from ._sse import aiter_sse, iter_sse
from ._stream_state import Accumulator, Finish, StreamState
from ._wakeup import HandBack, wake_reader

if TYPE_CHECKING:  # the pydantic models are imported on the first request (import cost)
    from ._models import (  # noqa: F401 (the stream classes' type arguments are strings)
        ChatCompletion,
        ChatCompletionChunk,
        Completion,
        CompletionChunk,
        Usage,
    )

__all__ = [
    "Accumulator",
    "AsyncChatStream",
    "AsyncCompletionStream",
    "AsyncRawStream",
    "AsyncStream",
    "ChatStream",
    "CompletionStream",
    "Finish",
    "RawStream",
    "Stream",
    "StreamState",
    "replay_response",
]

C = TypeVar("C")
R = TypeVar("R", covariant=True)


class _Base(Generic[C, R]):
    def __init__(self, state: StreamState[C, R], finish: Finish) -> None:
        self._state = state
        self._finish_cb = finish
        self._response: httpx.Response | None = None
        self._finished = False
        self._closed = False  # close()/aclose() was called: a reader still inside ends quietly
        self._settle_lock = threading.Lock()

    @property
    def request_id(self) -> str | None:
        """The ``X-Request-Id`` sent with this request."""
        return self._state.protocol.request_id

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds from sending the request to the first chunk (None before it arrives)."""
        return self._state.time_to_first_token

    @property
    def usage(self) -> Usage | None:
        """Token usage, from the last chunk (``stream_options.include_usage`` is on by default)."""
        return self._state.accumulator.usage

    @property
    def response(self) -> httpx.Response | None:
        """The underlying HTTP response, once sent."""
        return self._response

    def _claim(self) -> bool:
        """Mark the stream finished; True for the one caller that did it (atomic).

        The lock guards only the flag, never I/O or an ``await``: the async twin's loop is
        never blocked on it (nothing else in one loop can hold it across a switch).
        """
        with self._settle_lock:
            if self._finished:
                return False
            self._finished = True
            return True

    def _settle(self, error: BaseException | None) -> None:
        """Record the stream's end once, whoever gets here first (reader or closer)."""
        if self._claim():
            self._finish_cb(self._state, error)

    def _outcome(self) -> BaseException | None:
        return None if self._state.protocol.done else GeneratorExit()


class Stream(_Base[C, R]):
    """A synchronous stream of chunks (``ChatStream``, ``CompletionStream``, ``RawStream``)."""

    def __init__(
        self, send: Callable[[], httpx.Response], state: StreamState[C, R], finish: Finish
    ) -> None:
        super().__init__(state, finish)
        self._send = send
        self._iter: Generator[C, None, None] | None = None
        self._released = False  # the response's connection was given back (see _handed_back)
        # Orders starting the iteration, closing the response and waking its reader; held
        # only for steps that never block (a close or shutdown), never across a read.
        # Re-entrant: _release holds it while httpx's close comes back through _handed_back.
        self._io_lock = threading.RLock()

    def open(self) -> Self:
        """Send the request now (retried until a 2xx arrives) and return the stream."""
        if self._response is None and not self._finished:
            try:
                response = self._send()
            except BaseException:
                self._claim()  # the client already recorded this failure
                raise
            if isinstance(response.stream, httpx.SyncByteStream):  # always, on a sync client
                response.stream = HandBack(response.stream, self._handed_back)
            self._response = response
        return self

    def _handed_back(self, inner: httpx.SyncByteStream) -> None:
        """Close the response's stream, and mark the response released."""
        # httpx calls this at the body's end too, in the reading thread: from then on the
        # connection is the pool's (another request may take it) and no wake-up may touch it.
        with self._io_lock:
            self._released = True
            inner.close()

    def _events(self) -> Generator[C, None, None]:
        self.open()
        response = self._response
        assert response is not None
        state = self._state
        error: BaseException | None = None
        try:
            try:
                for event in iter_sse(response):
                    chunk = state.feed(event)
                    if chunk is not None:
                        yield chunk
            except httpx.HTTPError as exc:
                raise state.protocol.translate(exc) from exc
            state.protocol.end()
        except Exception as exc:
            if not self._closed:
                error = exc
                raise
            error = self._outcome()  # closed from another thread under our read: just stop
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._release()  # in the reading thread: never a socket closed under a read
            self._settle(error)

    def _release(self) -> None:
        """Close the HTTP response once (httpx may have closed it at the body's end)."""
        with self._io_lock:
            if self._released or self._response is None:
                return
            self._released = True
            self._response.close()

    def _wake(self) -> None:
        """Make a read blocked in another thread return, if the response is still open.

        Under the lock, so it never touches a connection the reader has already given back
        to the pool (another request may be using it by then).
        """
        with self._io_lock:
            if self._released or self._response is None:
                return
            if not wake_reader(self._response):  # no socket to shut down: close instead
                self._released = True
                self._response.close()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> C:
        if self._iter is None:
            with self._io_lock:  # a close() in another thread sees the iteration or stops it
                if self._iter is None and not (self._finished or self._closed):
                    self._iter = self._events()
            if self._iter is None:
                raise StopIteration
        try:
            return next(self._iter)
        except ValueError:  # "generator already executing": another thread's close()
            if self._closed:  # is running the generator's finally; the stream has ended
                raise StopIteration from None
            raise

    def close(self) -> None:
        """Close the HTTP response; vLLM stops generating. Safe to call twice.

        Another thread may call it while one iterates: that iteration then just ends, and
        the stream is recorded once (here, as cancelled unless it had ended). A reader
        blocked in a read is woken (its socket is shut down) and closes the response in its
        own thread: closing a socket under a blocked read does not wake it on Linux (see
        ``vllm_accel._wakeup``).
        """
        self._closed = True
        if self._response is None:  # never sent: nothing to close or record
            self._claim()
            return
        with self._io_lock:
            iteration = self._iter
        try:
            if iteration is not None:
                iteration.close()  # suspended between chunks: its finally runs here
        except ValueError:  # running in another thread: wake it; its own finally closes
            self._wake()
        else:
            self._release()
        self._settle(self._outcome())

    def final(self) -> R:
        """Read the rest of the stream and return the folded result (partial if closed early)."""
        for _ in self:
            pass
        return self._state.accumulator.result()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncStream(_Base[C, R]):
    """An asynchronous stream of chunks; also awaitable: ``s = await client.stream_chat(...)``."""

    def __init__(
        self,
        send: Callable[[], Awaitable[httpx.Response]],
        state: StreamState[C, R],
        finish: Finish,
    ) -> None:
        super().__init__(state, finish)
        self._send = send
        self._iter: AsyncIterator[C] | None = None

    async def open(self) -> Self:
        """Send the request now (retried until a 2xx arrives) and return the stream."""
        if self._response is None and not self._finished:
            try:
                self._response = await self._send()
            except BaseException:
                self._claim()  # the client already recorded this failure
                raise
        return self

    def __await__(self) -> Generator[Any, None, Self]:
        return self.open().__await__()

    async def _events(self) -> AsyncIterator[C]:
        await self.open()
        response = self._response
        assert response is not None
        state = self._state
        error: BaseException | None = None
        try:
            try:
                async for event in aiter_sse(response):
                    chunk = state.feed(event)
                    if chunk is not None:
                        yield chunk
            except httpx.HTTPError as exc:
                raise state.protocol.translate(exc) from exc
            state.protocol.end()
        except Exception as exc:
            if not self._closed:
                error = exc
                raise
            error = self._outcome()  # closed by another task under our read: just stop
        except BaseException as exc:
            error = exc
            raise
        finally:
            await response.aclose()
            self._settle(error)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> C:
        if self._iter is None:
            if self._finished:
                raise StopAsyncIteration
            self._iter = self._events()
        return await self._iter.__anext__()

    async def aclose(self) -> None:
        """Close the HTTP response; vLLM stops generating. Safe to call twice.

        Another task may call it while one iterates: that iteration then just ends, and the
        stream is recorded once, by whichever of the two settles it first.
        """
        self._closed = True
        if self._response is None:  # never sent: nothing to close or record
            self._claim()
            return
        await self._response.aclose()
        if self._iter is not None:
            with contextlib.suppress(RuntimeError):  # "already running": the reader settles
                await self._iter.aclose()  # type: ignore[attr-defined]
        self._settle(self._outcome())

    async def final(self) -> R:
        """Read the rest of the stream and return the folded result (partial if closed early)."""
        async for _ in self:
            pass
        return self._state.accumulator.result()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _chat_text(chunk: ChatCompletionChunk) -> str:
    return "".join(c.delta.content or "" for c in chunk.choices)


def _completion_text(chunk: CompletionChunk) -> str:
    return "".join(c.text for c in chunk.choices)


class ChatStream(Stream["ChatCompletionChunk", "ChatCompletion"]):
    """Streamed chat: iterates ``ChatCompletionChunk``; ``final()`` gives a ``ChatCompletion``."""

    def text_deltas(self) -> Iterator[str]:
        """The non-empty content fragments, in order (all choices interleaved when ``n > 1``)."""
        for chunk in self:
            text = _chat_text(chunk)
            if text:
                yield text


class AsyncChatStream(AsyncStream["ChatCompletionChunk", "ChatCompletion"]):
    """Async twin of :class:`ChatStream`."""

    async def text_deltas(self) -> AsyncIterator[str]:
        """The non-empty content fragments, in order (all choices interleaved when ``n > 1``)."""
        async for chunk in self:
            text = _chat_text(chunk)
            if text:
                yield text


class CompletionStream(Stream["CompletionChunk", "Completion"]):
    """Streamed completion: iterates ``CompletionChunk``; ``final()`` -> ``Completion``."""

    def text_deltas(self) -> Iterator[str]:
        """The non-empty text fragments, in order."""
        for chunk in self:
            text = _completion_text(chunk)
            if text:
                yield text


class AsyncCompletionStream(AsyncStream["CompletionChunk", "Completion"]):
    """Async twin of :class:`CompletionStream`."""

    async def text_deltas(self) -> AsyncIterator[str]:
        """The non-empty text fragments, in order."""
        async for chunk in self:
            text = _completion_text(chunk)
            if text:
                yield text


class RawStream(Stream[dict[str, Any], None]):
    """A stream of raw JSON events (``make_stream_request``)."""


class AsyncRawStream(AsyncStream[dict[str, Any], None]):
    """Async twin of :class:`RawStream`."""

"""A request's overall deadline and response size cap, and the header check (pure, no I/O).

Per-read timeouts (``timeout``) do not stop a body that trickles a byte at a time (slow loris)
or a stream that never ends; ``deadline`` does: seconds for the whole request, every attempt,
backoff sleep and body or stream byte included. ``max_response_bytes`` caps what one response
may send (a body, or a whole stream, counted after decompression); nothing beyond it is read.

Both twins read every response through :func:`guard` (one wrapper over httpx's byte stream, so
the read loop is the same shared code for bodies, streams, single servers and pools); when a
limit is hit, the wrapper raises an ``httpx`` error subclass that ``error_from_httpx`` turns
into :class:`~vllm_accel.DeadlineExceededError` or :class:`~vllm_accel.ResponseTooLargeError`.

Example:
    >>> limits = Limits.make(deadline=30.0, max_response_bytes=1024)
    >>> limits.clip(httpx.Timeout(600, connect=5)).read <= 30.0
    True
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from ._config import DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES
from ._errors import DeadlineExceededError, InvalidRequestError, VLLMError
from ._translate import DeadlinePassed, TooLarge

__all__ = ["DeadlinePassed", "Limits", "TooLarge", "check_headers", "guard", "split_limits"]

_LIMIT_PARAMS = ("deadline", "max_response_bytes")


def split_limits(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A call's request parameters, and its own ``deadline``/``max_response_bytes``."""
    rest = dict(params)
    return rest, {k: rest.pop(k) for k in _LIMIT_PARAMS if k in rest}


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise InvalidRequestError(f"{name} must be > 0 or None, not {value!r}")


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one request (``started`` is when it was made)."""

    deadline: float | None = DEFAULT_DEADLINE
    """Seconds for the whole request (None: no overall deadline)."""
    max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES
    """Bytes one response may send at most (None: no cap)."""
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def make(cls, deadline: float | None = DEFAULT_DEADLINE,
             max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES) -> Limits:
        """Checked limits.

        Raises:
            InvalidRequestError: a limit is not a positive number or None.
        """
        _positive("deadline", deadline)
        _positive("max_response_bytes", max_response_bytes)
        return cls(deadline, max_response_bytes)

    def override(self, deadline: float | None, max_response_bytes: int | None) -> Limits:
        """These limits with a request's own values (None keeps the client's), started now."""
        _positive("deadline", deadline)
        _positive("max_response_bytes", max_response_bytes)
        return replace(self, started=time.monotonic(),
                       deadline=self.deadline if deadline is None else deadline,
                       max_response_bytes=(self.max_response_bytes if max_response_bytes is None
                                           else max_response_bytes))

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline; may be <= 0)."""
        if self.deadline is None:
            return None
        return self.started + self.deadline - time.monotonic()

    def passed(self) -> bool:
        """Whether the deadline has passed."""
        left = self.remaining()
        return left is not None and left <= 0

    def clip(self, timeout: httpx.Timeout) -> httpx.Timeout:
        """``timeout`` with no part longer than the time left (a read never outwaits it)."""
        left = self.remaining()
        if left is None:
            return timeout
        left = max(left, 0.001)

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(connect=cap(timeout.connect), read=cap(timeout.read),
                             write=cap(timeout.write), pool=cap(timeout.pool))

    def exceeded(self, error: VLLMError) -> VLLMError:
        """``error``, or the :class:`DeadlineExceededError` it became once the deadline passed."""
        if not self.passed() or isinstance(error, DeadlineExceededError):
            return error
        late = DeadlineExceededError(
            f"the request's deadline of {self.deadline} s passed (last attempt: "
            f"{type(error).__name__}: {error.message})", request_id=error.request_id,
            status_code=error.status_code)
        late.__cause__ = error
        return late

    def allows(self, delay: float | None) -> float | None:
        """``delay`` if sleeping it leaves time for another attempt, else None (give up)."""
        left = self.remaining()
        if delay is None or (left is not None and delay >= left):
            return None
        return delay


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Extra headers, checked: names and values must be printable ASCII (as on the wire).

    Raises:
        InvalidRequestError: a header cannot be sent (its value is not shown).
    """
    out: dict[str, str] = {}
    for name, value in headers.items():
        ok_name = isinstance(name, str) and name.isascii() and name.isprintable() and name
        if not ok_name or ":" in name or " " in name:
            raise InvalidRequestError(f"invalid header name {name!r}")
        if not isinstance(value, str) or not all(" " <= c <= "~" or c == "\t" for c in value):
            raise InvalidRequestError(
                f"the value of header {name!r} cannot be sent (a control or non-ASCII "
                "character; the value is not shown)")
        out[name] = value.strip()
    return out


class _Counter:
    """Counts the bytes of one response against its limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.seen = 0

    def declared(self, response: httpx.Response) -> None:
        """Refuse a declared ``Content-Length`` over the cap before reading anything."""
        cap, length = self.limits.max_response_bytes, response.headers.get("content-length", "")
        if cap is not None and length.isdigit() and int(length) > cap:
            raise TooLarge(f"the response is larger than max_response_bytes={cap} "
                           f"(Content-Length {length})")

    def feed(self, chunk: bytes) -> bytes:
        self.seen += len(chunk)
        cap = self.limits.max_response_bytes
        if cap is not None and self.seen > cap:
            raise TooLarge(f"the response is larger than max_response_bytes={cap}")
        self.deadline_check()
        return chunk

    def deadline_check(self) -> None:
        if self.limits.passed():
            raise DeadlinePassed(f"the request's deadline of {self.limits.deadline} s passed")

    def timed_out(self, exc: httpx.TimeoutException) -> httpx.TimeoutException:
        """A read timeout at the deadline is the deadline's."""
        if self.limits.passed() and not isinstance(exc, DeadlinePassed):
            return DeadlinePassed(f"the request's deadline of {self.limits.deadline} s passed")
        return exc


class _Decoded(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response's decoded bytes as a byte stream (a compressed or already read body)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        return self._response.iter_bytes()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._response.aiter_bytes()

    def close(self) -> None:
        self._response.close()

    async def aclose(self) -> None:
        await self._response.aclose()


class _Counted(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A byte stream (sync or async) counted against one response's limits as it is read."""

    def __init__(self, stream: Any, response: httpx.Response, counter: _Counter) -> None:
        self._stream, self._response, self._counter = stream, response, counter

    def __iter__(self) -> Iterator[bytes]:
        self._counter.declared(self._response)
        try:
            for chunk in self._stream:
                yield self._counter.feed(chunk)
        except httpx.TimeoutException as exc:
            raise self._counter.timed_out(exc) from exc

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._counter.declared(self._response)
        try:
            async for chunk in self._stream:
                yield self._counter.feed(chunk)
        except httpx.TimeoutException as exc:
            raise self._counter.timed_out(exc) from exc

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


def guard(response: httpx.Response, limits: Limits) -> httpx.Response:
    """``response`` (unread, sync or async), read through ``limits``.

    The same status, headers and (decoded) bytes, but reading raises :class:`TooLarge` past
    the cap and :class:`DeadlinePassed` past the deadline. A declared ``Content-Length`` over
    the cap is refused before reading. An identity-encoded body (vLLM's) is counted in place,
    on the response's own stream (no second ``Response``: per-request cost); a compressed or
    already read one is counted the same way on its decoded bytes, in a new ``Response``.
    """
    counter = _Counter(limits)
    if (not response.is_stream_consumed  # a body read already (a mock's) is re-read below
            and response.headers.get("content-encoding", "identity") == "identity"):
        response.stream = _Counted(response.stream, response, counter)
        return response
    headers = httpx.Headers(response.headers)
    headers.pop("content-encoding", None)  # the guard passes on decoded bytes
    return httpx.Response(response.status_code, headers=headers,
                          stream=_Counted(_Decoded(response), response, counter),
                          request=response.request, extensions=response.extensions)

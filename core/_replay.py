"""A response with its first raw bytes put back in front of the rest (the pool's first-byte read).

Kept apart from ``_stream`` (module size); ``vllm_accel._stream.replay_response`` re-exports it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx

__all__ = ["replay_response"]


class _Replay(httpx.SyncByteStream):
    def __init__(self, first: bytes, rest: Iterator[bytes], response: httpx.Response) -> None:
        self._first, self._rest, self._response = first, rest, response

    def __iter__(self) -> Iterator[bytes]:
        yield self._first
        yield from self._rest

    def close(self) -> None:
        self._response.close()


class _AsyncReplay(httpx.AsyncByteStream):
    def __init__(self, first: bytes, rest: AsyncIterator[bytes],
                 response: httpx.Response) -> None:
        self._first, self._rest, self._response = first, rest, response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._first
        async for chunk in self._rest:
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


def replay_response(
    response: httpx.Response, first: bytes, rest: Iterator[bytes] | AsyncIterator[bytes]
) -> httpx.Response:
    """``response`` again, with its first raw bytes put back in front of the rest.

    The pool reads them first to know the server has started answering. Closing the new
    response closes ``response``.
    """
    stream: httpx.SyncByteStream | httpx.AsyncByteStream
    if isinstance(rest, Iterator):
        stream = _Replay(first, rest, response)
    else:
        stream = _AsyncReplay(first, rest, response)
    return httpx.Response(response.status_code, headers=response.headers, stream=stream,
                          request=response.request, extensions=response.extensions)

"""Helpers for the core live tests: run one scenario on both client twins."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

from vllm_accel._stream import AsyncStream, Stream


async def resolve(value: Any) -> Any:
    """Await ``value`` if the async twin returned an awaitable."""
    return await value if inspect.isawaitable(value) else value


async def collect(stream: Stream[Any, Any] | AsyncStream[Any, Any]) -> tuple[list[Any], Any]:
    """All chunks of a stream, and its final result."""
    if isinstance(stream, AsyncStream):
        async with stream:
            chunks = [c async for c in stream]
            return chunks, await stream.final()
    with stream:
        chunks = list(stream)
        return chunks, stream.final()


async def settled(read: Callable[[], Any], done: Callable[[Any], bool],
                  timeout: float = 5.0) -> Any:
    """Read a server counter until ``done`` holds, for up to ``timeout`` seconds.

    vLLM's ``http_requests_total`` is counted by its middleware after the answer has gone
    out, so a read right after a request can miss that request (seen in CI). The last value
    read is returned either way, so a count that never arrives still fails the caller.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = await resolve(read())
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)

"""Helpers for the core live tests: run one scenario on both client twins."""

from __future__ import annotations

import inspect
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



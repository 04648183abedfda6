"""The primitives of this flavour: the only hand-written difference between the client packages.

``vllm_accel._async._primitives`` and ``vllm_accel._sync._primitives`` define the same names
(asyncio here, threads there); every other module of ``vllm_accel._sync`` is generated from
``vllm_accel._async`` by ``tests/support/generate_sync.py`` (see ``docs/design.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

__all__ = ["Lock", "Returns", "Ticker", "Wakeup", "bounded_map", "gather", "run_blocking", "sleep"]

T = TypeVar("T")

Returns: TypeAlias = Awaitable[T]
"""What a method of this flavour returns for a result of type ``T``."""

Lock = asyncio.Lock
sleep = asyncio.sleep


async def gather(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T | BaseException]:
    """Run ``calls`` concurrently; each one's result or exception, in order."""
    return list(await asyncio.gather(*(call() for call in calls), return_exceptions=True))


async def bounded_map(calls: Sequence[Callable[[], Awaitable[T]]], limit: int,
                      on_done: Callable[[int], None]) -> list[T]:
    """Run ``calls``, at most ``limit`` at once; results in order, the first error raised.

    ``on_done(count)`` is called (by the caller's thread) each time one more call has finished.
    """
    semaphore = asyncio.Semaphore(limit)
    done = 0

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        nonlocal done
        async with semaphore:
            result = await call()
        done += 1
        on_done(done)
        return result

    return list(await asyncio.gather(*(run(call) for call in calls)))


async def run_blocking(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking ``function(*args)`` (off the event loop, if there is one)."""
    return await asyncio.to_thread(function, *args)


class Wakeup:
    """Wakes the requests waiting for a free endpoint slot."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """A slot was released."""
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Wait for the next :meth:`notify`, or ``timeout`` seconds."""
        self._event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


class Ticker:
    """Calls ``job()`` every ``interval`` seconds in the background until :meth:`stop`."""

    def __init__(self, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                await job()

        self._task = asyncio.get_running_loop().create_task(loop())

    async def stop(self) -> None:
        """Stop, and wait for the job to end."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

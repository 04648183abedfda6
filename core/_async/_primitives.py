"""The asyncio primitives of the async client: the only hand-written flavour difference.

``vllm_accel._sync._primitives`` has the same names with threads; every other module of
``vllm_accel._sync`` is generated from its ``vllm_accel._async`` twin (see
``tests/support/unasync.py``), so whatever cannot be translated mechanically lives here:

* :func:`gather`: run zero-argument callables concurrently; results or exceptions, in order.
* :func:`bounded_map`: the same with at most ``limit`` at once, ``on_done(count)`` as each
  finishes, and the first exception raised (the batch fan-out).
* :func:`sleep`, :func:`run_blocking` (``asyncio.to_thread`` here, a direct call in the sync
  twin), :class:`Lock`, :class:`Wakeup` (wait for a released endpoint slot) and
  :class:`Ticker` (a periodic background job: a task here, a daemon thread in the sync twin).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

__all__ = ["Lock", "Returns", "Ticker", "Wakeup", "bounded_map", "gather", "run_blocking", "sleep"]

T = TypeVar("T")

Returns: TypeAlias = Awaitable[T]
"""What a method of this flavour returns for a result of type ``T`` (an awaitable here)."""

Lock = asyncio.Lock
sleep = asyncio.sleep


async def gather(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T | BaseException]:
    """Run ``calls`` concurrently; each one's result or exception, in the order of ``calls``."""
    return list(await asyncio.gather(*(call() for call in calls), return_exceptions=True))


async def bounded_map(calls: Sequence[Callable[[], Awaitable[T]]], limit: int,
                      on_done: Callable[[int], None]) -> list[T]:
    """Run ``calls`` with at most ``limit`` at once; results in order, the first error raised.

    ``on_done(count)`` is called (in this task) each time one more call has finished.
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
    """Run a blocking ``function(*args)`` off the event loop (in a worker thread)."""
    return await asyncio.to_thread(function, *args)


class Wakeup:
    """Wakes the requests waiting for a free endpoint slot."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """A slot was released (callable from any code of the loop's thread)."""
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Wait for the next :meth:`notify`, or ``timeout`` seconds."""
        self._event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


class Ticker:
    """Calls ``job()`` every ``interval`` seconds in a background task until :meth:`stop`."""

    def __init__(self, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                await job()

        self._task = asyncio.get_running_loop().create_task(loop())

    async def stop(self) -> None:
        """Stop the task and wait for it to end."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

"""The primitives of this flavour: the only hand-written difference between the client packages.

``vllm_accel._sync._primitives`` and ``vllm_accel._async._primitives`` define the same names
(threads here, asyncio there); every other module of ``vllm_accel._sync`` is generated from
``vllm_accel._async`` by ``tests/support/generate_sync.py`` (see ``docs/design.md``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Annotated, Any, TypeAlias, TypeVar

__all__ = ["Lock", "Returns", "Ticker", "Wakeup", "bounded_map", "gather", "run_blocking", "sleep"]

T = TypeVar("T")

Returns: TypeAlias = Annotated[T, "returned directly"]
"""What a method of this flavour returns for a result of type ``T``."""

Lock = threading.Lock
sleep = time.sleep


def gather(calls: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run ``calls`` concurrently; each one's result or exception, in order."""
    out: list[T | BaseException] = []
    with ThreadPoolExecutor(max(1, len(calls)), "vllm-accel") as pool:
        futures = [pool.submit(call) for call in calls]
        for future in futures:
            error = future.exception()
            out.append(future.result() if error is None else error)
    return out


def bounded_map(calls: Sequence[Callable[[], T]], limit: int,
                on_done: Callable[[int], None]) -> list[T]:
    """Run ``calls``, at most ``limit`` at once; results in order, the first error raised.

    ``on_done(count)`` is called (by the caller's thread) each time one more call has finished.
    """
    # On any exception (Ctrl-C included) the queued calls never start and control returns at
    # once; the calls already running finish in their threads, their results unused.
    pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="vllm-accel")
    try:
        futures = [pool.submit(call) for call in calls]
        for done, future in enumerate(as_completed(futures), 1):
            future.result()
            on_done(done)
        results = [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def run_blocking(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking ``function(*args)`` (off the event loop, if there is one)."""
    return function(*args)


class Wakeup:
    """Wakes the requests waiting for a free endpoint slot."""

    def __init__(self) -> None:
        self._condition = threading.Condition()

    def notify(self) -> None:
        """A slot was released."""
        with self._condition:
            self._condition.notify_all()

    def wait(self, timeout: float) -> None:
        """Wait for the next :meth:`notify`, or ``timeout`` seconds."""
        with self._condition:
            self._condition.wait(timeout)


class Ticker:
    """Calls ``job()`` every ``interval`` seconds in the background until :meth:`stop`."""

    def __init__(self, interval: float, job: Callable[[], object]) -> None:
        self._stopped = threading.Event()

        def loop() -> None:
            while not self._stopped.wait(interval):
                job()

        self._thread = threading.Thread(target=loop, name="vllm-accel-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, and wait for the job to end."""
        self._stopped.set()
        self._thread.join(timeout=5)

"""The threading primitives of the sync client: the only hand-written flavour difference.

The same names as ``vllm_accel._async._primitives`` (see there); every other module of this
package is generated from its ``vllm_accel._async`` twin.
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
"""What a method of this flavour returns for a result of type ``T`` (the result itself)."""

Lock = threading.Lock
sleep = time.sleep


def gather(calls: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run ``calls`` concurrently in threads; each one's result or exception, in order."""
    out: list[T | BaseException] = []
    if len(calls) <= 1:  # no thread for a single call
        for call in calls:
            try:
                out.append(call())
            except Exception as exc:
                out.append(exc)
        return out
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="vllm-accel") as pool:
        futures = [pool.submit(call) for call in calls]
        for future in futures:
            error = future.exception()
            out.append(future.result() if error is None else error)
    return out


def bounded_map(calls: Sequence[Callable[[], T]], limit: int,
                on_done: Callable[[int], None]) -> list[T]:
    """Run ``calls`` in at most ``limit`` threads; results in order, the first error raised.

    ``on_done(count)`` is called (in the calling thread) each time one more call has finished.
    On any exception (Ctrl-C included) the queued calls are never started and control returns
    at once; the calls already running finish in their threads, their results unused.
    """
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
    """Run a blocking ``function(*args)`` (directly: this flavour blocks anyway)."""
    return function(*args)


class Wakeup:
    """Wakes the requests waiting for a free endpoint slot."""

    def __init__(self) -> None:
        self._condition = threading.Condition()

    def notify(self) -> None:
        """A slot was released (callable from any thread)."""
        with self._condition:
            self._condition.notify_all()

    def wait(self, timeout: float) -> None:
        """Wait for the next :meth:`notify`, or ``timeout`` seconds."""
        with self._condition:
            self._condition.wait(timeout)


class Ticker:
    """Calls ``job()`` every ``interval`` seconds in a daemon thread until :meth:`stop`."""

    def __init__(self, interval: float, job: Callable[[], object]) -> None:
        self._stopped = threading.Event()

        def loop() -> None:
            while not self._stopped.wait(interval):
                job()

        self._thread = threading.Thread(target=loop, name="vllm-accel-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait (up to 5 s) for it to end."""
        self._stopped.set()
        self._thread.join(timeout=5)

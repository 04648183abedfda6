"""`ChatVLLM.batch`/`abatch` as one core batch: every input runs LangChain's own ``invoke``.

Each input of a batch is invoked as usual (its own config, callbacks, run id, cache lookup,
rate limiter, streaming decision, ``on_chat_model_start``/``on_llm_end``/``on_llm_error``), so
every LangChain semantic is kept. Only the leaf changes: instead of sending its request,
``_generate`` hands it to the batch's :class:`Gather` and waits. When every input has either
handed in its request or finished without one (a cache hit, a streamed run, an error before
the request), the requests go to the core's ``process_batch(mode="chat")`` (one
``/v1/chat/completions/batch`` request for plain conversations; the core fans out what cannot go
in one, with its capacity-following concurrency) and each waiting input gets its own answer
or error.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vllm_accel import VLLMError
from vllm_accel._batch import BatchItem
from vllm_accel._batch import as_error as _as_error
from vllm_accel._integration import results_or_first_error

from ._batch_slot import SLOT, current

__all__ = ["MAX_GATHER", "AsyncGather", "Gather", "Request", "arun_batch", "current", "group",
           "run_batch"]

MAX_GATHER = 256
"""Inputs of a sync batch gathered at once (one thread each); larger batches go in waves."""

@dataclass(slots=True)
class Request:
    """One input's chat request, as ``_generate`` built it."""

    payload: list[dict[str, Any]]
    model: str | None
    params: dict[str, Any]


def group(requests: dict[int, Request]) -> list[list[int]]:
    """Indices of requests that can share one core batch (same model and parameters)."""
    groups: dict[str, list[int]] = {}
    for index in sorted(requests):
        request = requests[index]
        key = json.dumps([request.model, request.params], sort_keys=True, default=repr)
        groups.setdefault(key, []).append(index)
    return list(groups.values())


@dataclass(slots=True)
class _State:
    size: int
    requests: dict[int, Request] = field(default_factory=dict)
    settled: set[int] = field(default_factory=set)
    claimed: set[int] = field(default_factory=set)
    answers: dict[int, Any] = field(default_factory=dict)
    """index -> ChatCompletion or the VLLMError of that input."""

    def arrive(self, index: int, request: Request | None) -> bool:
        """Settle ``index`` (with its request, or none); True if it was the last."""
        if index in self.settled:
            return False
        self.settled.add(index)
        if request is not None:
            self.requests[index] = request
        return len(self.settled) == self.size

    def store(self, indices: Sequence[int], items: Sequence[BatchItem]) -> None:
        for index, item in zip(indices, items, strict=True):
            self.answers[index] = item.result if item.error is None else item.error

    def fail(self, indices: Sequence[int], exc: Exception) -> None:
        error = _as_error(exc)
        for index in indices:
            self.answers[index] = error

    def answer(self, index: int) -> Any:
        answer = self.answers.get(index)
        if isinstance(answer, VLLMError) or answer is None:
            raise answer or VLLMError("no answer for this input")
        return answer


Send = Callable[[str | None, list[list[dict[str, Any]]], dict[str, Any]], list[BatchItem]]
ASend = Callable[[str | None, list[list[dict[str, Any]]], dict[str, Any]],
                 Awaitable[list[BatchItem]]]


class Gather:
    """The rendezvous of a sync batch (one thread per input)."""

    def __init__(self, size: int, send: Send) -> None:
        self._state = _State(size)
        self._send = send
        self._lock = threading.Lock()
        self._done = threading.Event()

    def claim(self, index: int) -> bool:
        """Whether ``index`` may still hand in a request (only its first ``_generate``)."""
        with self._lock:
            fresh = index not in self._state.claimed and index not in self._state.settled
            self._state.claimed.add(index)
            return fresh

    def submit(self, index: int, request: Request) -> Any:
        """Hand in ``index``'s request; its ``ChatCompletion`` once the batch is answered."""
        self._arrive(index, request)
        self._done.wait()
        return self._state.answer(index)

    def leave(self, index: int) -> None:
        """``index`` finished without handing in a request (or after it did: no-op)."""
        self._arrive(index, None)

    def _arrive(self, index: int, request: Request | None) -> None:
        with self._lock:
            last = self._state.arrive(index, request)
        if last:
            self._flush()

    def _flush(self) -> None:
        state = self._state
        try:
            for indices in group(state.requests):
                first = state.requests[indices[0]]
                try:
                    items = self._send(first.model,
                                       [state.requests[i].payload for i in indices], first.params)
                    state.store(indices, items)
                except Exception as exc:  # the batch's failure is each input's error
                    state.fail(indices, exc)
        finally:
            self._done.set()


class AsyncGather:
    """The rendezvous of an async batch (one task per input)."""

    def __init__(self, size: int, send: ASend) -> None:
        self._state = _State(size)
        self._send = send
        self._done = asyncio.Event()

    def claim(self, index: int) -> bool:
        """Whether ``index`` may still hand in a request (only its first ``_agenerate``)."""
        fresh = index not in self._state.claimed and index not in self._state.settled
        self._state.claimed.add(index)
        return fresh

    async def submit(self, index: int, request: Request) -> Any:
        """Hand in ``index``'s request; its ``ChatCompletion`` once the batch is answered."""
        await self._arrive(index, request)
        await self._done.wait()
        return self._state.answer(index)

    async def leave(self, index: int) -> None:
        """``index`` finished without handing in a request (or after it did: no-op)."""
        await self._arrive(index, None)

    async def _arrive(self, index: int, request: Request | None) -> None:
        if self._state.arrive(index, request):
            await self._flush()

    async def _flush(self) -> None:
        state = self._state
        try:
            for indices in group(state.requests):
                first = state.requests[indices[0]]
                try:
                    items = await self._send(
                        first.model, [state.requests[i].payload for i in indices], first.params)
                    state.store(indices, items)
                except Exception as exc:  # the batch's failure is each input's error
                    state.fail(indices, exc)
        finally:
            self._done.set()


def run_batch(invoke: Callable[[int], Any], size: int, send: Send,
              return_exceptions: bool) -> list[Any]:
    """Invoke inputs ``0..size-1`` in threads, their requests gathered into core batches.

    Args:
        invoke: runs input ``i`` (LangChain's ``invoke``), returning its exception if it fails.
        size: the number of inputs.
        send: sends one group of conversations (``process_batch(mode="chat")``).
        return_exceptions: return failures in their slots (else raise the first).
    """
    from langchain_core.runnables.config import ContextThreadPoolExecutor

    results: list[Any] = []
    for start in range(0, size, MAX_GATHER):  # one thread per input of a wave
        wave = range(start, min(start + MAX_GATHER, size))
        gather = Gather(len(wave), send)

        def run(offset: int, index: int, gather: Gather = gather) -> Any:
            SLOT.set((gather, offset))
            try:
                return invoke(index)
            finally:
                gather.leave(offset)

        with ContextThreadPoolExecutor(max_workers=len(wave)) as executor:
            results += executor.map(run, range(len(wave)), wave)
    return results_or_first_error(results, return_exceptions)


async def arun_batch(ainvoke: Callable[[int], Awaitable[Any]], size: int, send: ASend,
                     return_exceptions: bool) -> list[Any]:
    """Async :func:`run_batch`: every input a task, all gathered into core batches."""
    gather = AsyncGather(size, send)

    async def one(index: int) -> Any:
        SLOT.set((gather, index))
        try:
            return await ainvoke(index)
        except Exception as exc:
            return exc
        finally:
            await gather.leave(index)

    results = await asyncio.gather(*(one(i) for i in range(size)))
    return results_or_first_error(list(results), return_exceptions)

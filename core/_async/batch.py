"""Batches: many prompts, results in input order, one failure failing only its own item."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._config import CAPACITY_SCRAPE_TIMEOUT
from ._primitives import bounded_map, gather
from .generation import AsyncGeneration

if TYPE_CHECKING:
    from .. import _batch
    from .._errors import VLLMError
    from .._metrics import MetricsSnapshot
    from .._models import Usage

logger = logging.getLogger("vllm_accel")

__all__ = ["AsyncBatch"]


def as_error(exc: Exception) -> VLLMError:
    """``exc`` as one item's error (``vllm_accel._batch.as_error``, imported on first use)."""
    from .._batch import as_error as convert

    return convert(exc)


class AsyncBatch(AsyncGeneration):
    """``process_batch`` and ``process_batch_with_metrics``."""

    async def process_batch(
        self, prompts: Sequence[Any], *, model: str | None = None,
        max_concurrency: int | None = None,
        progress: Callable[[int, int], None] | None = None, mode: _batch.Mode = "completions",
        **params: Any,
    ) -> list[_batch.BatchItem]:
        """Run many prompts; results keep input order, a failure only fails its own item.

        Plain strings in ``"completions"`` mode go in one ``/v1/completions`` request (the
        fastest path; if the server rejects it (400/422: a bad prompt), it goes one request per
        prompt; any other failure, after the retries, is every item's error). Message
        lists, or ``mode="chat"``, go likewise in one ``/v1/chat/completions/batch`` request
        when they are plain conversations (no tools, ``n=1``, only fields that route honours);
        if the server has no such route (404/405, remembered) or the batch cannot use it, chat
        requests fan out with at most ``max_concurrency`` in flight. With a pool of two or more
        endpoints every batch fans out. ``progress(done, total)`` is called as items finish.

        ``max_concurrency=None`` (the default) follows the server's capacity: a fan-out keeps
        as many requests in flight as the KV cache of a ``/metrics`` scrape holds (summed over
        a pool's endpoints; never fewer than ``DEFAULT_BATCH_CONCURRENCY``, the scrape reused
        for ``CAPACITY_TTL`` seconds); a scrape that fails or tells nothing gives
        ``DEFAULT_BATCH_CONCURRENCY``. An int is used as given.
        """
        return (await self.process_batch_with_metrics(
            prompts, model=model, max_concurrency=max_concurrency, progress=progress, mode=mode,
            **params))[0]

    async def process_batch_with_metrics(
        self, prompts: Sequence[Any], *, model: str | None = None,
        max_concurrency: int | None = None,
        progress: Callable[[int, int], None] | None = None, mode: _batch.Mode = "completions",
        **params: Any,
    ) -> tuple[list[_batch.BatchItem], _batch.BatchMetrics]:
        """:meth:`process_batch` plus total time, time per item, tokens/s and item latencies."""
        from .. import _batch

        plan = _batch.Plan.make(prompts, mode, max_concurrency, params,
                                endpoints=len(self.pool) if self.pool is not None else 1,
                                batch_chat=self.base_url not in self._no_batch_chat)
        started = time.perf_counter()
        items: list[_batch.BatchItem] | None = None
        usage = None
        if plan.single_request:
            items, usage = await self._one_request(plan, model, params, progress)
        if items is None:
            if max_concurrency is None:
                plan.workers = min(len(plan.prompts), await self.batch_concurrency(
                    plan.prompts, **params))
            items = await self._fan_out(plan, model, params, progress)
        return items, _batch.metrics_of(items, time.perf_counter() - started, usage)

    async def _one_request(
        self, plan: _batch.Plan, model: str | None, params: dict[str, Any],
        progress: Callable[[int, int], None] | None,
    ) -> tuple[list[_batch.BatchItem] | None, Usage | None]:
        """The batch as one ``/v1/completions`` request, or as batch-chat requests.

        Chat batches go as ``/v1/chat/completions/batch`` requests of ``BATCH_CHAT_CHUNK``
        conversations, all in flight at once. Returns the items and the usage, or
        ``(None, None)`` to go item by item.
        """
        if plan.chat:
            return await self._chat_chunks(plan, model, params, progress)
        t0 = time.perf_counter()
        try:
            completion = await self.complete(list(plan.prompts), model=model, **params)
        except Exception as exc:  # a batch never raises for a failed request
            return self._batch_failed(plan, as_error(exc), time.perf_counter() - t0), None
        items = plan.items_from_completion(completion, time.perf_counter() - t0)
        plan.report(progress, len(items))
        return items, completion.usage

    async def _chat_chunks(
        self, plan: _batch.Plan, model: str | None, params: dict[str, Any],
        progress: Callable[[int, int], None] | None,
    ) -> tuple[list[_batch.BatchItem] | None, Usage | None]:
        """Every chunk of a chat batch as one batch-chat request, the chunks at once.

        A chunk the server refused for its content (400/422) goes item by item; any other
        failure is its items' error. ``(None, None)`` when the server has no such route (the
        whole batch then fans out). The usage is the chunks' total plus the items' own.
        """
        from .. import _batch

        async def one(chunk: _batch.Plan) -> list[_batch.BatchItem] | None:
            items = await self._one_chat_chunk(chunk, model, params, usages)
            finished.append(0 if items is None else len(items))
            return items

        def done(count: int) -> None:  # the caller's thread, as every progress call
            if sum(finished[:count]):
                plan.report(progress, sum(finished[:count]))

        chunks = plan.chunks()
        usages: list[Usage] = []
        finished: list[int] = []
        limit = plan.workers if plan.workers < len(plan.prompts) else len(chunks)
        results = await bounded_map([functools.partial(one, c) for c in chunks], limit, done)
        if all(r is None for r in results):
            return None, None
        for i, r in enumerate(results):  # the route vanished mid-batch: those chunks fan out
            if r is None:
                results[i] = await self._fan_out(chunks[i], model, params, None)
        items = [item for chunk_items in results if chunk_items for item in chunk_items]
        if sum(finished) < len(items):
            plan.report(progress, len(items))
        return items, _batch.usage_total(usages, items)

    async def _one_chat_chunk(
        self, chunk: _batch.Plan, model: str | None, params: dict[str, Any],
        usages: list[Usage],
    ) -> list[_batch.BatchItem] | None:
        """One chunk's batch-chat request (its usage appended to ``usages``).

        Item by item if the server refused its content; None if it has no batch-chat route.
        """
        from .._models import ChatCompletion

        t0 = time.perf_counter()
        if self.base_url in self._no_batch_chat:
            return None
        try:
            call = self._batch_chat_call(chunk, model, params)
            chat = self._parse(call, await self._send(call), ChatCompletion)
        except Exception as exc:  # a batch never raises for a failed request
            failed = self._batch_failed(chunk, as_error(exc), time.perf_counter() - t0)
            if failed is not None or self.base_url in self._no_batch_chat:
                return failed
            return await self._fan_out(chunk, model, params, None)
        if chat.usage is not None:
            usages.append(chat.usage)
        return chunk.items_from_batch_chat(chat, time.perf_counter() - t0)

    async def _fan_out(self, plan: _batch.Plan, model: str | None, params: dict[str, Any],
                       progress: Callable[[int, int], None] | None) -> list[_batch.BatchItem]:
        async def run(index: int) -> _batch.BatchItem:
            t0 = time.perf_counter()
            try:
                if plan.chat:
                    result: Any = await self.chat(plan.messages(index), model=model, **params)
                else:
                    result = await self.complete(plan.prompts[index], model=model, **params)
                return plan.item(index, result, None, time.perf_counter() - t0)
            except Exception as exc:  # one failure, whatever it is, fails only its item
                return plan.item(index, None, as_error(exc), time.perf_counter() - t0)

        return await bounded_map([functools.partial(run, i) for i in range(len(plan.prompts))],
                                 plan.workers, lambda done: plan.report(progress, done))

    async def batch_concurrency(self, prompts: Sequence[Any] = (), **params: Any) -> int:
        """The requests a fan-out of ``prompts`` keeps in flight when no limit is given.

        What the KV cache of the server's ``/metrics`` holds for requests of that size
        (summed over a pool's endpoints, never fewer than ``DEFAULT_BATCH_CONCURRENCY``; the
        scrape is reused for ``CAPACITY_TTL`` seconds); ``DEFAULT_BATCH_CONCURRENCY`` when the
        scrape fails or tells nothing. Never raises. Integrations use it for their own fan-outs.

        Args:
            prompts: the batch (strings or message lists), to size its requests.
            **params: the request fields (``max_tokens`` bounds each request's tokens).
        """
        from .. import _capacity

        now = time.monotonic()
        snaps = self._capacity_cache.get(now)
        if snaps is None:
            snaps = await self._scrape_capacity()
            self._capacity_cache.put(now, snaps)
        tokens = _capacity.batch_tokens(prompts, params)
        return _capacity.batch_concurrency(snaps, tokens_per_request=tokens)

    async def _scrape_capacity(self) -> list[MetricsSnapshot | None]:
        """One ``/metrics`` scrape per endpoint (None where it failed); never raises."""
        if self.pool is None:
            return [await _scrape(self)]
        clients = [self._on(state, max_retries=0) for state in self.pool.endpoints]
        return [r if not isinstance(r, BaseException) else None
                for r in await gather([functools.partial(_scrape, c) for c in clients])]


async def _scrape(client: AsyncBatch) -> MetricsSnapshot | None:
    """``GET /metrics`` of ``client``'s server, parsed; None (logged at debug) on any failure."""
    from .._metrics import parse_metrics

    try:
        call = client._call("GET", "/metrics", max_retries=0, timeout=CAPACITY_SCRAPE_TIMEOUT)
        response = await client._send(call)
        return parse_metrics(response.text)
    except Exception as exc:  # the fixed default then; a batch never fails for its scrape
        logger.debug("capacity scrape failed (%s); fan-out uses the fixed default",
                     type(exc).__name__)
        return None

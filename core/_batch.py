"""Batch processing (pure half): planning, per-item results, and batch metrics.

The fastest way to run many plain-string prompts on vLLM is one ``/v1/completions`` request with
a prompt list: the server turns it into one engine request per prompt and batches them. Plain
chat conversations likewise go to ``/v1/chat/completions/batch`` (one choice per conversation),
where the server has that route, in requests of ``BATCH_CHAT_CHUNK`` conversations all sent at
once (vLLM 0.32's route renders every conversation of a request before the engine sees the
first, so one big request leaves the engine idle while it renders; chunks overlap one chunk's
rendering with the others' generation). Chat batches the route cannot serve (tools, ``n > 1``,
fields the route would silently drop) fan out as concurrent requests, bounded by
``max_concurrency``. Either way one bad prompt only fails its own :class:`BatchItem`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ._config import MAX_COMPLETION_PROMPTS
from ._errors import (
    APIError,
    BadRequestError,
    InvalidRequestError,
    UnprocessableEntityError,
    VLLMError,
)
from ._models import ChatCompletion, Completion, CompletionChoice, Usage

__all__ = ["BATCH_CHAT_CHUNK", "BatchItem", "BatchMetrics", "Mode", "Plan", "batch_chat_ok",
           "metrics_of", "probe_body", "probe_ok", "route_missing", "splits_on", "usage_total"]

Mode = Literal["completions", "chat"]

BATCH_CHAT_CHUNK = 16
"""Conversations per ``/v1/chat/completions/batch`` request; a batch sends all its chunks at once
(bounded by ``max_concurrency`` when one is given). Measured on the 2-core CPU server: see
``bench/batch_phases.py`` and docs/benchmarks.md."""

# The fields of vLLM 0.32's BatchChatCompletionRequest a chat batch may carry (its schema
# allows extra keys and drops them silently: ``ignore_eos``, ``min_tokens``, ``tools``, ... would
# be lost). ``n`` must be 1; beam search and streaming are not supported by the route. ``echo``
# is left out on purpose: a batch request with ``echo`` (and ``continue_final_message``) killed
# the engine of the LoRA-enabled CPU server here (``einsum()`` size mismatch in the LoRA logits).
_BATCH_CHAT_FIELDS = frozenset({
    "add_generation_prompt", "cache_salt", "chat_template", "chat_template_kwargs",
    "continue_final_message", "frequency_penalty", "include_reasoning",
    "include_stop_str_in_output", "length_penalty", "logit_bias", "logprob_token_ids",
    "logprobs", "max_completion_tokens", "max_tokens", "media_io_kwargs", "min_p",
    "mm_processor_kwargs", "n", "presence_penalty", "priority", "repetition_penalty",
    "request_id", "response_format", "return_token_ids", "return_tokens_as_token_ids", "seed",
    "stop", "structured_outputs", "temperature", "top_k", "top_logprobs", "top_p", "user",
    "guided_json", "guided_regex", "guided_choice", "guided_grammar",
})
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})


@dataclass(slots=True)
class BatchItem:
    """The outcome of one prompt of a batch."""

    index: int
    prompt: Any
    result: Completion | ChatCompletion | None = None
    error: VLLMError | None = None
    latency: float = 0.0
    """Seconds; in the single-request path every item shares the request's latency."""

    @property
    def ok(self) -> bool:
        """True if this item succeeded."""
        return self.error is None

    @property
    def text(self) -> str | None:
        """The generated text (first sample), or None if the item failed."""
        return None if self.result is None else self.result.text

    @property
    def completion_tokens(self) -> int:
        """Tokens generated for this item (0 if unknown)."""
        usage = getattr(self.result, "usage", None)
        return usage.completion_tokens if usage is not None else 0


@dataclass(frozen=True, slots=True)
class BatchMetrics:
    """Timing and throughput of a batch. Every time is in seconds, like ``BatchItem.latency``.

    The seed's millisecond names (``total_time_ms``, ``average_time_per_item_ms``,
    ``item_latencies_ms``) are kept as read-only properties.
    """

    batch_size: int
    succeeded: int
    failed: int
    total_time: float
    """Seconds for the whole batch."""
    average_time_per_item: float
    """Seconds: ``total_time / batch_size``."""
    prompt_tokens: int
    completion_tokens: int
    tokens_per_second: float
    item_latencies: list[float] = field(default_factory=list)
    """Seconds per item, in input order."""

    @property
    def total_time_ms(self) -> float:
        """``total_time`` in milliseconds (the seed's name)."""
        return self.total_time * 1000.0

    @property
    def average_time_per_item_ms(self) -> float:
        """``average_time_per_item`` in milliseconds (the seed's name)."""
        return self.average_time_per_item * 1000.0

    @property
    def item_latencies_ms(self) -> list[float]:
        """``item_latencies`` in milliseconds (the seed's name)."""
        return [latency * 1000.0 for latency in self.item_latencies]


@dataclass(slots=True)
class Plan:
    """How a batch will run."""

    prompts: Sequence[Any]
    chat: bool
    single_request: bool
    workers: int
    offset: int = 0
    """The index of this plan's first prompt in the whole batch (a chunk's plan)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def make(cls, prompts: Sequence[Any], mode: Mode, max_concurrency: int | None,
             params: dict[str, Any], *, endpoints: int = 1, batch_chat: bool = True) -> Plan:
        """Check the inputs and choose the fastest path.

        Args:
            prompts: the batch.
            mode: ``"completions"`` or ``"chat"``.
            max_concurrency: requests in flight when fanning out (None: the caller sets
                ``workers`` from the server's capacity; until then every prompt).
            params: the request fields of every item.
            endpoints: the endpoints of the client's pool; with two or more the batch fans
                out (one request per prompt spreads over them and fails over per item).
            batch_chat: whether the server may have ``/v1/chat/completions/batch`` (False once
                it answered 404/405 for it).
        """
        if isinstance(prompts, str) or not isinstance(prompts, Sequence):
            raise InvalidRequestError("prompts must be a list")
        if mode not in ("completions", "chat"):
            raise InvalidRequestError("mode must be 'completions' or 'chat'")
        if max_concurrency is not None and max_concurrency < 1:
            raise InvalidRequestError("max_concurrency must be >= 1")
        items = list(prompts)
        strings = all(isinstance(p, str) for p in items)
        chat = mode == "chat" or not strings
        if chat and not all(isinstance(p, str | list | tuple) for p in items):
            raise InvalidRequestError("each prompt must be a string or a list of messages")
        n = params.get("n") or 1
        if chat:
            single = batch_chat and batch_chat_ok(items, params)
        else:
            single = (len(items) > 1 and len(items) * n <= MAX_COMPLETION_PROMPTS
                      and not params.get("stream"))
        return cls(items, chat, single and endpoints < 2,
                   max(1, min(max_concurrency or len(items), len(items))))

    def chunks(self, size: int | None = None) -> list[Plan]:
        """This batch in consecutive sub-plans of at most ``size`` prompts.

        ``size`` defaults to ``BATCH_CHAT_CHUNK``, read when called.

        Their items keep their whole-batch index: the chunks' items, concatenated, are the
        batch's, in order.
        """
        size = size or BATCH_CHAT_CHUNK
        parts = [self.prompts[i:i + size] for i in range(0, len(self.prompts), size)]
        return [Plan(part, self.chat, self.single_request, max(1, min(self.workers, len(part))),
                     self.offset + k * size) for k, part in enumerate(parts)]

    def conversations(self) -> list[Any]:
        """Every prompt's chat messages, in order (the batch-chat request's ``messages``)."""
        return [self.messages(i) for i in range(len(self.prompts))]

    def messages(self, index: int) -> Any:
        """The chat messages of prompt ``index`` (a string becomes one user message)."""
        prompt = self.prompts[index]
        return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt

    def item(self, index: int, result: Completion | ChatCompletion | None,
             error: VLLMError | None, latency: float) -> BatchItem:
        """One finished item."""
        return BatchItem(self.offset + index, self.prompts[index], result, error, latency)

    def items_from_completion(self, completion: Completion, latency: float) -> list[BatchItem]:
        """Split one multi-prompt completion into per-prompt items.

        vLLM numbers choices ``prompt_index * n + sample_index``.
        vLLM reports only the batch's total usage, so items of this path carry ``usage=None``
        and the batch metrics take the total from the request.
        """
        per_prompt = max(1, len(completion.choices) // max(1, len(self.prompts)))
        groups: dict[int, list[CompletionChoice]] = {}
        for choice in completion.choices:
            groups.setdefault(choice.index // per_prompt, []).append(choice)
        items = []
        for i, prompt in enumerate(self.prompts):
            choices = sorted(groups.get(i, []), key=lambda c: c.index)
            result = Completion(
                id=f"{completion.id}-{i}", model=completion.model, created=completion.created,
                choices=[c.model_copy(update={"index": j}) for j, c in enumerate(choices)],
                system_fingerprint=completion.system_fingerprint,
            ) if choices else None
            error = None if choices else VLLMError(f"no choice returned for prompt {i}")
            items.append(BatchItem(self.offset + i, prompt, result, error, latency))
        return items

    def items_from_batch_chat(self, completion: ChatCompletion,
                              latency: float) -> list[BatchItem]:
        """Split one ``/v1/chat/completions/batch`` answer into per-conversation items.

        vLLM numbers the choices by conversation (``n`` is 1). Like the completions path, the
        items carry ``usage=None``: the route reports only the batch's total.
        """
        by_index = {c.index: c for c in completion.choices}
        items = []
        for i, prompt in enumerate(self.prompts):
            choice = by_index.get(i)
            result = ChatCompletion(
                id=f"{completion.id}-{i}", model=completion.model, created=completion.created,
                choices=[choice.model_copy(update={"index": 0})],
                system_fingerprint=completion.system_fingerprint,
            ) if choice is not None else None
            error = None if choice is not None else VLLMError(
                f"no choice returned for conversation {self.offset + i}")
            items.append(BatchItem(self.offset + i, prompt, result, error, latency))
        return items

    def items_failed(self, error: VLLMError, latency: float) -> list[BatchItem]:
        """Every item failed with the one request's ``error`` (none lost, input order)."""
        return [BatchItem(self.offset + i, prompt, None, error, latency)
                for i, prompt in enumerate(self.prompts)]

    def report(self, progress: Callable[[int, int], None] | None, done: int) -> None:
        """Call ``progress(done, total)`` (serialized)."""
        if progress is not None:
            with self._lock:
                progress(done, len(self.prompts))


def metrics_of(
    items: Sequence[BatchItem], total_time: float, usage: Usage | None = None
) -> BatchMetrics:
    """Batch metrics from finished items and the wall time of the whole batch (seconds).

    Args:
        items: the finished items.
        total_time: seconds for the whole batch.
        usage: the total usage when one request served every item; else items' usage is summed.
    """
    prompt_tokens = completion_tokens = 0
    usages = [usage] if usage is not None else [getattr(i.result, "usage", None) for i in items]
    for u in usages:
        if u is not None:
            prompt_tokens += u.prompt_tokens
            completion_tokens += u.completion_tokens
    size = len(items)
    return BatchMetrics(
        batch_size=size,
        succeeded=sum(1 for i in items if i.ok),
        failed=sum(1 for i in items if not i.ok),
        total_time=total_time,
        average_time_per_item=total_time / size if size else 0.0,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        tokens_per_second=completion_tokens / total_time if total_time > 0 else 0.0,
        item_latencies=[i.latency for i in items],
    )


def usage_total(usages: Sequence[Usage], items: Sequence[BatchItem]) -> Usage:
    """The usage of a chunked chat batch.

    Its batch requests' ``usages`` plus the usage of the items that went on their own (a
    batch-chat item carries none).
    """
    own = [u for u in (getattr(i.result, "usage", None) for i in items) if u is not None]
    every = [*usages, *own]
    return Usage(prompt_tokens=sum(u.prompt_tokens for u in every),
                 completion_tokens=sum(u.completion_tokens for u in every),
                 total_tokens=sum(u.total_tokens for u in every))


def as_error(exc: Exception) -> VLLMError:
    """``exc`` as an item's error: itself if typed, else wrapped (chained, nothing quoted).

    A bad value that escaped the checks (``ValueError``, ``TypeError``, ``UnicodeError``) is an
    :class:`InvalidRequestError`; anything else an :class:`APIError`.
    """
    if isinstance(exc, VLLMError):
        return exc
    cls = InvalidRequestError if isinstance(exc, ValueError | TypeError) else APIError
    error = cls(f"{type(exc).__name__} while sending the request (details in __cause__)")
    error.__cause__ = exc
    return error


def splits_on(error: VLLMError) -> bool:
    """Whether a failed one-request batch should go item by item.

    When the server rejected the request's content (400/422: one bad prompt fails the whole
    list), or the request could not be built or sent for a local reason (an
    ``InvalidRequestError`` with no status, e.g. a value that cannot be encoded): item by item,
    only the culprit fails. After a connection failure, an overload (429/503) or a broken
    answer that outlived the retries, fanning out would send one request per prompt to a server
    that is already failing: every item gets the error instead.
    """
    if isinstance(error, InvalidRequestError) and error.status_code is None:
        return True
    return isinstance(error, BadRequestError | UnprocessableEntityError)


def route_missing(error: VLLMError) -> bool:
    """Whether a failed batch-chat request means the server has no such route.

    A 405, or a 404 from the web framework (``{"detail": "Not Found"}``), not vLLM's own 404
    for an unknown model (an ``{"error": ...}`` body, which a fan-out would meet again).
    """
    if error.status_code == 405:
        return True
    body = error.body
    return error.status_code == 404 and not (isinstance(body, dict) and "error" in body)


def _plain(prompt: Any) -> bool:
    if isinstance(prompt, str):
        return True
    # an empty conversation would fail the whole request locally: it fans out and fails alone
    return bool(prompt) and all(isinstance(m, Mapping) and m.get("role") in _PLAIN_ROLES
                                and not m.get("tool_calls") for m in prompt)


def batch_chat_ok(prompts: Sequence[Any], params: Mapping[str, Any]) -> bool:
    """Whether a chat batch can go as one ``/v1/chat/completions/batch`` request.

    Two or more plain conversations (system/developer/user/assistant messages, no tool calls),
    ``n`` 1, and only fields the route honours (see ``_BATCH_CHAT_FIELDS``), ``extra_body``
    included; anything else fans out.
    """
    extra = params.get("extra_body") or {}
    if len(prompts) < 2 or not isinstance(extra, Mapping):
        return False
    fields = {k: v for k, v in params.items() if v is not None and k != "extra_body"}
    fields.update(extra)
    if not fields.keys() <= _BATCH_CHAT_FIELDS or (fields.get("n") or 1) != 1:
        return False
    return all(_plain(p) for p in prompts)


def probe_body(chat: bool, model: str | None) -> dict[str, Any]:
    """The one-token request ``test_endpoint``/``test_chat_endpoint`` send."""
    body: dict[str, Any] = (
        {"messages": [{"role": "user", "content": "Hi"}]} if chat else {"prompt": "Hi"}
    )
    body["max_tokens"] = 1
    if model:
        body["model"] = model
    return body


def probe_ok(body: Any) -> bool:
    """Whether a probe's answer looks like a generation."""
    return isinstance(body, dict) and bool(body.get("choices"))

"""``VLLM``: a LlamaIndex LLM for a vLLM server, with tools, structured outputs, LoRA and batching.

Every one of the eight chat/complete methods calls the core client directly (real async, real
roles on ``/v1/chat/completions``), so each call emits exactly one set of instrumentation events.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM

from vllm_accel._integration import ADAPTERS, NOT_SENT, request_fields, results_or_first_error

from ._connection import (
    ApiKey,
    BaseUrl,
    ClientsMixin,
    DefaultHeaders,
    Endpoints,
    MaxRetries,
    Timeout,
)
from ._convert import (
    chat_response_from_completion,
    completion_response_from_chat,
    completion_response_from_completion,
    messages_to_dicts,
)
from ._metadata import MetadataMixin
from ._stream import ChatStreamState, CompletionStreamState
from ._structured import StructuredMixin
from ._tools import ToolsMixin

if TYPE_CHECKING:
    from vllm_accel import BatchItem
    from vllm_accel._stream import (
        AsyncChatStream,
        AsyncCompletionStream,
        ChatStream,
        CompletionStream,
    )

__all__ = ["VLLM"]

class VLLM(
    ClientsMixin, MetadataMixin, ToolsMixin, StructuredMixin, CustomLLM, FunctionCallingLLM
):
    """A vLLM server as a LlamaIndex LLM (chat, tools, structured outputs, LoRA, batching).

    Metadata needs no flags: the context window comes from the server's ``max_model_len``, and
    function calling is enabled when the server accepts tools. Clients are created lazily and
    shared by every object with the same connection settings (``with_adapter`` copies too);
    ``endpoints=`` gives a pool of servers (routing, failover); :attr:`tokenizer` counts tokens
    with the server's ``/tokenize``. The API key never appears in payloads or events.

    Every field declared here is a request field (sent when set; per-call kwargs win) unless it
    is marked ``NOT_SENT``.

    Example:
        >>> llm = VLLM(base_url="http://localhost:8000", max_tokens=128)  # doctest: +SKIP
        >>> llm.complete("Say hi").text  # doctest: +SKIP
        >>> pirate = llm.with_adapter("pirate")  # same pool, LoRA adapter  # doctest: +SKIP
    """

    base_url: BaseUrl = None
    endpoints: Endpoints = None
    api_key: ApiKey = None
    model: Annotated[str | None, NOT_SENT] = Field(
        default=None, description="Served model name (env VLLM_MODEL; default: the first one)."
    )
    adapter: Annotated[str | None, NOT_SENT] = Field(
        default=None, description="LoRA adapter to answer with (sent as the request's model)."
    )
    adapter_path: Annotated[str | None, NOT_SENT] = Field(
        default=None,
        description="If set, load `adapter` from this path on first use when it is not loaded.",
    )
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, description="Tokens to generate at most.")
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    stop: list[str] | None = None
    additional_kwargs: Annotated[dict[str, Any], NOT_SENT] = Field(
        default_factory=dict,
        description="More request fields (e.g. chat_template_kwargs, extra_body); per-call "
        "kwargs override them, nested dicts merge.",
    )
    context_window: Annotated[int | None, NOT_SENT] = Field(
        default=None, description="Override the server's max_model_len."
    )
    is_function_calling: Annotated[bool | None, NOT_SENT] = Field(
        default=None, description="Override whether the server accepts tools (asked once)."
    )
    strict_tools: Annotated[bool, NOT_SENT] = Field(
        default=True,
        description="Send strict function schemas, so vLLM constrains tool-call arguments.",
    )
    schema_in_prompt: Annotated[bool, NOT_SENT] = Field(
        default=True,
        description="structured_predict also shows the JSON schema to the model in a system "
        "message (small models fill a constrained schema much better when they see it).",
    )
    raw_completions: Annotated[bool, NOT_SENT] = Field(
        default=False,
        description="complete() sends the prompt verbatim to /v1/completions instead of as a "
        "user message to /v1/chat/completions.",
    )
    max_concurrency: Annotated[int | None, NOT_SENT] = Field(
        default=None, ge=1, description="In-flight requests of a batch that fans out (None: "
        "what the server's capacity holds, from its /metrics)."
    )
    timeout: Timeout = 600.0
    max_retries: MaxRetries = 2
    default_headers: DefaultHeaders = None

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serializes this class under."""
        return "vllm_accel_llm"

    # -- LoRA ----------------------------------------------------------------------------------

    def with_adapter(self, adapter: str | None, *, path: str | None = None) -> VLLM:
        """A copy answering with LoRA ``adapter`` (None: the base model), sharing this pool.

        Use it where no per-call arguments flow (query engines, agents). With ``path``, the
        adapter is loaded on first use if the server does not serve it yet.
        """
        return self.model_copy(update={"adapter": adapter, "adapter_path": path})

    def _ensure_adapter(self) -> None:
        if self.adapter is not None and self.adapter_path is not None:
            ADAPTERS.ensure(self.client, self._server, self.adapter, self.adapter_path)

    async def _aensure_adapter(self) -> None:
        if self.adapter is not None and self.adapter_path is not None:
            await ADAPTERS.aensure(
                self.async_client, self._server, self.adapter, self.adapter_path
            )

    def _adapter_scope(self) -> AbstractContextManager[None]:
        """Around a request: a 404 for this object's adapter makes the next use reload it."""
        if self.adapter is None or self.adapter_path is None:  # nothing to forget: no scope
            return contextlib.nullcontext()
        return ADAPTERS.forget_on_404(self._server, self.adapter)

    # -- request building ----------------------------------------------------------------------

    def _params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        from vllm_accel._params import merge_deep

        names = request_fields(type(self), ClientsMixin, CustomLLM, FunctionCallingLLM)
        base = {k: v for k in names if (v := getattr(self, k)) is not None}
        params = merge_deep(merge_deep(base, self.additional_kwargs), kwargs)
        params.pop("formatted", None)
        params["model"] = params.get("model") or self.adapter or self.model
        return params

    def _prompt_messages(self, prompt: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": prompt}]

    def _raw_prompt(self, prompt: str, formatted: bool) -> str:
        if formatted or self.completion_to_prompt is None:
            return prompt
        return self.completion_to_prompt(prompt)

    # -- chat ----------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Chat on ``/v1/chat/completions`` with every role kept."""
        payload, params = messages_to_dicts(messages), self._params(kwargs)
        with self._adapter_scope():
            self._ensure_adapter()
            return chat_response_from_completion(self.client.chat(payload, **params))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream a chat; each response carries the whole message so far plus the delta."""
        payload, params = messages_to_dicts(messages), self._params(kwargs)

        def gen() -> ChatResponseGen:
            self._ensure_adapter()
            state = ChatStreamState()
            with self._adapter_scope(), self.client.stream_chat(payload, **params) as stream:
                for chunk in stream:
                    yield state.add(chunk)

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async chat (native: concurrent calls are batched by the server)."""
        payload, params = messages_to_dicts(messages), self._params(kwargs)
        with self._adapter_scope():
            await self._aensure_adapter()
            completion = await self.async_client.chat(payload, **params)
        return chat_response_from_completion(completion)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """Async streaming chat."""
        payload, params = messages_to_dicts(messages), self._params(kwargs)

        async def gen() -> ChatResponseAsyncGen:
            await self._aensure_adapter()
            state = ChatStreamState()
            with self._adapter_scope():
                async with self.async_client.stream_chat(payload, **params) as stream:
                    async for chunk in stream:
                        yield state.add(chunk)

        return gen()

    # -- complete ------------------------------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Complete a prompt (as a user message, or verbatim with ``raw_completions``)."""
        params = self._params(kwargs)
        with self._adapter_scope():
            self._ensure_adapter()
            if self.raw_completions:
                completion = self.client.complete(self._raw_prompt(prompt, formatted), **params)
                return completion_response_from_completion(completion)
            chat = self.client.chat(self._prompt_messages(prompt), **params)
        return completion_response_from_chat(chat)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """Stream a completion."""
        params = self._params(kwargs)

        def gen() -> CompletionResponseGen:
            self._ensure_adapter()
            state = CompletionStreamState()
            stream: ChatStream | CompletionStream
            if self.raw_completions:
                text = self._raw_prompt(prompt, formatted)
                stream = self.client.stream_generation(text, **params)
            else:
                stream = self.client.stream_chat(self._prompt_messages(prompt), **params)
            with self._adapter_scope(), stream:
                for chunk in stream:
                    yield state.add(chunk, chat=not self.raw_completions)

        return gen()

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async completion (native)."""
        params = self._params(kwargs)
        with self._adapter_scope():
            await self._aensure_adapter()
            client = self.async_client
            if self.raw_completions:
                completion = await client.complete(self._raw_prompt(prompt, formatted), **params)
                return completion_response_from_completion(completion)
            chat = await client.chat(self._prompt_messages(prompt), **params)
        return completion_response_from_chat(chat)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """Async streaming completion."""
        params = self._params(kwargs)

        async def gen() -> CompletionResponseAsyncGen:
            await self._aensure_adapter()
            client, state = self.async_client, CompletionStreamState()
            stream: AsyncChatStream | AsyncCompletionStream
            if self.raw_completions:
                stream = client.stream_generation(self._raw_prompt(prompt, formatted), **params)
            else:
                stream = client.stream_chat(self._prompt_messages(prompt), **params)
            with self._adapter_scope():
                async with stream:
                    async for chunk in stream:
                        yield state.add(chunk, chat=not self.raw_completions)

        return gen()

    # -- batching ------------------------------------------------------------------------------

    def _batch_mode(self) -> Literal["chat", "completions"]:
        return "completions" if self.raw_completions else "chat"

    def batch_complete(self, prompts: Sequence[str], *, return_exceptions: bool = False,
                       **kwargs: Any) -> list[Any]:
        """Complete many prompts at once through the core batch path (input order kept).

        One request for the whole batch where it can (``/v1/chat/completions/batch``, or
        ``/v1/completions`` with ``raw_completions``), else a fan-out of ``max_concurrency``
        requests in flight. Raises the first item's error if any item failed, or with
        ``return_exceptions`` returns each error in its slot.
        """
        params = self._params(kwargs)
        self._ensure_adapter()
        items = self.client.process_batch(
            list(prompts), max_concurrency=self.max_concurrency, mode=self._batch_mode(), **params
        )
        return results_or_first_error([_batch_response(item) for item in items], return_exceptions)

    async def abatch_complete(self, prompts: Sequence[str], *, return_exceptions: bool = False,
                              **kwargs: Any) -> list[Any]:
        """Async :meth:`batch_complete`."""
        params = self._params(kwargs)
        await self._aensure_adapter()
        items = await self.async_client.process_batch(
            list(prompts), max_concurrency=self.max_concurrency, mode=self._batch_mode(), **params
        )
        return results_or_first_error([_batch_response(item) for item in items], return_exceptions)

    def batch_chat(self, conversations: Sequence[Sequence[ChatMessage]], *,
                   return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        """Chat on many conversations at once: plain ones in one batch-chat request.

        Conversations with tools, ``n > 1`` or fields the batch route drops fan out with
        ``max_concurrency`` in flight. Order is kept; errors as in :meth:`batch_complete`.
        """
        params = self._params(kwargs)
        self._ensure_adapter()
        items = self.client.process_batch(
            [messages_to_dicts(c) for c in conversations], max_concurrency=self.max_concurrency,
            mode="chat", **params)
        return results_or_first_error([_chat_item(item) for item in items], return_exceptions)

    async def abatch_chat(self, conversations: Sequence[Sequence[ChatMessage]], *,
                          return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        """Async :meth:`batch_chat`."""
        params = self._params(kwargs)
        await self._aensure_adapter()
        items = await self.async_client.process_batch(
            [messages_to_dicts(c) for c in conversations], max_concurrency=self.max_concurrency,
            mode="chat", **params)
        return results_or_first_error([_chat_item(item) for item in items], return_exceptions)


def _chat_item(item: BatchItem) -> ChatResponse | Exception:
    if item.error is not None:
        return item.error
    return chat_response_from_completion(item.result)


def _batch_response(item: BatchItem) -> CompletionResponse | Exception:
    if item.error is not None:
        return item.error
    result = item.result
    if result is None or not result.choices:
        return CompletionResponse(text="", raw=result)
    if hasattr(result.choices[0], "message"):
        return completion_response_from_chat(result)
    return completion_response_from_completion(result)

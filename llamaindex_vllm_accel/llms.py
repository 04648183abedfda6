"""``VLLM``: a LlamaIndex LLM for a vLLM server, with tools, structured outputs, LoRA and batching.

Every one of the eight chat/complete methods calls the core client directly (real async, real
roles on ``/v1/chat/completions``), so each call emits exactly one set of instrumentation events.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import BaseModel, Field
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUTS
from llama_index.core.instrumentation.events.llm import (
    LLMStructuredPredictEndEvent,
    LLMStructuredPredictInProgressEvent,
    LLMStructuredPredictStartEvent,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.types import PydanticProgramMode
from llama_index_instrumentation import get_dispatcher

from ._connection import (
    ApiKey,
    BaseUrl,
    ClientsMixin,
    DefaultHeaders,
    MaxRetries,
    Timeout,
    safe_url,
)
from ._convert import (
    ChatStreamState,
    CompletionStreamState,
    chat_response_from_completion,
    completion_response_from_chat,
    completion_response_from_completion,
    messages_to_dicts,
    resolve_tool_choice,
    tool_selections,
    tool_to_dict,
    with_schema_hint,
)

if TYPE_CHECKING:
    from llama_index.core.prompts import BasePromptTemplate
    from llama_index.core.tools.types import BaseTool

    from vllm_accel import BatchItem
    from vllm_accel._models import ModelList
    from vllm_accel._stream import (
        AsyncChatStream,
        AsyncCompletionStream,
        ChatStream,
        CompletionStream,
    )

__all__ = ["VLLM"]

dispatcher = get_dispatcher(__name__)

# Instance fields sent with every request when set (per-call kwargs override them).
_SAMPLING_FIELDS = (
    "temperature",
    "max_tokens",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
)
# A tool used once to ask the server whether it accepts tool calls (auto tool choice + parser).
_PROBE_TOOL = {
    "type": "function",
    "function": {"name": "probe", "parameters": {"type": "object", "properties": {}}},
}


class VLLM(ClientsMixin, CustomLLM, FunctionCallingLLM):
    """A vLLM server as a LlamaIndex LLM (chat, tools, structured outputs, LoRA, batching).

    Metadata needs no flags: the context window comes from the server's ``max_model_len``, and
    function calling is enabled when the server accepts tools. Clients are created lazily and
    shared with :meth:`with_adapter` copies; the API key never appears in payloads or events.

    Example:
        >>> llm = VLLM(base_url="http://localhost:8000", max_tokens=128)  # doctest: +SKIP
        >>> llm.complete("Say hi").text  # doctest: +SKIP
        >>> pirate = llm.with_adapter("pirate")  # same pool, LoRA adapter  # doctest: +SKIP
    """

    base_url: BaseUrl = None
    api_key: ApiKey = None
    model: str | None = Field(
        default=None, description="Served model name (env VLLM_MODEL; default: the first one)."
    )
    adapter: str | None = Field(
        default=None, description="LoRA adapter to answer with (sent as the request's model)."
    )
    adapter_path: str | None = Field(
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
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="More request fields (e.g. chat_template_kwargs, extra_body); per-call "
        "kwargs override them, nested dicts merge.",
    )
    context_window: int | None = Field(
        default=None, description="Override the server's max_model_len."
    )
    is_function_calling: bool | None = Field(
        default=None, description="Override whether the server accepts tools (asked once)."
    )
    strict_tools: bool = Field(
        default=True,
        description="Send strict function schemas, so vLLM constrains tool-call arguments.",
    )
    schema_in_prompt: bool = Field(
        default=True,
        description="structured_predict also shows the JSON schema to the model in a system "
        "message (small models fill a constrained schema much better when they see it).",
    )
    raw_completions: bool = Field(
        default=False,
        description="complete() sends the prompt verbatim to /v1/completions instead of as a "
        "user message to /v1/chat/completions.",
    )
    max_concurrency: int = Field(default=64, ge=1, description="In-flight requests of a batch.")
    timeout: Timeout = 600.0
    max_retries: MaxRetries = 2
    default_headers: DefaultHeaders = None

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serializes this class under."""
        return "vllm_accel_llm"

    # -- clients -------------------------------------------------------------------------------

    def _client_model(self) -> str | None:
        return self.model

    # -- LoRA ----------------------------------------------------------------------------------

    def with_adapter(self, adapter: str | None, *, path: str | None = None) -> VLLM:
        """A copy answering with LoRA ``adapter`` (None: the base model), sharing this pool.

        Use it where no per-call arguments flow (query engines, agents). With ``path``, the
        adapter is loaded on first use if the server does not serve it yet.
        """
        return self.model_copy(update={"adapter": adapter, "adapter_path": path})

    def _pending_adapter(self) -> tuple[str, str] | None:
        """(name, path) of an adapter to load before the next request, if any."""
        if self.adapter is None or self.adapter_path is None:
            return None
        if self.adapter in self._conn.facts.setdefault("loaded", set()):
            return None
        return self.adapter, self.adapter_path

    def _ensure_adapter(self) -> None:
        if (pending := self._pending_adapter()) is not None:
            self.client.load_lora_adapter(*pending)  # a no-op if the server has it already
            self._adapter_loaded()

    async def _aensure_adapter(self) -> None:
        if (pending := self._pending_adapter()) is not None:
            await self.async_client.load_lora_adapter(*pending)
            self._adapter_loaded()

    def _adapter_loaded(self) -> None:
        self._conn.facts["loaded"].add(self.adapter)
        self._conn.facts.pop("models", None)

    # -- metadata ------------------------------------------------------------------------------

    def _models(self) -> ModelList:
        facts = self._conn.facts
        if "models" not in facts:
            self._ensure_adapter()
            facts["models"] = self.client.models()
        models: ModelList = facts["models"]
        return models

    def _served_name(self) -> str:
        """The name requests go to: the adapter, the model, or the server's first model."""
        name = self.adapter or self.model or self.client.model
        if name:
            return name
        bases = self._models().base_models()
        if not bases:
            raise ValueError("the vLLM server serves no model")
        return bases[0].id

    def _server_context_window(self) -> int:
        name = self._served_name()
        models = self._models()
        if models.get(name) is None:  # loaded after the list was cached (an adapter): ask again
            self._conn.facts.pop("models", None)
            models = self._models()
        card = models.get(name)
        if card is not None and card.max_model_len is None and card.parent:
            card = models.get(card.parent)
        if card is None or card.max_model_len is None:
            raise ValueError(f"the server reports no max_model_len for {name!r}")
        return card.max_model_len

    def _server_accepts_tools(self) -> bool:
        facts = self._conn.facts
        if "tools" not in facts:
            from vllm_accel import BadRequestError

            try:
                self.client.chat(
                    [{"role": "user", "content": "hi"}],
                    model=self.adapter or self.model,
                    tools=[_PROBE_TOOL],
                    tool_choice="auto",
                    max_tokens=1,
                )
                facts["tools"] = True
            except BadRequestError:  # "auto" tool choice requires --enable-auto-tool-choice
                facts["tools"] = False
        accepts: bool = facts["tools"]
        return accepts

    @property
    def metadata(self) -> LLMMetadata:
        """LLM metadata from the server (looked up once): context window, tools, model name."""
        try:
            context_window = self.context_window or self._server_context_window()
            function_calling = (
                self.is_function_calling
                if self.is_function_calling is not None
                else self._server_accepts_tools()
            )
            model_name = self._served_name()
        except Exception as exc:  # the server is not reachable (yet): say so, don't cache
            warnings.warn(
                f"vLLM server metadata unavailable ({exc}); using LlamaIndex defaults",
                RuntimeWarning,
                stacklevel=2,
            )
            context_window = self.context_window or DEFAULT_CONTEXT_WINDOW
            function_calling = (
                self._conn.facts.get("tools", False)
                if self.is_function_calling is None
                else self.is_function_calling
            )
            model_name = self.adapter or self.model or "unknown"
        return LLMMetadata(
            context_window=context_window,
            num_output=self.max_tokens or DEFAULT_NUM_OUTPUTS,
            is_chat_model=True,
            is_function_calling_model=function_calling,
            model_name=model_name,
        )

    def to_payload(self) -> dict[str, Any]:
        """What events and callbacks show of this LLM: no credentials and no network calls."""
        facts = self._conn.facts
        models = facts.get("models")
        model_name = self.adapter or self.model
        if model_name is None and models is not None and models.base_models():
            model_name = models.base_models()[0].id
        return {
            "class_name": self.class_name(),
            "model_name": model_name,
            "adapter": self.adapter,
            "base_url": safe_url(self.base_url),
            "context_window": self.context_window,
            "num_output": self.max_tokens or DEFAULT_NUM_OUTPUTS,
            "is_chat_model": True,
            "is_function_calling_model": self.is_function_calling
            if self.is_function_calling is not None
            else facts.get("tools"),
            "temperature": self.temperature,
        }

    # -- request building ----------------------------------------------------------------------

    def _params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        from vllm_accel._params import merge_deep

        base = {k: v for k in _SAMPLING_FIELDS if (v := getattr(self, k)) is not None}
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
        self._ensure_adapter()
        return chat_response_from_completion(self.client.chat(payload, **params))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream a chat; each response carries the whole message so far plus the delta."""
        payload, params = messages_to_dicts(messages), self._params(kwargs)

        def gen() -> ChatResponseGen:
            self._ensure_adapter()
            state = ChatStreamState()
            with self.client.stream_chat(payload, **params) as stream:
                for chunk in stream:
                    yield state.add(chunk)

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async chat (native: concurrent calls are batched by the server)."""
        payload, params = messages_to_dicts(messages), self._params(kwargs)
        await self._aensure_adapter()
        return chat_response_from_completion(await self.async_client.chat(payload, **params))

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """Async streaming chat."""
        payload, params = messages_to_dicts(messages), self._params(kwargs)

        async def gen() -> ChatResponseAsyncGen:
            await self._aensure_adapter()
            state = ChatStreamState()
            async with self.async_client.stream_chat(payload, **params) as stream:
                async for chunk in stream:
                    yield state.add(chunk)

        return gen()

    # -- complete ------------------------------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Complete a prompt (as a user message, or verbatim with ``raw_completions``)."""
        params = self._params(kwargs)
        self._ensure_adapter()
        if self.raw_completions:
            completion = self.client.complete(self._raw_prompt(prompt, formatted), **params)
            return completion_response_from_completion(completion)
        return completion_response_from_chat(
            self.client.chat(self._prompt_messages(prompt), **params)
        )

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
            with stream:
                for chunk in stream:
                    yield state.add(chunk, chat=not self.raw_completions)

        return gen()

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async completion (native)."""
        params = self._params(kwargs)
        await self._aensure_adapter()
        client = self.async_client
        if self.raw_completions:
            completion = await client.complete(self._raw_prompt(prompt, formatted), **params)
            return completion_response_from_completion(completion)
        return completion_response_from_chat(
            await client.chat(self._prompt_messages(prompt), **params)
        )

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
            async with stream:
                async for chunk in stream:
                    yield state.add(chunk, chat=not self.raw_completions)

        return gen()

    # -- batching ------------------------------------------------------------------------------

    def _batch_mode(self) -> Literal["chat", "completions"]:
        return "completions" if self.raw_completions else "chat"

    def batch_complete(self, prompts: Sequence[str], **kwargs: Any) -> list[CompletionResponse]:
        """Complete many prompts at once through the core batch path (input order kept).

        Raises the first item's error if any item failed.
        """
        params = self._params(kwargs)
        self._ensure_adapter()
        items = self.client.process_batch(
            list(prompts), max_concurrency=self.max_concurrency, mode=self._batch_mode(), **params
        )
        return [_batch_response(item) for item in items]

    async def abatch_complete(
        self, prompts: Sequence[str], **kwargs: Any
    ) -> list[CompletionResponse]:
        """Async :meth:`batch_complete`: one bounded fan-out that fills vLLM's batches."""
        params = self._params(kwargs)
        await self._aensure_adapter()
        items = await self.async_client.process_batch(
            list(prompts), max_concurrency=self.max_concurrency, mode=self._batch_mode(), **params
        )
        return [_batch_response(item) for item in items]

    # -- tools ---------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Chat kwargs with strict tool schemas, the tool choice and parallel-call setting."""
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        strict = self.strict_tools if strict is None else strict
        specs = [tool_to_dict(tool, strict=strict) for tool in tools]
        out: dict[str, Any] = {"messages": messages, **kwargs}
        if specs:
            out["tools"] = specs
            out["tool_choice"] = resolve_tool_choice(tool_choice, tool_required)
            out["parallel_tool_calls"] = allow_parallel_tool_calls
        return out

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Keep only the first tool call unless parallel calls were allowed."""
        if not allow_parallel_tool_calls:
            _force_single_tool_call(response)
        return response

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """Tool calls of a response; partial JSON arguments (mid-stream) parse as far as they go."""
        return tool_selections(response.message, error_on_no_tool_call=error_on_no_tool_call)

    # -- structured outputs --------------------------------------------------------------------

    def _structured_request(
        self,
        output_cls: type[BaseModel],
        prompt: BasePromptTemplate,
        prompt_args: dict[str, Any],
        llm_kwargs: dict[str, Any] | None,
    ) -> tuple[list[ChatMessage], dict[str, Any]]:
        """Messages (with the schema hint) and chat kwargs constraining output to the schema."""
        schema = output_cls.model_json_schema()
        messages = self._get_messages(prompt, **prompt_args)
        if self.schema_in_prompt:
            messages = with_schema_hint(messages, schema)
        return messages, {**(llm_kwargs or {}), "structured_outputs": {"json": schema}}

    def structured_predict(
        self,
        output_cls: type[Any],
        prompt: Any,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Any:
        """Predict an ``output_cls`` instance, constrained by vLLM's structured outputs."""
        if self.pydantic_program_mode != PydanticProgramMode.DEFAULT:
            return super().structured_predict(output_cls, prompt, llm_kwargs, **prompt_args)
        messages, kwargs = self._structured_request(output_cls, prompt, prompt_args, llm_kwargs)
        dispatcher.event(
            LLMStructuredPredictStartEvent(
                output_cls=output_cls, template=prompt, template_args=prompt_args
            )
        )
        response = self.chat(messages, **kwargs)
        output = output_cls.model_validate_json(response.message.content or "")
        dispatcher.event(LLMStructuredPredictEndEvent(output=output))
        return output

    async def astructured_predict(
        self,
        output_cls: type[Any],
        prompt: Any,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Any:
        """Async :meth:`structured_predict`."""
        if self.pydantic_program_mode != PydanticProgramMode.DEFAULT:
            return await super().astructured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
        messages, kwargs = self._structured_request(output_cls, prompt, prompt_args, llm_kwargs)
        dispatcher.event(
            LLMStructuredPredictStartEvent(
                output_cls=output_cls, template=prompt, template_args=prompt_args
            )
        )
        response = await self.achat(messages, **kwargs)
        output = output_cls.model_validate_json(response.message.content or "")
        dispatcher.event(LLMStructuredPredictEndEvent(output=output))
        return output

    def stream_structured_predict(
        self,
        output_cls: type[Any],
        prompt: Any,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Any, None, None]:
        """Stream partial ``output_cls`` objects as the constrained JSON arrives."""
        if self.pydantic_program_mode != PydanticProgramMode.DEFAULT:
            yield from super().stream_structured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
            return
        messages, kwargs = self._structured_request(output_cls, prompt, prompt_args, llm_kwargs)
        dispatcher.event(
            LLMStructuredPredictStartEvent(
                output_cls=output_cls, template=prompt, template_args=prompt_args
            )
        )
        current: Any = None
        for response in self.stream_chat(messages, **kwargs):
            if not response.delta:
                continue
            current = _partial_object(response, output_cls, current)
            dispatcher.event(LLMStructuredPredictInProgressEvent(output=current))
            yield current
        dispatcher.event(LLMStructuredPredictEndEvent(output=current))

    async def astream_structured_predict(
        self,
        output_cls: type[Any],
        prompt: Any,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Any, None]:
        """Async :meth:`stream_structured_predict`."""
        if self.pydantic_program_mode != PydanticProgramMode.DEFAULT:
            return await super().astream_structured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
        messages, kwargs = self._structured_request(output_cls, prompt, prompt_args, llm_kwargs)

        async def gen() -> AsyncGenerator[Any, None]:
            dispatcher.event(
                LLMStructuredPredictStartEvent(
                    output_cls=output_cls, template=prompt, template_args=prompt_args
                )
            )
            current: Any = None
            async for response in await self.astream_chat(messages, **kwargs):
                if not response.delta:
                    continue
                current = _partial_object(response, output_cls, current)
                dispatcher.event(LLMStructuredPredictInProgressEvent(output=current))
                yield current
            dispatcher.event(LLMStructuredPredictEndEvent(output=current))

        return gen()


def _force_single_tool_call(response: ChatResponse) -> None:
    message = response.message
    calls = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    if len(calls) > 1:
        message.blocks = [b for b in message.blocks if not isinstance(b, ToolCallBlock)]
        message.blocks.append(calls[0])
        if message.additional_kwargs.get("tool_calls"):
            message.additional_kwargs["tool_calls"] = message.additional_kwargs["tool_calls"][:1]


def _batch_response(item: BatchItem) -> CompletionResponse:
    if item.error is not None:
        raise item.error
    result = item.result
    if result is None or not result.choices:
        return CompletionResponse(text="", raw=result)
    if hasattr(result.choices[0], "message"):
        return completion_response_from_chat(result)
    return completion_response_from_completion(result)


def _partial_object(response: ChatResponse, output_cls: type[Any], current: Any) -> Any:
    from llama_index.core.program.utils import process_streaming_objects

    previous = [current] if current is not None else None
    return process_streaming_objects(response, output_cls, cur_objects=previous)

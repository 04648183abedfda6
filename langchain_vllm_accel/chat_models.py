"""`ChatVLLM`: a LangChain chat model on vLLM's ``/v1/chat/completions``."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field, model_validator

from vllm_accel._integration import FACTS, NOT_SENT

from ._base import VLLMSampling
from ._batch_slot import current as _batch_slot
from ._convert import chat_completion_to_result, chunk_to_generation_chunk, messages_to_dicts
from ._schema_turn import achat_in_steps, chat_in_steps, steps
from ._tools import tokenize_payload

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForLLMRun,
        CallbackManagerForLLMRun,
    )
    from langchain_core.language_models.model_profile import ModelProfile
    from langchain_core.runnables import Runnable, RunnableConfig
    from langchain_core.tools import BaseTool


class ChatVLLM(VLLMSampling, BaseChatModel):
    """Chat model on a vLLM server (OpenAI-compatible ``/v1/chat/completions``).

    Everything vLLM adds over OpenAI is a typed field (``top_k``, ``min_p``,
    ``repetition_penalty``, ``chat_template_kwargs``, ``structured_outputs``, ...); per-call
    values are deep-merged over the instance's. Reasoning text is kept in
    ``additional_kwargs["reasoning_content"]``, usage is reported when streaming too, tokens are
    counted by the server's own tokenizer, and ``batch`` keeps vLLM's continuous batching full.

    Example:
        ```python
        from langchain_vllm_accel import ChatVLLM

        llm = ChatVLLM(model="smollm2", base_url="http://localhost:8000", max_tokens=64)
        llm.invoke("Hello!")
        llm.invoke("Hello!", adapter="pirate")  # a LoRA adapter served by the same vLLM
        llm.bind_tools([get_weather], tool_choice="any").invoke("Weather in Paris?")
        ```
    """

    _ls_model_type = "chat"

    stream_usage: Annotated[bool, NOT_SENT] = True
    """Ask for token usage at the end of streamed responses (``stream_options``)."""
    logprobs: bool | None = None
    top_logprobs: int | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    """vLLM: extra variables for the chat template (e.g. ``{"enable_thinking": False}``)."""
    reasoning_effort: str | None = None
    include_reasoning: bool | None = None
    """vLLM: ``False`` strips reasoning from the answer (with a reasoning parser)."""
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = Field(default=None, alias="max_completion_tokens")
    schema_after_tools: Annotated[bool, NOT_SENT] = True
    """With tools and a JSON ``response_format`` together (``create_agent``'s
    ``ProviderStrategy``): ask with the tools, then for the schema (see ``_schema_turn``)."""

    # ------------------------------------------------------------------ LangChain plumbing

    @property
    def _llm_type(self) -> str:
        return "vllm-chat"

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """The import path of the class, for ``load``."""
        return ["langchain_vllm_accel", "chat_models"]

    # ------------------------------------------------------------------ requests

    def _chat_request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None, dict[str, Any]]:
        kwargs.pop("stream_usage", None)
        model, params = self._request(stop, kwargs)
        return messages_to_dicts(messages), model, params

    def _stream_request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None, dict[str, Any]]:
        include_usage = kwargs.pop("stream_usage", None)
        payload, model, params = self._chat_request(messages, stop, kwargs)
        include_usage = self.stream_usage if include_usage is None else include_usage
        options = params.get("stream_options") or {}
        params["stream_options"] = {"include_usage": include_usage, **options}
        return payload, model, params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from ._errors import map_errors

        payload, model, params = self._chat_request(messages, stop, kwargs)
        both = steps(params) if self.schema_after_tools else None
        with map_errors(), self._adapter_scope(model):
            if both is None and (slot := _batch_slot()) is not None:  # in a batch: one request
                from ._batch import Request
                completion = slot[0].submit(slot[1], Request(payload, model, params))
            else:
                self._ensure_adapter(model)
                completion = (self.client.chat(payload, model=model, **params) if both is None
                              else chat_in_steps(self.client, payload, model, both))
        return chat_completion_to_result(completion)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from ._errors import map_errors

        payload, model, params = self._chat_request(messages, stop, kwargs)
        both = steps(params) if self.schema_after_tools else None
        with map_errors(), self._adapter_scope(model):
            if both is None and (slot := _batch_slot()) is not None:  # in a batch: one request
                from ._batch import Request
                completion = await slot[0].submit(slot[1], Request(payload, model, params))
            else:
                await self._aensure_adapter(model)
                completion = await (
                    self.async_client.chat(payload, model=model, **params) if both is None
                    else achat_in_steps(self.async_client, payload, model, both))
        return chat_completion_to_result(completion)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        from ._errors import map_errors

        payload, model, params = self._stream_request(messages, stop, kwargs)
        with map_errors(), self._adapter_scope(model):
            self._ensure_adapter(model)
            with self.client.stream_chat(payload, model=model, **params) as stream:
                first = True
                for wire_chunk in stream:
                    chunk = chunk_to_generation_chunk(wire_chunk, first=first)
                    first = False
                    if chunk is None:
                        continue
                    # LangChain only passes a run manager where it does not emit tokens itself.
                    if run_manager is not None:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        from ._errors import map_errors

        payload, model, params = self._stream_request(messages, stop, kwargs)
        with map_errors(), self._adapter_scope(model):
            await self._aensure_adapter(model)
            async with self.async_client.stream_chat(payload, model=model, **params) as stream:
                first = True
                async for wire_chunk in stream:
                    chunk = chunk_to_generation_chunk(wire_chunk, first=first)
                    first = False
                    if chunk is None:
                        continue
                    if run_manager is not None:
                        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk

    # ------------------------------------------------------------------ batching

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Invoke on every input; their requests go to the server as one batch.

        Each input is invoked as usual (its own config, callbacks and run), but the chat
        requests of the batch are sent together through the core's
        ``process_batch(mode="chat")``: plain conversations (no tools, ``n`` 1) as one
        ``/v1/chat/completions/batch`` request, the others fanned out with ``max_concurrency``
        (from the config; default: what the server's capacity holds) in flight. Results keep
        the input order; with ``return_exceptions`` each failure is returned in its slot, else
        the first (in input order) is raised.
        """
        from langchain_core.runnables.config import get_config_list

        from ._batch import run_batch
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        if len(inputs) == 1:
            return [self._invoke_or_error(inputs[0], configs[0], return_exceptions, kwargs)]
        send = functools.partial(self._send_batch, configs[0].get("max_concurrency"))
        return run_batch(lambda i: self._invoke_or_error(inputs[i], configs[i], True, kwargs),
                         len(inputs), send, return_exceptions)

    def _send_batch(self, limit: int | None, model: str | None,
                    conversations: list[list[dict[str, Any]]],
                    params: dict[str, Any]) -> list[Any]:
        self._ensure_adapter(model)
        return self.client.process_batch(conversations, model=model, mode="chat",
                                         max_concurrency=limit, **params)

    async def _asend_batch(self, limit: int | None, model: str | None,
                           conversations: list[list[dict[str, Any]]],
                           params: dict[str, Any]) -> list[Any]:
        await self._aensure_adapter(model)
        return await self.async_client.process_batch(conversations, model=model, mode="chat",
                                                     max_concurrency=limit, **params)

    def _invoke_or_error(
        self,
        item: LanguageModelInput,
        config: RunnableConfig,
        return_exceptions: bool,
        kwargs: dict[str, Any],
    ) -> Any:
        if not return_exceptions:
            return self.invoke(item, config, **kwargs)
        try:
            return self.invoke(item, config, **kwargs)
        except Exception as exc:
            return exc

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Async :meth:`batch`: every input awaited at once, their requests sent as one batch."""
        from langchain_core.runnables.config import get_config_list

        from ._batch import arun_batch
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        send = functools.partial(self._asend_batch, configs[0].get("max_concurrency"))
        return await arun_batch(lambda i: self.ainvoke(inputs[i], configs[i], **kwargs),
                                len(inputs), send, return_exceptions)

    # ------------------------------------------------------------------ tokens

    def get_num_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` (exact: counted by the server)."""
        if self.custom_get_token_ids is not None:
            return len(self.custom_get_token_ids(text))
        from ._errors import map_errors

        with map_errors():
            return self.client.tokenize(text, model=self.adapter or self.model).count

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Prompt tokens of a conversation after the chat template (and tools), as vLLM counts."""
        from ._errors import map_errors

        payload, extra = tokenize_payload(messages, tools)
        with map_errors():
            response = self.client.tokenize(
                messages=payload, model=self.adapter or self.model, **extra
            )
        return response.count

    async def aget_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Async :meth:`get_num_tokens_from_messages`."""
        from ._errors import map_errors

        payload, extra = tokenize_payload(messages, tools)
        with map_errors():
            response = await self.async_client.tokenize(
                messages=payload, model=self.adapter or self.model, **extra
            )
        return response.count

    # ------------------------------------------------------------------ profile

    @model_validator(mode="after")
    def _check_profile_keys(self) -> Self:
        """Replaces langchain-core's check, which would read (and so fetch) the profile."""
        return self

    def _resolve_model_profile(self) -> ModelProfile | None:
        """A profile read from the server on first access (no request at construction)."""
        from ._profile import ServerProfile

        return ServerProfile(self._server_profile)  # type: ignore[return-value]

    def _server_profile(self) -> dict[str, Any]:
        from ._profile import server_facts

        client, server = self.client, self._client_settings().server
        name = self.adapter or self.model
        if not name:
            bases = FACTS.models(client, server).base_models()
            name = bases[0].id if bases else None
        max_len = FACTS.max_model_len(client, server, name) if name else None
        return server_facts(max_len, FACTS.accepts_tools(client, server, name), name)

    # ------------------------------------------------------------------ tools & structure

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (OpenAI function schemas) to the model.

        Args:
            tools: LangChain tools, functions, pydantic/TypedDict classes or schema dicts.
            tool_choice: ``"auto"`` (the model decides; needs the server's
                ``--enable-auto-tool-choice``), ``"any"``/``"required"``/``True`` (must call a
                tool), a tool name (must call that one), ``"none"``, or a wire dict.
            strict: ``None`` (default) marks the schemas ``"strict": true`` so vLLM constrains
                the arguments of forced calls, keeping optional parameters optional; ``True``
                applies OpenAI strict semantics (all parameters required); ``False`` leaves
                the schemas unconstrained.
            parallel_tool_calls: Allow several calls in one answer.
            **kwargs: Other parameters bound with the tools.
        """
        from ._tools import format_tool, tool_choice_payload

        formatted = [format_tool(t, strict=strict) for t in tools]
        choice = tool_choice_payload(tool_choice, formatted)
        if choice is not None:
            kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """A runnable whose output is parsed into ``schema``.

        Args:
            schema: A pydantic class, TypedDict, JSON schema or OpenAI function schema.
            method: ``"json_schema"`` (default): vLLM structured outputs constrain decoding
                to the schema. ``"function_calling"``: a forced call of one strict tool.
                ``"json_mode"``: any JSON object (``response_format: json_object``); the schema
                only parses it.
            include_raw: Return ``{"raw", "parsed", "parsing_error"}`` instead of raising on
                a parsing error.
            strict: With ``"json_schema"``/``"function_calling"``: ``True`` applies OpenAI
                strict semantics to the schema (every property required).
            **kwargs: Other parameters bound to the model.
        """
        from ._structured import structured_runnable

        return structured_runnable(
            self, schema, method=method, include_raw=include_raw, strict=strict, kwargs=kwargs
        )

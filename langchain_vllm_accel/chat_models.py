"""`ChatVLLM`: a LangChain chat model on vLLM's ``/v1/chat/completions``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field

from ._base import VLLMSampling
from ._convert import chat_completion_to_result, chunk_to_generation_chunk, messages_to_dicts

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForLLMRun,
        CallbackManagerForLLMRun,
    )
    from langchain_core.runnables import Runnable, RunnableConfig
    from langchain_core.tools import BaseTool

DEFAULT_BATCH_CONCURRENCY = 64
"""In-flight requests of `ChatVLLM.batch` when no ``max_concurrency`` is given."""


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

    stream_usage: bool = True
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
        with map_errors():
            self._ensure_adapter(model)
            completion = self.client.chat(payload, model=model, **params)
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
        with map_errors():
            await self._aensure_adapter(model)
            completion = await self.async_client.chat(payload, model=model, **params)
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
        with map_errors():
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
        with map_errors():
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
        """Invoke on every input concurrently; results keep the input order.

        Unlike the default (a thread pool of ``min(32, cpus + 4)`` workers), up to
        ``max_concurrency`` requests (default: all inputs, at most 64) are in flight at once, so
        a batch fills vLLM's continuous batching. Each input keeps its own config and callbacks.
        """
        from langchain_core.runnables.config import ContextThreadPoolExecutor, get_config_list

        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        if len(inputs) == 1:
            return [self._invoke_or_error(inputs[0], configs[0], return_exceptions, kwargs)]
        workers = configs[0].get("max_concurrency") or min(len(inputs), DEFAULT_BATCH_CONCURRENCY)
        with ContextThreadPoolExecutor(max_workers=min(workers, len(inputs))) as executor:
            return list(
                executor.map(
                    lambda item, cfg: self._invoke_or_error(item, cfg, return_exceptions, kwargs),
                    inputs,
                    configs,
                )
            )

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
        """Await every input concurrently (bounded by ``max_concurrency`` when given)."""
        from langchain_core.runnables.config import get_config_list

        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        limit = configs[0].get("max_concurrency")
        semaphore = asyncio.Semaphore(limit) if limit else None

        async def one(item: LanguageModelInput, cfg: RunnableConfig) -> Any:
            try:
                if semaphore is None:
                    return await self.ainvoke(item, cfg, **kwargs)
                async with semaphore:
                    return await self.ainvoke(item, cfg, **kwargs)
            except Exception as exc:
                if return_exceptions:
                    return exc
                raise

        jobs = (one(i, c) for i, c in zip(inputs, configs, strict=True))
        return list(await asyncio.gather(*jobs))

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
        from langchain_core.messages import convert_to_messages

        from ._errors import map_errors
        from ._tools import format_tool

        messages = convert_to_messages(messages)
        extra: dict[str, Any] = {}
        if tools:
            extra["tools"] = [format_tool(t, strict=None) for t in tools]
        with map_errors():
            response = self.client.tokenize(
                messages=messages_to_dicts(messages), model=self.adapter or self.model, **extra
            )
        return response.count

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
        from langchain_core.runnables import RunnableLambda
        from langchain_core.utils.pydantic import is_basemodel_subclass

        from ._tools import json_schema_of, structured_parser

        if schema is None and method != "json_mode":
            msg = f"schema is required for method={method!r}"
            raise ValueError(msg)
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        ls_format = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
        llm: Runnable[LanguageModelInput, Any]
        parser: Runnable[Any, Any]
        if method == "function_calling":
            from langchain_core.output_parsers.openai_tools import (
                JsonOutputKeyToolsParser,
                PydanticToolsParser,
            )
            from langchain_core.utils.function_calling import convert_to_openai_tool

            name = convert_to_openai_tool(schema)["function"]["name"]  # type: ignore[arg-type]
            llm = self.bind_tools(
                [schema],  # type: ignore[list-item]
                tool_choice=name,
                strict=strict,
                parallel_tool_calls=False,
                ls_structured_output_format=ls_format,
                **kwargs,
            )
            parser = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)
                if is_pydantic
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        elif method == "json_mode":
            from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser

            llm = self.bind(
                response_format={"type": "json_object"},
                ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
                **kwargs,
            )
            parser = (
                PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()
            )
        elif method == "json_schema":
            json_schema = json_schema_of(schema)
            if strict:
                from langchain_core.utils.function_calling import (
                    _recursive_set_additional_properties_false,
                )

                json_schema = _recursive_set_additional_properties_false(json_schema)
            response_format = {
                "type": "json_schema",
                "json_schema": {
                    "name": json_schema.get("title") or "output",
                    "schema": json_schema,
                    "strict": True,
                },
            }
            llm = self.bind(
                response_format=response_format, ls_structured_output_format=ls_format, **kwargs
            )
            parser = RunnableLambda(structured_parser(schema, is_pydantic=is_pydantic))
        else:
            msg = f"Unknown method {method!r}: use json_schema, function_calling or json_mode"
            raise ValueError(msg)

        if not include_raw:
            return llm | parser
        from operator import itemgetter

        from langchain_core.runnables import RunnableMap, RunnablePassthrough

        parser_assign = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
        parser_with_fallback = parser_assign.with_fallbacks(
            [parser_none], exception_key="parsing_error"
        )
        return RunnableMap(raw=llm) | parser_with_fallback

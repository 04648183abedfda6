"""Structured outputs of the LlamaIndex ``VLLM``, constrained by vLLM's structured outputs."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.bridge.pydantic import BaseModel
from llama_index.core.instrumentation.events.llm import (
    LLMStructuredPredictEndEvent,
    LLMStructuredPredictInProgressEvent,
    LLMStructuredPredictStartEvent,
)
from llama_index.core.types import PydanticProgramMode
from llama_index_instrumentation import get_dispatcher

from ._convert import with_schema_hint

if TYPE_CHECKING:
    from llama_index.core.prompts import BasePromptTemplate

__all__ = ["StructuredMixin"]

dispatcher = get_dispatcher("llamaindex_vllm_accel.llms")


class StructuredMixin:
    """``structured_predict`` and its async/streaming twins (mixed in before ``LLM``)."""

    if TYPE_CHECKING:
        schema_in_prompt: bool
        pydantic_program_mode: PydanticProgramMode

        def _get_messages(self, prompt: Any, **prompt_args: Any) -> list[ChatMessage]: ...
        def chat(self, messages: Any, **kwargs: Any) -> ChatResponse: ...
        async def achat(self, messages: Any, **kwargs: Any) -> ChatResponse: ...
        def stream_chat(self, messages: Any, **kwargs: Any) -> Any: ...
        async def astream_chat(self, messages: Any, **kwargs: Any) -> Any: ...

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
            return super().structured_predict(  # type: ignore[misc]
                output_cls, prompt, llm_kwargs, **prompt_args
            )
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
            return await super().astructured_predict(  # type: ignore[misc]
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
            yield from super().stream_structured_predict(  # type: ignore[misc]
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
            return await super().astream_structured_predict(  # type: ignore[misc,no-any-return]
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


def _partial_object(response: ChatResponse, output_cls: type[Any], current: Any) -> Any:
    from llama_index.core.program.utils import process_streaming_objects

    previous = [current] if current is not None else None
    return process_streaming_objects(response, output_cls, cur_objects=previous)

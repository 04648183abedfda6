"""Stream folding of the LlamaIndex ``VLLM``: wire chunks to cumulative responses (pure)."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse

from ._convert import _assistant_message, _new_call_id, usage_kwargs

__all__ = ["ChatStreamState", "CompletionStreamState"]


class ChatStreamState:
    """Folds chat chunks into cumulative ``ChatResponse`` deltas (one per chunk).

    Every response carries the whole message so far (text, reasoning, tool calls with possibly
    partial JSON arguments), so the last one is a complete assistant message for agents'
    scratchpads. The usage-only final chunk yields a response with an empty delta whose ``raw``
    carries the usage, which is where ``TokenCountingHandler`` looks.
    """

    def __init__(self) -> None:
        self.content = ""
        self.reasoning = ""
        self.tool_calls: list[dict[str, Any]] = []
        self._by_index: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None

    def add(self, chunk: Any) -> ChatResponse:
        """Fold one chunk in and return the response to yield for it."""
        delta_text = ""
        additional: dict[str, Any] = {}
        if chunk.choices:
            choice = chunk.choices[0]
            delta = choice.delta
            if delta.content:
                delta_text = delta.content
                self.content += delta_text
            reasoning = getattr(delta, "reasoning", None)
            if reasoning:
                self.reasoning += reasoning
                additional["thinking_delta"] = reasoning
            for tc in delta.tool_calls or ():
                self._add_tool_call(tc)
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
                additional["finish_reason"] = choice.finish_reason
        additional.update(usage_kwargs(chunk.usage))
        return ChatResponse(
            message=self.message(), raw=chunk, delta=delta_text, additional_kwargs=additional
        )

    def _add_tool_call(self, tc: Any) -> None:
        index = tc.index if tc.index is not None else len(self.tool_calls)
        call = self._by_index.get(index)
        if call is None:
            call = {"id": tc.id or _new_call_id(), "type": "function",
                    "function": {"name": "", "arguments": ""}}
            self._by_index[index] = call
            self.tool_calls.append(call)
        elif tc.id:
            call["id"] = tc.id
        function = tc.function
        if function is not None:
            if function.name:
                call["function"]["name"] += function.name
            if function.arguments:
                call["function"]["arguments"] += function.arguments

    def message(self) -> ChatMessage:
        """The assistant message accumulated so far."""
        return _assistant_message(
            self.content,
            self.reasoning,
            [{**c, "function": dict(c["function"])} for c in self.tool_calls],
        )


class CompletionStreamState:
    """Folds ``/v1/completions`` (or chat) text deltas into ``CompletionResponse`` deltas."""

    def __init__(self) -> None:
        self.text = ""

    def add(self, chunk: Any, *, chat: bool) -> CompletionResponse:
        """Fold one chunk (a chat chunk if ``chat``) in and return the response to yield."""
        delta_text = ""
        additional: dict[str, Any] = {}
        if chunk.choices:
            choice = chunk.choices[0]
            delta_text = (choice.delta.content if chat else choice.text) or ""
            self.text += delta_text
            if choice.finish_reason is not None:
                additional["finish_reason"] = choice.finish_reason
        additional.update(usage_kwargs(chunk.usage))
        return CompletionResponse(
            text=self.text, delta=delta_text, raw=chunk, additional_kwargs=additional
        )

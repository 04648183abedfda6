"""Function calling of the LlamaIndex ``VLLM``: strict tool schemas, tool choice, tool calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole, ToolCallBlock
from llama_index.core.llms.llm import ToolSelection

from ._convert import resolve_tool_choice, tool_selections, tool_to_dict

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["ToolsMixin"]


class ToolsMixin:
    """The ``FunctionCallingLLM`` hooks (mixed in before it)."""

    strict_tools: bool

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



def _force_single_tool_call(response: ChatResponse) -> None:
    message = response.message
    calls = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    if len(calls) > 1:
        message.blocks = [b for b in message.blocks if not isinstance(b, ToolCallBlock)]
        message.blocks.append(calls[0])
        if message.additional_kwargs.get("tool_calls"):
            message.additional_kwargs["tool_calls"] = message.additional_kwargs["tool_calls"][:1]

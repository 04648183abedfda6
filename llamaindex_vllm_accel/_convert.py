"""Pure converters between LlamaIndex types and the OpenAI-shaped vLLM wire format.

Nothing here does I/O. Inputs from the core client (``ChatCompletion``, ``ChatCompletionChunk``,
``Completion``, ``CompletionChunk``) are read by attribute, so any object of the OpenAI shape works.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    AudioBlock,
    CachePoint,
    ChatMessage,
    ChatResponse,
    CitableBlock,
    CitationBlock,
    CompletionResponse,
    DocumentBlock,
    ImageBlock,
    LogProb,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = [
    "chat_response_from_completion",
    "completion_response_from_chat",
    "completion_response_from_completion",
    "message_to_dict",
    "messages_to_dicts",
    "parse_tool_arguments",
    "resolve_tool_choice",
    "tool_selections",
    "tool_to_dict",
    "usage_kwargs",
    "with_schema_hint",
]

# LlamaIndex roles that chat templates do not know, mapped onto ones they do.
_ROLE_MAP = {
    MessageRole.DEVELOPER: "system",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.FUNCTION: "tool",
}
# Roles whose content must be a plain string (chat templates concatenate it).
_STRING_ROLES = frozenset({"system", "assistant", "tool"})


# -- LlamaIndex -> wire ------------------------------------------------------------------------


def messages_to_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Convert LlamaIndex messages to OpenAI chat messages, keeping every role."""
    return [message_to_dict(m) for m in messages]


def message_to_dict(message: ChatMessage) -> dict[str, Any]:
    """Convert one message: roles kept, tool calls and tool results carried over.

    Raises:
        ValueError: for a content block vLLM cannot take (e.g. a ``DocumentBlock``).
    """
    role = _ROLE_MAP.get(message.role, message.role.value)
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.blocks:
        if isinstance(block, ToolCallBlock):
            tool_calls.append(_tool_call_block_to_dict(block))
        else:
            parts.extend(_block_to_parts(block))
    if not tool_calls and role == "assistant":
        kept = message.additional_kwargs.get("tool_calls") or ()
        tool_calls = [_tool_call_to_dict(tc) for tc in kept]

    content = _content(parts, as_string=role in _STRING_ROLES)
    out: dict[str, Any] = {"role": role, "content": content}
    if tool_calls:
        out["tool_calls"] = tool_calls
    if role == "tool":
        tool_call_id = message.additional_kwargs.get("tool_call_id")
        if tool_call_id is not None:
            out["tool_call_id"] = tool_call_id
    name = message.additional_kwargs.get("name")
    if name is not None:
        out["name"] = name
    return out


def _content(parts: list[dict[str, Any]], *, as_string: bool) -> str | list[dict[str, Any]]:
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    if as_string:
        raise ValueError("system, assistant and tool messages can only carry text for vLLM")
    return parts


def _image_parts(block: ImageBlock) -> list[dict[str, Any]]:
    url = block.inline_url() if block.image is not None or block.url is None else str(block.url)
    image_url: dict[str, Any] = {"url": url}
    if block.detail:
        image_url["detail"] = block.detail
    return [{"type": "image_url", "image_url": image_url}]


def _audio_parts(block: AudioBlock) -> list[dict[str, Any]]:
    if block.url is not None and block.audio is None:
        return [{"type": "audio_url", "audio_url": {"url": str(block.url)}}]
    data = block.resolve_audio(as_base64=True).read().decode("ascii")
    return [{"type": "input_audio", "input_audio": {"data": data, "format": block.format}}]


def _video_parts(block: VideoBlock) -> list[dict[str, Any]]:
    url = block.inline_url() if block.video is not None or block.url is None else str(block.url)
    return [{"type": "video_url", "video_url": {"url": url}}]


def _no_documents(block: DocumentBlock) -> list[dict[str, Any]]:
    raise ValueError("vLLM's chat API takes no documents; extract the text into a TextBlock")


_BLOCK_PARTS: tuple[tuple[type | tuple[type, ...], Callable[[Any], list[dict[str, Any]]]], ...] = (
    (TextBlock, lambda b: [{"type": "text", "text": b.text}]),
    # reasoning is not sent back; cache hints mean nothing to vLLM
    ((ThinkingBlock, CachePoint), lambda b: []),
    (ImageBlock, _image_parts),
    (AudioBlock, _audio_parts),
    (VideoBlock, _video_parts),
    (CitableBlock, lambda b: [p for inner in b.content for p in _block_to_parts(inner)]),
    (CitationBlock, lambda b: _block_to_parts(b.cited_content)),
    (DocumentBlock, _no_documents),
)


def _block_to_parts(block: Any) -> list[dict[str, Any]]:
    for kind, convert in _BLOCK_PARTS:
        if isinstance(block, kind):
            return convert(block)
    raise ValueError(f"unsupported content block for vLLM: {type(block).__name__}")


def _tool_call_block_to_dict(block: ToolCallBlock) -> dict[str, Any]:
    return {
        "id": block.tool_call_id or _new_call_id(),
        "type": "function",
        "function": {"name": block.tool_name, "arguments": _arguments_json(block.tool_kwargs)},
    }


def _tool_call_to_dict(tool_call: Any) -> dict[str, Any]:
    """Normalise a tool call kept in ``additional_kwargs`` (dict or SDK-like object)."""
    if not isinstance(tool_call, dict):
        tool_call = tool_call.model_dump() if hasattr(tool_call, "model_dump") else vars(tool_call)
    function = tool_call.get("function") or {}
    if not isinstance(function, dict):
        function = function.model_dump() if hasattr(function, "model_dump") else vars(function)
    return {
        "id": tool_call.get("id") or _new_call_id(),
        "type": "function",
        "function": {
            "name": function.get("name", ""),
            "arguments": _arguments_json(function.get("arguments") or {}),
        },
    }


def _arguments_json(arguments: dict[str, Any] | str) -> str:
    if isinstance(arguments, str):
        try:
            json.loads(arguments)
            return arguments
        except json.JSONDecodeError:
            return json.dumps(_partial(arguments))
    return json.dumps(arguments)


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def tool_to_dict(tool: BaseTool, *, strict: bool = True) -> dict[str, Any]:
    """OpenAI tool spec for a LlamaIndex tool.

    With ``strict`` the function carries ``"strict": true`` and a closed parameter object, so vLLM
    constrains the arguments to the schema (small models need this to produce valid calls).
    """
    spec = tool.metadata.to_openai_tool(skip_length_check=True)
    if strict:
        function = spec["function"]
        function["strict"] = True
        function["parameters"] = {**function["parameters"], "additionalProperties": False}
    return spec


def with_schema_hint(messages: list[ChatMessage], schema: dict[str, Any]) -> list[ChatMessage]:
    """``messages`` with a system instruction to answer as JSON matching ``schema``.

    The hint joins an existing leading system message (chat templates often keep only one).
    """
    hint = (
        "Reply with one compact JSON object on one line, matching this JSON schema: "
        + json.dumps(schema, separators=(",", ":"))
    )
    if messages and messages[0].role == MessageRole.SYSTEM:
        first = messages[0]
        merged = ChatMessage(role=MessageRole.SYSTEM, content=f"{first.content}\n\n{hint}")
        return [merged, *messages[1:]]
    return [ChatMessage(role=MessageRole.SYSTEM, content=hint), *messages]


def resolve_tool_choice(tool_choice: str | dict[str, Any] | None, tool_required: bool) -> Any:
    """Map LlamaIndex's tool choice (a mode or a tool name) to the OpenAI shape."""
    if tool_choice is None:
        return "required" if tool_required else "auto"
    if isinstance(tool_choice, dict) or tool_choice in ("auto", "none", "required"):
        return tool_choice
    return {"type": "function", "function": {"name": tool_choice}}


# -- wire -> LlamaIndex ------------------------------------------------------------------------


def parse_tool_arguments(arguments: str | dict[str, Any] | None) -> dict[str, Any] | str:
    """Arguments as a dict when they are complete JSON, else the raw (partial) string."""
    if arguments is None or isinstance(arguments, dict):
        return arguments or {}
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        return arguments
    return parsed if isinstance(parsed, dict) else arguments


def _partial(arguments: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        parsed = parse_partial_json(arguments)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def tool_selections(message: ChatMessage, *, error_on_no_tool_call: bool) -> list[ToolSelection]:
    """Tool calls of an assistant message, tolerant of partial JSON arguments (streaming)."""
    blocks = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    if not blocks:
        raw_calls = message.additional_kwargs.get("tool_calls") or ()
        blocks = [
            ToolCallBlock(
                tool_call_id=d["id"],
                tool_name=d["function"]["name"],
                tool_kwargs=d["function"]["arguments"],
            )
            for d in map(_tool_call_to_dict, raw_calls)
        ]
    if not blocks:
        if error_on_no_tool_call:
            raise ValueError(f"Expected at least one tool call, but got {len(blocks)} tool calls.")
        return []
    return [
        ToolSelection(
            tool_id=b.tool_call_id or "",
            tool_name=b.tool_name,
            tool_kwargs=b.tool_kwargs
            if isinstance(b.tool_kwargs, dict)
            else _partial(b.tool_kwargs),
        )
        for b in blocks
    ]


def usage_kwargs(usage: Any) -> dict[str, int]:
    """Token counts in the keys LlamaIndex's ``TokenCountingHandler`` reads."""
    if usage is None:
        return {}
    return {
        "prompt_tokens": usage.prompt_tokens or 0,
        "completion_tokens": usage.completion_tokens or 0,
        "total_tokens": usage.total_tokens or 0,
    }


def _logprobs(logprobs: Any) -> list[list[LogProb]] | None:
    """Chat logprobs (``{"content": [{token, logprob, bytes, top_logprobs}]}``), dict or object."""
    content = _get(logprobs, "content")
    if not content:
        return None
    return [
        [
            LogProb(token=_get(t, "token") or "", logprob=_get(t, "logprob") or 0.0,
                    bytes=_get(t, "bytes") or [])
            for t in (_get(entry, "top_logprobs") or [entry])
        ]
        for entry in content
    ]


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _assistant_message(
    content: str | None,
    reasoning: str | None,
    tool_calls: list[dict[str, Any]],
) -> ChatMessage:
    blocks: list[Any] = []
    if reasoning:
        blocks.append(ThinkingBlock(content=reasoning))
    blocks.append(TextBlock(text=content or ""))
    additional: dict[str, Any] = {}
    for call in tool_calls:
        function = call["function"]
        blocks.append(
            ToolCallBlock(
                tool_call_id=call["id"],
                tool_name=function["name"],
                tool_kwargs=parse_tool_arguments(function["arguments"]),
            )
        )
    if tool_calls:
        additional["tool_calls"] = tool_calls
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs=additional)


def _wire_tool_calls(tool_calls: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": tc.id or _new_call_id(),
            "type": "function",
            "function": {"name": tc.function.name, "arguments": tc.function.arguments or ""},
        }
        for tc in tool_calls or ()
    ]


def chat_response_from_completion(completion: Any) -> ChatResponse:
    """A non-streaming ``ChatCompletion`` as a ``ChatResponse`` (first choice)."""
    choice = completion.choices[0]
    msg = choice.message
    message = _assistant_message(
        msg.content, getattr(msg, "reasoning", None), _wire_tool_calls(msg.tool_calls)
    )
    additional = usage_kwargs(completion.usage)
    if choice.finish_reason is not None:
        additional["finish_reason"] = choice.finish_reason
    return ChatResponse(
        message=message,
        raw=completion,
        logprobs=_logprobs(choice.logprobs),
        additional_kwargs=additional,
    )


def completion_response_from_chat(completion: Any) -> CompletionResponse:
    """A ``ChatCompletion`` answering a prompt, as a ``CompletionResponse``."""
    choice = completion.choices[0]
    additional: dict[str, Any] = usage_kwargs(completion.usage)
    if choice.finish_reason is not None:
        additional["finish_reason"] = choice.finish_reason
    return CompletionResponse(
        text=choice.message.content or "",
        raw=completion,
        logprobs=_logprobs(choice.logprobs),
        additional_kwargs=additional,
    )


def completion_response_from_completion(completion: Any, index: int = 0) -> CompletionResponse:
    """A ``/v1/completions`` result (choice ``index``) as a ``CompletionResponse``."""
    choice = completion.choices[index]
    additional: dict[str, Any] = usage_kwargs(completion.usage)
    if choice.finish_reason is not None:
        additional["finish_reason"] = choice.finish_reason
    return CompletionResponse(text=choice.text or "", raw=completion, additional_kwargs=additional)

"""Pure converters between LangChain objects and the OpenAI-shaped vLLM wire objects.

Nothing here touches the network. Requests go out as plain dicts; responses come back as the
core client's pydantic models, read by attribute (``getattr`` with defaults, so the vLLM
extras that the models keep through ``extra="allow"`` are reachable too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolCallChunk,
    ToolMessage,
    UsageMetadata,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

PROVIDER = "vllm"
"""`response_metadata["model_provider"]` of every message this package builds."""

_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})


# --------------------------------------------------------------------------------------------
# LangChain -> OpenAI-shaped request dicts
# --------------------------------------------------------------------------------------------


def _text_of(content: str | list[Any]) -> str:
    """Concatenate the text parts of a message content (other parts are dropped)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") in _TEXT_PART_TYPES:
            parts.append(str(part.get("text", "")))
    return "".join(parts)


def _user_content(content: str | list[Any]) -> str | list[dict[str, Any]]:
    """Convert user content; text-only lists collapse to one string (kind to chat templates)."""
    if isinstance(content, str):
        return content
    if all(
        isinstance(p, str) or (isinstance(p, dict) and p.get("type") in _TEXT_PART_TYPES)
        for p in content
    ):
        return _text_of(content)
    from langchain_core.messages import is_data_content_block
    from langchain_core.messages.block_translators.openai import convert_to_openai_data_block

    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            parts.append({"type": "text", "text": part})
        elif not isinstance(part, dict):
            continue
        elif part.get("type") in _TEXT_PART_TYPES:
            parts.append({"type": "text", "text": part.get("text", "")})
        elif is_data_content_block(part):
            parts.append(convert_to_openai_data_block(part))
        elif part.get("type") in {"tool_use", "tool_result", "thinking", "reasoning"}:
            continue  # Anthropic-style history blocks carry nothing a vLLM template reads.
        else:
            parts.append(part)  # image_url, input_audio, video_url, ...: already OpenAI shaped
    return parts


def tool_call_to_dict(tool_call: ToolCall) -> dict[str, Any]:
    """Convert a LangChain tool call to the OpenAI ``tool_calls[i]`` shape."""
    return {
        "id": tool_call.get("id") or "",
        "type": "function",
        "function": {
            "name": tool_call["name"],
            "arguments": json.dumps(tool_call["args"], ensure_ascii=False),
        },
    }


def message_to_dict(message: BaseMessage) -> dict[str, Any]:
    """Convert one LangChain message to an OpenAI chat message dict.

    Args:
        message: Any LangChain message.

    Returns:
        A ``{"role": ..., "content": ...}`` dict (plus ``name``, ``tool_calls`` or
        ``tool_call_id`` where they apply).

    Raises:
        TypeError: For a message type with no chat-completions equivalent.
    """
    out: dict[str, Any]
    if isinstance(message, HumanMessage):
        out = {"role": "user", "content": _user_content(message.content)}
    elif isinstance(message, AIMessage):
        out = {"role": "assistant", "content": _text_of(message.content)}
        calls = [tool_call_to_dict(tc) for tc in message.tool_calls]
        calls += [
            {
                "id": itc.get("id") or "",
                "type": "function",
                "function": {"name": itc.get("name") or "", "arguments": itc.get("args") or ""},
            }
            for itc in message.invalid_tool_calls
        ]
        if calls:
            out["tool_calls"] = calls
            out["content"] = out["content"] or None
    elif isinstance(message, SystemMessage):
        role = message.additional_kwargs.get("__openai_role__", "system")
        out = {"role": role, "content": _text_of(message.content)}
    elif isinstance(message, ToolMessage):
        # Images and files a tool returns go to the server as content parts (a multimodal model
        # reads them; a text-only one answers a clear 400) instead of being dropped silently.
        content = message.content
        tool_content = _user_content(content) if isinstance(content, list) else str(content)
        out = {"role": "tool", "content": tool_content or "", "tool_call_id": message.tool_call_id}
    elif isinstance(message, ChatMessage):
        out = {"role": message.role, "content": _user_content(message.content)}
    elif isinstance(message, FunctionMessage):
        out = {"role": "function", "content": _text_of(message.content)}
    else:
        msg = f"Got unknown message type {type(message).__name__}"
        raise TypeError(msg)
    if message.name and out["role"] in {"user", "assistant", "system", "function"}:
        out["name"] = message.name
    return out


def messages_to_dicts(messages: Iterable[BaseMessage]) -> list[dict[str, Any]]:
    """Convert a conversation to OpenAI chat message dicts."""
    return [message_to_dict(m) for m in messages]


# --------------------------------------------------------------------------------------------
# OpenAI-shaped responses -> LangChain
# --------------------------------------------------------------------------------------------


def _get(obj: Any, name: str) -> Any:
    """``obj[name]`` or ``obj.name`` (vLLM extras kept by ``extra="allow"`` are plain dicts)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    extra = getattr(obj, "__pydantic_extra__", None)
    if extra is not None:  # a pydantic model: look up extras without raising AttributeError
        return obj.__dict__.get(name, extra.get(name))
    return getattr(obj, name, None)


def _dump(obj: Any) -> Any:
    """Plain-data view of a wire object (pydantic model, dict or scalar)."""
    dump = getattr(obj, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) else obj


def usage_to_metadata(usage: Any) -> UsageMetadata | None:
    """Map OpenAI ``usage`` to LangChain `UsageMetadata` (``None`` when absent).

    ``prompt_tokens_details.cached_tokens`` becomes ``input_token_details.cache_read`` and
    ``completion_tokens_details.reasoning_tokens`` becomes ``output_token_details.reasoning``;
    vLLM fills these only with ``--enable-prompt-tokens-details`` / a reasoning parser.
    """
    if usage is None:
        return None
    input_tokens = getattr(usage, "prompt_tokens", None) or 0
    output_tokens = getattr(usage, "completion_tokens", None) or 0
    total = getattr(usage, "total_tokens", None)
    meta = UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total if total is not None else input_tokens + output_tokens,
    )
    cached = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
    if cached is not None:
        meta["input_token_details"] = {"cache_read": cached}
    reasoning = _get(_get(usage, "completion_tokens_details"), "reasoning_tokens")
    if reasoning is not None:
        meta["output_token_details"] = {"reasoning": reasoning}
    return meta


def reasoning_of(obj: Any) -> str | None:
    """Reasoning of a message or delta (``reasoning``; before vLLM 0.11 ``reasoning_content``)."""
    value = getattr(obj, "reasoning", None)
    if value is None:
        value = _get(obj, "reasoning_content")
    return value if isinstance(value, str) else None


def parse_tool_calls(
    raw_calls: Sequence[Any] | None,
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Parse complete OpenAI ``tool_calls``; arguments that are not a JSON object are invalid."""
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for raw in raw_calls or ():
        function = getattr(raw, "function", None)
        name = getattr(function, "name", None) or ""
        arguments = getattr(function, "arguments", None) or ""
        call_id = getattr(raw, "id", None)
        error: str | None
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            args, error = None, f"Arguments are not valid JSON: {exc}"
        else:
            error = None if isinstance(args, dict) else "Arguments are not a JSON object"
        if isinstance(args, dict):
            calls.append(ToolCall(name=name, args=args, id=call_id, type="tool_call"))
        else:
            invalid.append(
                InvalidToolCall(
                    name=name, args=arguments, id=call_id, error=error, type="invalid_tool_call"
                )
            )
    return calls, invalid


def _response_metadata(obj: Any) -> dict[str, Any]:
    """Response-level metadata shared by invoke and the first streamed chunk."""
    meta: dict[str, Any] = {"model_provider": PROVIDER}
    if (model := getattr(obj, "model", None)) is not None:
        meta["model_name"] = model
    if (fingerprint := getattr(obj, "system_fingerprint", None)) is not None:
        meta["system_fingerprint"] = fingerprint
    if (response_id := getattr(obj, "id", None)) is not None:
        meta["id"] = response_id
    return meta


def _choice_metadata(choice: Any) -> dict[str, Any]:
    """Per-choice metadata: finish/stop reason and logprobs, when present."""
    meta: dict[str, Any] = {}
    if (finish := getattr(choice, "finish_reason", None)) is not None:
        meta["finish_reason"] = finish
    if (stop_reason := getattr(choice, "stop_reason", None)) is not None:
        meta["stop_reason"] = stop_reason
    if (logprobs := getattr(choice, "logprobs", None)) is not None:
        meta["logprobs"] = _dump(logprobs)
    return meta


def chat_completion_to_result(completion: Any) -> ChatResult:
    """Convert a non-streamed ``ChatCompletion`` to a `ChatResult` (one generation per choice)."""
    response_meta = _response_metadata(completion)
    usage = usage_to_metadata(getattr(completion, "usage", None))
    generations = []
    for choice in getattr(completion, "choices", None) or ():
        message = choice.message
        additional_kwargs: dict[str, Any] = {}
        if (reasoning := reasoning_of(message)) is not None:
            additional_kwargs["reasoning_content"] = reasoning
        if (refusal := getattr(message, "refusal", None)) is not None:
            additional_kwargs["refusal"] = refusal
        tool_calls, invalid_tool_calls = parse_tool_calls(getattr(message, "tool_calls", None))
        choice_meta = _choice_metadata(choice)
        ai = AIMessage(
            content=getattr(message, "content", None) or "",
            additional_kwargs=additional_kwargs,
            tool_calls=tool_calls,
            invalid_tool_calls=invalid_tool_calls,
            usage_metadata=usage,
            response_metadata={**response_meta, **choice_meta},
        )
        generations.append(ChatGeneration(message=ai, generation_info=choice_meta or None))
    llm_output: dict[str, Any] = {
        k: v for k, v in response_meta.items() if k in {"model_name", "system_fingerprint", "id"}
    }
    if usage is not None:
        llm_output["token_usage"] = _dump(completion.usage)
    return ChatResult(generations=generations, llm_output=llm_output)


def chunk_to_generation_chunk(chunk: Any, *, first: bool) -> ChatGenerationChunk | None:
    """Convert one streamed ``ChatCompletionChunk`` (choice 0) to a `ChatGenerationChunk`.

    Args:
        chunk: The wire chunk.
        first: Whether this is the first chunk of the stream. Response-level metadata
            (``model_name``, ``system_fingerprint``, ``id``) goes on the first chunk only,
            because LangChain concatenates string metadata when it merges chunks.

    Returns:
        The chunk, or ``None`` for a wire chunk that carries nothing (e.g. a choice other
        than 0 when ``n > 1``). The usage-only chunk vLLM sends last (empty ``choices``)
        becomes an empty chunk with ``usage_metadata`` and ``chunk_position="last"``.
    """
    choices = chunk.choices
    if not choices:
        usage = usage_to_metadata(chunk.usage)
        if usage is None and not first:
            return None
        message = AIMessageChunk(
            content="",
            usage_metadata=usage,
            response_metadata=_response_metadata(chunk) if first else {},
            chunk_position="last" if usage is not None else None,
        )
        return ChatGenerationChunk(message=message)
    choice = choices[0]
    if choice.index != 0:
        return None
    delta = choice.delta
    reasoning = reasoning_of(delta)
    content = delta.content or ""
    plain = not (first or delta.tool_calls or choice.finish_reason or choice.logprobs is not None)
    if plain and reasoning is None:  # the common case: one text token and nothing else
        return ChatGenerationChunk(message=AIMessageChunk(content=content))
    tool_call_chunks = [
        ToolCallChunk(
            name=tc.function.name if tc.function is not None else None,
            args=tc.function.arguments if tc.function is not None else None,
            id=tc.id,
            index=tc.index,
            type="tool_call_chunk",
        )
        for tc in delta.tool_calls or ()
    ]
    choice_meta = _choice_metadata(choice)
    response_meta = {**_response_metadata(chunk), **choice_meta} if first else choice_meta
    message = AIMessageChunk(
        content=content,
        additional_kwargs={} if reasoning is None else {"reasoning_content": reasoning},
        tool_call_chunks=tool_call_chunks,
        response_metadata=response_meta,
    )
    return ChatGenerationChunk(message=message, generation_info=choice_meta or None)


# --------------------------------------------------------------------------------------------
# Completions (/v1/completions) helpers for the VLLM LLM class
# --------------------------------------------------------------------------------------------


def completion_generation_info(choice: Any) -> dict[str, Any]:
    """``generation_info`` of one ``/v1/completions`` choice."""
    return _choice_metadata(choice)


def merge_extra_body(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Deep-merge dicts left to right; later layers win, nested dicts merge key by key."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        for key, value in layer.items():
            old = merged.get(key)
            if isinstance(old, dict) and isinstance(value, Mapping):
                merged[key] = merge_extra_body(old, value)
            else:
                merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged

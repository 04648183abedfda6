"""The pure converters between LangChain objects and vLLM's OpenAI-shaped wire objects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_vllm_accel._convert import (
    chat_completion_to_result,
    chunk_to_generation_chunk,
    merge_extra_body,
    message_to_dict,
    parse_tool_calls,
    usage_to_metadata,
)
from vllm_accel._models import ChatCompletion, ChatCompletionChunk

pytestmark = pytest.mark.unit


def completion(message: dict[str, Any], **extra: Any) -> ChatCompletion:
    body = {
        "id": "chatcmpl-1",
        "model": "smollm2",
        "system_fingerprint": "vllm-0.32.0-abc",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", **extra}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }
    return ChatCompletion.model_validate(body)


def chunk(delta: dict[str, Any] | None = None, **extra: Any) -> ChatCompletionChunk:
    body: dict[str, Any] = {"id": "chatcmpl-1", "model": "pirate", **extra}
    if delta is not None:
        body.setdefault("choices", [{"index": 0, "delta": delta}])
    return ChatCompletionChunk.model_validate(body)


# ---------------------------------------------------------------------------- messages -> wire


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (HumanMessage("hi"), {"role": "user", "content": "hi"}),
        (HumanMessage("hi", name="bob"), {"role": "user", "content": "hi", "name": "bob"}),
        (SystemMessage("be brief"), {"role": "system", "content": "be brief"}),
        (AIMessage("hello"), {"role": "assistant", "content": "hello"}),
        (
            HumanMessage([{"type": "text", "text": "a"}, "b"]),
            {"role": "user", "content": "ab"},
        ),
        (ChatMessage(role="developer", content="x"), {"role": "developer", "content": "x"}),
        (
            ToolMessage("3", tool_call_id="call-1", status="error"),
            {"role": "tool", "content": "3", "tool_call_id": "call-1"},
        ),
    ],
)
def test_message_to_dict(message: Any, expected: dict[str, Any]) -> None:
    assert message_to_dict(message) == expected


def test_ai_message_with_tool_calls_keeps_unicode_and_drops_anthropic_blocks() -> None:
    message = AIMessage(
        [
            {"type": "text", "text": "some text"},
            {"type": "tool_use", "id": "abc", "name": "f", "input": {"a": 1}},
        ],
        tool_calls=[{"name": "f", "args": {"name": "你好"}, "id": "abc", "type": "tool_call"}],
    )
    out = message_to_dict(message)
    assert out["content"] == "some text"
    assert out["tool_calls"] == [
        {
            "id": "abc",
            "type": "function",
            "function": {"name": "f", "arguments": '{"name": "你好"}'},
        }
    ]


def test_tool_message_keeps_its_image_as_a_content_part() -> None:
    message = ToolMessage(
        [
            {"type": "text", "text": "here"},
            {"type": "image", "base64": "AAAA", "mime_type": "image/png"},
        ],
        tool_call_id="call-1",
    )
    out = message_to_dict(message)
    assert out["content"] == [
        {"type": "text", "text": "here"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    text_only = ToolMessage([{"type": "text", "text": "a"}, "b"], tool_call_id="call-1")
    assert message_to_dict(text_only)["content"] == "ab"
    nothing = ToolMessage([{"type": "tool_result", "content": "x"}], tool_call_id="call-1")
    assert message_to_dict(nothing)["content"] == ""


def test_ai_message_with_only_tool_calls_sends_null_content() -> None:
    message = AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "1", "type": "tool_call"}])
    assert message_to_dict(message)["content"] is None


def test_image_parts_are_converted_to_openai_shape() -> None:
    message = HumanMessage(
        [
            {"type": "text", "text": "what is this?"},
            {"type": "image", "base64": "AAAA", "mime_type": "image/png"},
        ]
    )
    content = message_to_dict(message)["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"] == "data:image/png;base64,AAAA"


# ---------------------------------------------------------------------------- wire -> messages


def test_completion_to_result_keeps_metadata_usage_and_reasoning() -> None:
    result = chat_completion_to_result(
        completion({"role": "assistant", "content": "hi", "reasoning": "think"}, stop_reason="x")
    )
    message = result.generations[0].message
    assert message.content == "hi"
    assert message.additional_kwargs == {"reasoning_content": "think"}
    assert message.usage_metadata == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    assert message.response_metadata == {
        "model_provider": "vllm",
        "model_name": "smollm2",
        "system_fingerprint": "vllm-0.32.0-abc",
        "id": "chatcmpl-1",
        "finish_reason": "stop",
        "stop_reason": "x",
    }
    assert result.llm_output is not None
    assert result.llm_output["token_usage"]["total_tokens"] == 10
    assert [b["type"] for b in message.content_blocks] == ["reasoning", "text"]


def test_legacy_reasoning_content_field_is_read() -> None:
    result = chat_completion_to_result(
        completion({"role": "assistant", "content": "a", "reasoning_content": "old"})
    )
    assert result.generations[0].message.additional_kwargs["reasoning_content"] == "old"


def test_completion_tool_calls_valid_and_invalid() -> None:
    result = chat_completion_to_result(
        completion(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "t1", "function": {"name": "f", "arguments": '{"input": 3}'}},
                    {"id": "t2", "function": {"name": "g", "arguments": '{"input": '}},
                    {"id": "t3", "function": {"name": "h", "arguments": ""}},
                ],
            }
        )
    )
    message = result.generations[0].message
    assert isinstance(message, AIMessage)
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [
        ("f", {"input": 3}, "t1"),
        ("h", {}, "t3"),
    ]
    assert [c["name"] for c in message.invalid_tool_calls] == ["g"]


def test_parse_tool_calls_rejects_non_objects() -> None:
    calls, invalid = parse_tool_calls(
        completion(
            {
                "role": "assistant",
                "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": "[1]"}}],
            }
        )
        .choices[0]
        .message.tool_calls
    )
    assert calls == []
    assert invalid[0]["error"] == "Arguments are not a JSON object"


def test_usage_details() -> None:
    usage = ChatCompletion.model_validate(
        {
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "total_tokens": 15,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 2},
            }
        }
    ).usage
    assert usage_to_metadata(usage) == {
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
        "input_token_details": {"cache_read": 4},
        "output_token_details": {"reasoning": 2},
    }
    assert usage_to_metadata(None) is None


# ---------------------------------------------------------------------------- streamed chunks


def test_stream_chunks_merge_into_one_message() -> None:
    wire = [
        chunk({"role": "assistant", "content": ""}, system_fingerprint="fp"),
        chunk({"reasoning": "hmm"}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        chunk(choices=[], usage={"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}),
    ]
    gens = [chunk_to_generation_chunk(c, first=i == 0) for i, c in enumerate(wire)]
    assert all(g is not None for g in gens)
    messages = [g.message for g in gens if g is not None]
    assert all(isinstance(m, AIMessageChunk) for m in messages)
    full = messages[0]
    for m in messages[1:]:
        full = full + m
    assert isinstance(full, AIMessageChunk)
    assert full.content == "Hello"
    assert full.additional_kwargs == {"reasoning_content": "hmm"}
    assert full.usage_metadata == {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6}
    # Metadata that LangChain would concatenate is set exactly once.
    assert full.response_metadata["model_name"] == "pirate"
    assert full.response_metadata["system_fingerprint"] == "fp"
    assert full.response_metadata["finish_reason"] == "stop"
    assert full.chunk_position == "last"
    assert messages[-1].chunk_position == "last"
    assert all(m.chunk_position is None for m in messages[:-1])


def test_stream_tool_call_chunks_merge_into_tool_calls() -> None:
    wire = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"tool_calls": [{"index": 0, "id": "call-1", "function": {"name": "magic"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"inp'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ut": 3}'}}]}),
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
    ]
    full: Any = None
    for i, c in enumerate(wire):
        g = chunk_to_generation_chunk(c, first=i == 0)
        assert g is not None
        full = g.message if full is None else full + g.message
    assert full.tool_calls == [
        {"name": "magic", "args": {"input": 3}, "id": "call-1", "type": "tool_call"}
    ]
    assert full.response_metadata["finish_reason"] == "tool_calls"


def test_stream_skips_other_choices_and_empty_chunks() -> None:
    other_choice = chunk(choices=[{"index": 1, "delta": {}}])
    assert chunk_to_generation_chunk(other_choice, first=False) is None
    assert chunk_to_generation_chunk(chunk(choices=[]), first=False) is None


def test_stream_logprobs_are_plain_data() -> None:
    lp = {"content": [{"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": []}]}
    g = chunk_to_generation_chunk(
        chunk(choices=[{"index": 0, "delta": {"content": "a"}, "logprobs": lp}]), first=False
    )
    assert g is not None
    assert g.message.response_metadata["logprobs"] == lp
    json.dumps(g.message.response_metadata)


def test_merge_extra_body_is_deep_and_does_not_mutate() -> None:
    base = {"a": {"x": 1, "y": 2}, "b": 1}
    merged = merge_extra_body(base, {"a": {"y": 3}, "c": 4}, None)
    assert merged == {"a": {"x": 1, "y": 3}, "b": 1, "c": 4}
    assert base == {"a": {"x": 1, "y": 2}, "b": 1}

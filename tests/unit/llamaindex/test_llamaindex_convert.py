"""Pure converters: LlamaIndex messages <-> OpenAI wire shapes, chunks -> response deltas."""

from __future__ import annotations

import json

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.tools import FunctionTool

from llamaindex_vllm_accel._convert import (
    chat_response_from_completion,
    completion_response_from_chat,
    completion_response_from_completion,
    message_to_dict,
    messages_to_dicts,
    parse_tool_arguments,
    resolve_tool_choice,
    tool_selections,
    tool_to_dict,
)
from llamaindex_vllm_accel._stream import ChatStreamState, CompletionStreamState
from vllm_accel._models import ChatCompletion, ChatCompletionChunk, Completion, CompletionChunk

pytestmark = pytest.mark.unit


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# -- messages -> wire --------------------------------------------------------------------------


def test_roles_are_kept_not_flattened() -> None:
    messages = [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="user", content="hi"),
        ChatMessage(role="assistant", content="hello"),
        ChatMessage(role="user", content="bye"),
    ]
    assert messages_to_dicts(messages) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]


@pytest.mark.parametrize(
    ("role", "wire"),
    [
        (MessageRole.DEVELOPER, "system"),
        (MessageRole.CHATBOT, "assistant"),
        (MessageRole.MODEL, "assistant"),
        (MessageRole.FUNCTION, "tool"),
        (MessageRole.TOOL, "tool"),
    ],
)
def test_unusual_roles_map_to_template_roles(role: MessageRole, wire: str) -> None:
    assert message_to_dict(ChatMessage(role=role, content="x"))["role"] == wire


def test_assistant_tool_calls_and_tool_result() -> None:
    assistant = ChatMessage(
        role="assistant",
        blocks=[
            TextBlock(text=""),
            ToolCallBlock(tool_call_id="call_1", tool_name="add", tool_kwargs={"a": 2, "b": 3}),
        ],
    )
    tool = ChatMessage(
        role="tool", content="5", additional_kwargs={"tool_call_id": "call_1", "name": "add"}
    )
    out = messages_to_dicts([assistant, tool])
    assert out[0] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
        ],
    }
    assert out[1] == {"role": "tool", "content": "5", "tool_call_id": "call_1", "name": "add"}


def test_tool_calls_from_additional_kwargs_are_used_when_no_blocks() -> None:
    msg = ChatMessage(
        role="assistant",
        content="",
        additional_kwargs={"tool_calls": [
            {"id": "c9", "type": "function", "function": {"name": "add", "arguments": '{"a": 1'}}
        ]},
    )
    call = message_to_dict(msg)["tool_calls"][0]
    # partial JSON is completed so that the server receives valid arguments
    assert call == {"id": "c9", "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 1}'}}


def test_tool_call_without_id_gets_one() -> None:
    msg = ChatMessage(role="assistant", blocks=[ToolCallBlock(tool_name="add", tool_kwargs="{}")])
    call = message_to_dict(msg)["tool_calls"][0]
    assert call["id"].startswith("call_")
    assert call["function"]["arguments"] == "{}"


def test_thinking_is_not_sent_back_and_texts_join() -> None:
    msg = ChatMessage(
        role="assistant",
        blocks=[ThinkingBlock(content="hmm"), TextBlock(text="a"), TextBlock(text="b")],
    )
    assert message_to_dict(msg) == {"role": "assistant", "content": "a\nb"}


def test_user_image_becomes_content_parts() -> None:
    msg = ChatMessage(
        role="user",
        blocks=[TextBlock(text="what is this?"), ImageBlock(url="https://x.test/cat.png")],
    )
    assert message_to_dict(msg)["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}},
    ]


def test_inline_image_is_a_data_url() -> None:
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108020000009077"
                        "53de0000000c4944415408d763f8ffff3f0005fe02fea7d6a4480000000049454e44ae426082")
    part = message_to_dict(ChatMessage(role="user", blocks=[ImageBlock(image=png)]))["content"][0]
    assert part["image_url"]["url"].startswith("data:image/png;base64,")


def test_document_block_is_refused_clearly() -> None:
    msg = ChatMessage(role="user", blocks=[DocumentBlock(data=b"%PDF-1.4", title="x")])
    with pytest.raises(ValueError, match="documents"):
        message_to_dict(msg)


def test_system_with_image_is_refused() -> None:
    msg = ChatMessage(role="system", blocks=[ImageBlock(url="https://x.test/a.png")])
    with pytest.raises(ValueError, match="only carry text"):
        message_to_dict(msg)


# -- tools -------------------------------------------------------------------------------------


def test_tool_spec_is_strict_and_closed() -> None:
    spec = tool_to_dict(FunctionTool.from_defaults(add))
    function = spec["function"]
    assert spec["type"] == "function"
    assert function["name"] == "add"
    assert function["strict"] is True
    assert function["parameters"]["additionalProperties"] is False
    assert function["parameters"]["required"] == ["a", "b"]
    assert set(function["parameters"]["properties"]) == {"a", "b"}


def test_tool_spec_not_strict() -> None:
    function = tool_to_dict(FunctionTool.from_defaults(add), strict=False)["function"]
    assert "strict" not in function
    assert "additionalProperties" not in function["parameters"]


@pytest.mark.parametrize(
    ("choice", "required", "expected"),
    [
        (None, False, "auto"),
        (None, True, "required"),
        ("none", False, "none"),
        ("auto", True, "auto"),
        ("required", False, "required"),
        ("add", False, {"type": "function", "function": {"name": "add"}}),
        ({"type": "function", "function": {"name": "x"}}, False,
         {"type": "function", "function": {"name": "x"}}),
    ],
)
def test_resolve_tool_choice(choice: object, required: bool, expected: object) -> None:
    assert resolve_tool_choice(choice, required) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("", {}),
        (None, {}),
        ({"a": 1}, {"a": 1}),
        ('{"a": 1', '{"a": 1'),  # partial: kept as the raw string
        ("[1, 2]", "[1, 2]"),  # not an object: kept as is
    ],
)
def test_parse_tool_arguments(raw: object, expected: object) -> None:
    assert parse_tool_arguments(raw) == expected  # type: ignore[arg-type]


def test_tool_selections_tolerate_partial_json() -> None:
    msg = ChatMessage(
        role="assistant",
        blocks=[
            ToolCallBlock(tool_call_id="1", tool_name="add", tool_kwargs='{"a": 2, "b": '),
            ToolCallBlock(tool_call_id="2", tool_name="add", tool_kwargs='{"a": "x'),
            ToolCallBlock(tool_call_id="3", tool_name="add", tool_kwargs="}}garbage"),
        ],
    )
    selections = tool_selections(msg, error_on_no_tool_call=True)
    assert [(s.tool_id, s.tool_name, s.tool_kwargs) for s in selections] == [
        ("1", "add", {"a": 2, "b": None}),
        ("2", "add", {"a": None}),  # a partial string value is not guessed
        ("3", "add", {}),
    ]


def test_tool_selections_none() -> None:
    msg = ChatMessage(role="assistant", content="just text")
    assert tool_selections(msg, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="at least one tool call"):
        tool_selections(msg, error_on_no_tool_call=True)


def test_tool_selections_from_additional_kwargs() -> None:
    msg = ChatMessage(
        role="assistant",
        content="",
        additional_kwargs={"tool_calls": [
            {"id": "c1", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}
        ]},
    )
    [sel] = tool_selections(msg, error_on_no_tool_call=True)
    assert (sel.tool_id, sel.tool_name, sel.tool_kwargs) == ("c1", "add", {"a": 1, "b": 2})


# -- wire -> responses -------------------------------------------------------------------------

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def _completion(message: dict[str, object], finish: str = "stop") -> ChatCompletion:
    return ChatCompletion.model_validate({
        "id": "chatcmpl-1", "model": "smollm2", "usage": USAGE,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    })


def test_chat_response_text_usage_raw() -> None:
    completion = _completion({"role": "assistant", "content": "Hello!"})
    resp = chat_response_from_completion(completion)
    assert resp.message.role == MessageRole.ASSISTANT
    assert resp.message.content == "Hello!"
    assert resp.raw is completion
    assert resp.additional_kwargs == {**USAGE, "finish_reason": "stop"}
    assert "tool_calls" not in resp.message.additional_kwargs


def test_chat_response_tool_calls_round_trip() -> None:
    completion = _completion(
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "chatcmpl-tool-1", "type": "function",
             "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}},
        ]},
        finish="tool_calls",
    )
    resp = chat_response_from_completion(completion)
    [block] = [b for b in resp.message.blocks if isinstance(b, ToolCallBlock)]
    assert block.tool_call_id == "chatcmpl-tool-1"
    assert block.tool_kwargs == {"a": 2, "b": 3}
    assert resp.message.additional_kwargs["tool_calls"][0]["function"]["name"] == "add"
    # the message goes back to the server unchanged in meaning
    wire = message_to_dict(resp.message)
    assert wire["tool_calls"][0]["id"] == "chatcmpl-tool-1"
    assert json.loads(wire["tool_calls"][0]["function"]["arguments"]) == {"a": 2, "b": 3}


def test_chat_response_reasoning_is_a_thinking_block() -> None:
    resp = chat_response_from_completion(
        _completion({"role": "assistant", "content": "4", "reasoning": "2+2"})
    )
    assert isinstance(resp.message.blocks[0], ThinkingBlock)
    assert resp.message.blocks[0].content == "2+2"
    assert resp.message.content == "4"


def test_chat_logprobs() -> None:
    completion = ChatCompletion.model_validate({
        "choices": [{"message": {"content": "Hi"}, "logprobs": {"content": [
            {"token": "Hi", "logprob": -0.1, "bytes": [72, 105],
             "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                              {"token": "Yo", "logprob": -2.5, "bytes": None}]},
        ]}}],
    })
    resp = chat_response_from_completion(completion)
    assert resp.logprobs is not None
    assert [(lp.token, lp.logprob) for lp in resp.logprobs[0]] == [("Hi", -0.1), ("Yo", -2.5)]


def test_completion_responses() -> None:
    chat = completion_response_from_chat(_completion({"content": "done"}))
    assert (chat.text, chat.additional_kwargs["completion_tokens"]) == ("done", 7)
    raw = Completion.model_validate({
        "usage": USAGE, "choices": [{"index": 0, "text": " world", "finish_reason": "length"}],
    })
    resp = completion_response_from_completion(raw)
    assert resp.text == " world"
    assert resp.additional_kwargs["finish_reason"] == "length"
    assert resp.raw is raw


def _chunk(delta: dict[str, object] | None = None, finish: str | None = None,
           usage: dict[str, int] | None = None) -> ChatCompletionChunk:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return ChatCompletionChunk.model_validate({"choices": choices, "usage": usage})


def test_stream_state_text_and_usage() -> None:
    state = ChatStreamState()
    chunks = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hel"}),
        _chunk({"content": "lo"}, finish="stop"),
        _chunk(None, usage=USAGE),
    ]
    out = [state.add(c) for c in chunks]
    assert [r.delta for r in out] == ["", "Hel", "lo", ""]
    assert [r.message.content for r in out] == ["", "Hel", "Hello", "Hello"]
    assert out[2].additional_kwargs["finish_reason"] == "stop"
    assert out[-1].additional_kwargs == USAGE
    assert out[-1].raw is chunks[-1]


def test_stream_state_tool_call_deltas() -> None:
    state = ChatStreamState()
    out = [
        state.add(_chunk({"tool_calls": [
            {"index": 0, "id": "t1", "type": "function",
             "function": {"name": "add", "arguments": ""}}]})),
        state.add(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 2'}}]})),
        state.add(_chunk({"tool_calls": [
            {"index": 0, "function": {"arguments": ', "b": 3}'}},
            {"index": 1, "id": "t2", "function": {"name": "add", "arguments": '{"a": 1, "b": 1}'}},
        ]}, finish="tool_calls")),
    ]
    # mid-stream: partial arguments parse as far as they go, never raise
    mid = tool_selections(out[1].message, error_on_no_tool_call=False)
    assert [(s.tool_id, s.tool_name, s.tool_kwargs) for s in mid] == [("t1", "add", {"a": 2})]
    final = tool_selections(out[2].message, error_on_no_tool_call=True)
    assert [(s.tool_id, s.tool_kwargs) for s in final] == [("t1", {"a": 2, "b": 3}),
                                                          ("t2", {"a": 1, "b": 1})]
    # earlier responses are not mutated by later chunks
    assert out[1].message.additional_kwargs["tool_calls"][0]["function"]["arguments"] == '{"a": 2'
    assert [b.tool_kwargs for b in out[2].message.blocks if isinstance(b, ToolCallBlock)] == [
        {"a": 2, "b": 3}, {"a": 1, "b": 1}]


def test_stream_state_reasoning_delta() -> None:
    state = ChatStreamState()
    first = state.add(_chunk({"reasoning": "think"}))
    second = state.add(_chunk({"content": "ok"}))
    assert first.additional_kwargs["thinking_delta"] == "think"
    assert "thinking_delta" not in second.additional_kwargs
    assert isinstance(second.message.blocks[0], ThinkingBlock)
    assert second.message.content == "ok"


def test_completion_stream_state() -> None:
    state = CompletionStreamState()
    chunks = [
        CompletionChunk.model_validate({"choices": [{"index": 0, "text": "a"}]}),
        CompletionChunk.model_validate({"choices": [{"index": 0, "text": "b",
                                                     "finish_reason": "length"}]}),
        CompletionChunk.model_validate({"choices": [], "usage": USAGE}),
    ]
    out = [state.add(c, chat=False) for c in chunks]
    assert [(r.delta, r.text) for r in out] == [("a", "a"), ("b", "ab"), ("", "ab")]
    assert out[-1].additional_kwargs == USAGE
    chat_state = CompletionStreamState()
    assert chat_state.add(_chunk({"content": "x"}), chat=True).text == "x"

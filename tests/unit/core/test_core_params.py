"""Local validation and payload building: bad input never reaches the network."""

from __future__ import annotations

from typing import Any

import pytest

from vllm_accel import InvalidRequestError
from vllm_accel._params import chat_payload, completion_payload, embedding_payload, merge_deep

pytestmark = pytest.mark.unit

MSG = [{"role": "user", "content": "hi"}]


def chat(streaming: bool = False, **params: Any) -> dict[str, Any]:
    return chat_payload(MSG, "smollm2", params, stream=streaming)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"temperature": 2.5}, "temperature: Input should be less than or equal to 2"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -2}, "top_k"),
        ({"min_p": 2}, "min_p"),
        ({"n": 0}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4 strings"),
        ({"top_logprobs": 3}, "top_logprobs needs logprobs=True"),
        ({"add_generation_prompt": True, "continue_final_message": True}, "exclude each other"),
        ({"tool_choice": "required"}, "needs tools"),
        ({"tools": []}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "a"}}],
          "tool_choice": {"type": "function", "function": {"name": "b"}}}, "not in tools"),
        ({"structured_outputs": {"json": {}, "regex": "a"}}, "exactly one of"),
        ({"structured_outputs": {"disable_any_whitespace": True}}, "exactly one of"),
        ({"best_of": 3}, "best_of was removed"),
        ({"guided_decoding_backend": "xgrammar"}, "server flag"),
        ({"stream": True}, "stream_chat"),
        ({"stream_options": {"include_usage": True}}, "only valid when streaming"),
        ({"temprature": 0.5}, "unknown parameter 'temprature'"),
        ({"truncation_side": "middle"}, "truncation_side"),
        ({"cache_salt": "x" * 129}, "cache_salt"),
    ],
)
def test_bad_chat_params_are_refused_locally(params: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        chat(**params)


def test_valid_chat_payload_keeps_only_what_was_set() -> None:
    assert chat(temperature=0, top_k=20, seed=7, stop="\n") == {
        "messages": MSG, "model": "smollm2", "temperature": 0.0, "top_k": 20, "seed": 7,
        "stop": "\n"}


def test_guided_fields_map_to_structured_outputs() -> None:
    payload = chat(guided_choice=["yes", "no"], guided_whitespace_pattern=r"\s*")
    assert payload["structured_outputs"] == {"choice": ["yes", "no"], "whitespace_pattern": r"\s*"}
    assert not any(k.startswith("guided_") for k in payload)


def test_stream_asks_for_usage_unless_told_otherwise() -> None:
    assert chat(streaming=True)["stream_options"] == {"include_usage": True}
    assert chat(streaming=True)["stream"] is True
    custom = chat(streaming=True, stream_options={"include_usage": False,
                                               "continuous_usage_stats": True})
    assert custom["stream_options"] == {"include_usage": False, "continuous_usage_stats": True}
    with pytest.raises(InvalidRequestError, match="prompt_logprobs"):
        chat(streaming=True, prompt_logprobs=1)


def test_extra_body_is_deep_merged_last() -> None:
    payload = chat(chat_template_kwargs={"a": 1}, extra_body={
        "chat_template_kwargs": {"b": 2}, "vllm_custom": True})
    assert payload["chat_template_kwargs"] == {"a": 1, "b": 2}
    assert payload["vllm_custom"] is True
    assert merge_deep({"a": {"x": 1}}, {"a": {"y": 2}, "b": 3}) == {"a": {"x": 1, "y": 2}, "b": 3}


def test_logit_bias_keys_become_strings_and_none_is_unset() -> None:
    assert chat(logit_bias={50256: -100}, temperature=None)["logit_bias"] == {"50256": -100.0}
    assert "temperature" not in chat(temperature=None)


@pytest.mark.parametrize("messages", [[], "", [{"content": "x"}], [1], None])
def test_bad_messages(messages: Any) -> None:
    if messages == "":
        assert chat_payload("", None, {}, stream=False)["messages"][0]["content"] == ""
        return
    with pytest.raises(InvalidRequestError, match="messages"):
        chat_payload(messages, None, {}, stream=False)


def test_string_message_is_one_user_turn_and_model_is_optional() -> None:
    assert chat_payload("hi", None, {}, stream=False) == {"messages": MSG}


@pytest.mark.parametrize(
    ("prompt", "ok"),
    [("x", True), (["a", "b"], True), ([1, 2, 3], True), ([[1, 2], [3]], True),
     ([], False), ([["a"], 1], False), (["a"] * 1025, False), (None, False), ([[]], False)],
)
def test_completion_prompts(prompt: Any, ok: bool) -> None:
    if ok:
        assert completion_payload(prompt, None, {"max_tokens": 0}, stream=False)["prompt"] == prompt
    else:
        with pytest.raises(InvalidRequestError):
            completion_payload(prompt, None, {}, stream=False)


def test_completion_logprobs_is_an_int() -> None:
    assert completion_payload("x", None, {"logprobs": 2}, stream=False)["logprobs"] == 2
    with pytest.raises(InvalidRequestError):
        completion_payload("x", None, {"logprobs": -5}, stream=False)


def test_embedding_payload() -> None:
    assert embedding_payload(["a", "b"], "minilm", {"dimensions": None}) == {
        "input": ["a", "b"], "model": "minilm"}
    with pytest.raises(InvalidRequestError, match="unknown parameter 'normalize'"):
        embedding_payload("a", None, {"normalize": True})
    with pytest.raises(InvalidRequestError):
        embedding_payload([], None, {})
    with pytest.raises(InvalidRequestError):
        embedding_payload("", None, {})

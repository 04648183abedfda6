"""Folding streamed chunks into the non-streamed result."""

from __future__ import annotations

from typing import Any

import pytest

from vllm_accel import ChatCompletionChunk, CompletionChunk
from vllm_accel._accumulate import ChatAccumulator, CompletionAccumulator, merge_logprobs

pytestmark = pytest.mark.unit


def chunk(*choices: dict[str, Any], usage: dict[str, int] | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {"id": "chatcmpl-x", "model": "smollm2", "created": 7, "choices": list(choices),
         "usage": usage, "system_fingerprint": "vllm-0.32.0"})


def test_content_reasoning_finish_and_usage() -> None:
    acc = ChatAccumulator()
    acc.add(chunk({"index": 0, "delta": {"role": "assistant", "content": ""}}))
    acc.add(chunk({"index": 0, "delta": {"reasoning_content": "think "}}))  # old name kept
    acc.add(chunk({"index": 0, "delta": {"reasoning": "more"}}))
    acc.add(chunk({"index": 0, "delta": {"content": "Hel"}}))
    acc.add(chunk({"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop",
                   "stop_reason": 28}))
    acc.add(chunk(usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}))
    result = acc.result()
    choice = result.choices[0]
    assert choice.message.content == "Hello"
    assert choice.message.reasoning == "think more"
    assert (choice.finish_reason, choice.stop_reason) == ("stop", 28)
    assert result.usage is not None
    assert result.usage.total_tokens == 8
    assert (result.id, result.model, result.created) == ("chatcmpl-x", "smollm2", 7)
    assert result.system_fingerprint == "vllm-0.32.0"


def test_tool_call_fragments_concatenate_by_index() -> None:
    acc = ChatAccumulator()
    acc.add(chunk({"index": 0, "delta": {"content": None, "tool_calls": [
        {"index": 0, "id": "chatcmpl-tool-1", "type": "function",
         "function": {"name": "get_weather"}}]}}))
    for part in ('{"city"', ': "Pa', 'ris"}'):
        acc.add(chunk({"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": part}}]}}))
    acc.add(chunk({"index": 0, "delta": {"tool_calls": [
        {"index": 1, "id": "t2", "function": {"name": "time", "arguments": "{}"}}]}}))
    acc.add(chunk({"index": 0, "delta": {}, "finish_reason": "tool_calls"}))
    message = acc.result().choices[0].message
    assert message.content is None
    assert [(t.id, t.function.name, t.function.arguments) for t in message.tool_calls or []] == [
        ("chatcmpl-tool-1", "get_weather", '{"city": "Paris"}'), ("t2", "time", "{}")]


def test_interleaved_choices_stay_apart() -> None:
    acc = ChatAccumulator()
    for i, text in [(0, "a"), (1, "x"), (0, "b"), (1, "y")]:
        acc.add(chunk({"index": i, "delta": {"content": text}}))
    assert [c.message.content for c in acc.result().choices] == ["ab", "xy"]


def test_continuous_usage_replaces_instead_of_adding() -> None:
    acc = ChatAccumulator()
    for n in (1, 2, 3):
        acc.add(chunk({"index": 0, "delta": {"content": "t"}},
                      usage={"prompt_tokens": 4, "completion_tokens": n, "total_tokens": 4 + n}))
    assert acc.result().usage.completion_tokens == 3  # type: ignore[union-attr]


def test_chat_logprobs_concatenate() -> None:
    acc = ChatAccumulator()
    for token in ("a", "b"):
        acc.add(chunk({"index": 0, "delta": {"content": token},
                       "logprobs": {"content": [{"token": token, "logprob": -0.1}]}}))
    assert [e["token"] for e in acc.result().choices[0].logprobs["content"]] == ["a", "b"]


def test_completion_accumulator() -> None:
    acc = CompletionAccumulator()
    for i, text in [(0, "Once"), (1, "Hello"), (0, " upon"), (1, " there")]:
        acc.add(CompletionChunk.model_validate({"id": "cmpl-1", "model": "smollm2", "choices": [
            {"index": i, "text": text, "logprobs": {"tokens": [text], "token_logprobs": [-1.0]}}
        ]}))
    acc.add(CompletionChunk.model_validate({"choices": [
        {"index": 0, "text": "", "finish_reason": "length"}]}))
    result = acc.result()
    assert [c.text for c in result.choices] == ["Once upon", "Hello there"]
    assert result.choices[0].finish_reason == "length"
    assert result.choices[1].logprobs["tokens"] == ["Hello", " there"]
    assert result.text == "Once upon"


def test_merge_logprobs_edges() -> None:
    assert merge_logprobs(None, {"a": [1]}) == {"a": [1]}
    assert merge_logprobs({"a": [1]}, None) == {"a": [1]}
    assert merge_logprobs({"a": [1], "b": 1}, {"a": [2], "b": 2}) == {"a": [1, 2], "b": 2}

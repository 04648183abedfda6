"""``VLLMEmbedding`` against a scripted in-process server: batching, texts, async, pickling."""

from __future__ import annotations

import logging
import pickle

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from llamaindex_fake import FakeVLLM

from llamaindex_vllm_accel import VLLMEmbedding

pytestmark = pytest.mark.unit


def test_is_a_base_embedding(embed_model: VLLMEmbedding) -> None:
    assert isinstance(embed_model, BaseEmbedding)
    assert embed_model.embed_batch_size == 256


def test_one_request_per_batch(embed_model: VLLMEmbedding, fake: FakeVLLM) -> None:
    texts = [f"text {i}" * (i + 1) for i in range(600)]
    vectors = embed_model.get_text_embedding_batch(texts)
    assert [v[0] for v in vectors] == [float(len(t)) for t in texts]  # input order kept
    bodies = fake.bodies("/v1/embeddings")
    assert [len(b["input"]) for b in bodies] == [256, 256, 88]


def test_texts_are_not_rewritten(embed_model: VLLMEmbedding, fake: FakeVLLM) -> None:
    text = "line one\nline two\n\n  indented"
    embed_model.get_text_embedding(text)
    embed_model.get_query_embedding(text)
    assert [b["input"] for b in fake.bodies("/v1/embeddings")] == [[text], [text]]


def test_instructions_only_when_set(embed_model: VLLMEmbedding, fake: FakeVLLM) -> None:
    tuned = embed_model.model_copy(update={"query_instruction": "query: ",
                                           "text_instruction": "passage: "})
    tuned.get_query_embedding("q")
    tuned.get_text_embedding_batch(["a", "b"])
    assert [b["input"] for b in fake.bodies("/v1/embeddings")] == [
        ["query: q"], ["passage: a", "passage: b"]]


def test_request_fields(embed_model: VLLMEmbedding, fake: FakeVLLM) -> None:
    embed_model.get_text_embedding("x")
    [body] = fake.bodies("/v1/embeddings")
    assert body["truncate_prompt_tokens"] == -1
    assert "dimensions" not in body  # never sent unless asked (vLLM refuses it for most models)
    assert "model" not in body
    named = embed_model.model_copy(update={"model_name": "minilm", "dimensions": 8,
                                           "truncate_prompt_tokens": None})
    named.get_text_embedding("x")
    body = fake.bodies("/v1/embeddings")[-1]
    assert (body["model"], body["dimensions"]) == ("minilm", 8)
    assert "truncate_prompt_tokens" not in body


async def test_async_batches(embed_model: VLLMEmbedding, fake: FakeVLLM) -> None:
    vectors = await embed_model.aget_text_embedding_batch(["a", "bb", "ccc"])
    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0]
    assert len(fake.bodies("/v1/embeddings")) == 1
    assert (await embed_model.aget_query_embedding("dddd"))[0] == 4.0
    assert (await embed_model.aget_text_embedding("eeeee"))[0] == 5.0


def test_payload_and_pickle(caplog: pytest.LogCaptureFixture) -> None:
    model = VLLMEmbedding(base_url="http://u:p@vllm.test:8001", api_key="sk-e", model_name="m")
    model.client  # noqa: B018 - a live client must not break pickling
    payload = model.to_payload()
    assert payload["base_url"] == "http://vllm.test:8001"
    assert "sk-e" not in repr(payload) + model.to_json()
    with caplog.at_level(logging.WARNING):
        clone = pickle.loads(pickle.dumps(model))
    assert "unpickleable" not in caplog.text
    assert clone.model_name == "m"
    assert clone.api_key is not None
    assert clone.api_key.get_secret_value() == "sk-e"

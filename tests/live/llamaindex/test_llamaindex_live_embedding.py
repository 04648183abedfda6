"""``VLLMEmbedding`` against the real MiniLM server: vectors, batching, async, pickling."""

from __future__ import annotations

import math
import pickle

import pytest

from llamaindex_vllm_accel import VLLMEmbedding

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def embed_model(embed_server_url: str) -> VLLMEmbedding:
    return VLLMEmbedding(base_url=embed_server_url, embed_batch_size=64)


def _cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_vectors_carry_meaning(embed_model: VLLMEmbedding) -> None:
    cat = embed_model.get_query_embedding("a small cat")
    kitten, stocks = embed_model.get_text_embedding_batch(
        ["a little kitten", "stock market prices fell sharply"])
    assert len(cat) == 384
    assert _cos(cat, kitten) > _cos(cat, stocks) + 0.2


def test_one_request_per_batch(embed_model: VLLMEmbedding) -> None:
    texts = [f"sentence number {i} about topic {i % 7}" for i in range(150)]
    before = embed_model.client.stats().total_requests
    vectors = embed_model.get_text_embedding_batch(texts)
    assert embed_model.client.stats().total_requests - before == 3  # 64 + 64 + 22
    assert len(vectors) == 150
    single = embed_model.get_text_embedding(texts[100])
    assert _cos(single, vectors[100]) > 0.999  # order kept


async def test_async_matches_sync(embed_model: VLLMEmbedding) -> None:
    texts = ["first text", "second text\nwith a newline", "third"]
    sync = embed_model.get_text_embedding_batch(texts)
    async_ = await embed_model.aget_text_embedding_batch(texts)
    assert all(_cos(a, b) > 0.999 for a, b in zip(sync, async_, strict=True))


def test_long_inputs_are_truncated_not_refused(embed_model: VLLMEmbedding) -> None:
    long_text = "word " * 2000  # far beyond MiniLM's 256-token window
    assert len(embed_model.get_text_embedding(long_text)) == 384


def test_unpickled_copy_works(embed_model: VLLMEmbedding) -> None:
    clone = pickle.loads(pickle.dumps(embed_model))
    assert clone._overrides.client is None  # no client travels in the pickle
    assert _cos(clone.get_text_embedding("hello"), embed_model.get_text_embedding("hello")) > 0.999

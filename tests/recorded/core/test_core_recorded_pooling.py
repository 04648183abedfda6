"""Reranking, scoring, pooling and base64 embeddings replaying real MiniLM (vLLM 0.32) traffic."""

from __future__ import annotations

import pytest

from vllm_accel import AsyncVLLMClient, VLLMClient

RECORDED_API_KEY = "sk-recorded-secret-4d2c"  # sent while recording; never in a cassette

pytestmark = pytest.mark.vcr
QUERY = "What is the capital of France?"
DOCUMENTS = ["Bananas are rich in potassium.", "The Eiffel Tower is in Paris.",
             "Paris is the capital and largest city of France."]


def test_rerank(recorded_embed_url: str) -> None:
    with VLLMClient(recorded_embed_url, model="minilm", api_key=RECORDED_API_KEY) as client:
        answer = client.rerank(QUERY, DOCUMENTS, top_n=2)
    assert answer.model == "minilm"
    assert answer.indices() == [2, 1]
    assert answer.documents()[0] == DOCUMENTS[2]
    assert answer.results[0].relevance_score > answer.results[1].relevance_score
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0


async def test_rerank_v2_route_async(recorded_embed_url: str) -> None:
    async with AsyncVLLMClient(recorded_embed_url, model="minilm") as client:
        answer = await client.rerank(QUERY, [{"text": d} for d in DOCUMENTS], route="/v2/rerank")
    assert answer.indices()[0] == 2
    assert sorted(answer.indices()) == [0, 1, 2]


def test_score(recorded_embed_url: str) -> None:
    with VLLMClient(recorded_embed_url, model="minilm") as client:
        paris, bananas = client.score(QUERY, [DOCUMENTS[2], "Bananas are yellow."]).scores()
    assert paris > 0.7
    assert bananas < 0.2


def test_pooling(recorded_embed_url: str) -> None:
    with VLLMClient(recorded_embed_url, model="minilm") as client:
        outputs = client.pooling(["a cat", "a dog"]).outputs()
    assert [len(o) for o in outputs] == [384, 384]
    assert outputs[0] != outputs[1]


def test_embeddings_base64_decoded(recorded_embed_url: str) -> None:
    with VLLMClient(recorded_embed_url, model="minilm") as client:
        packed = client.embed(["a cat", "a dog"], encoding_format="base64").vectors()
        plain = client.embed(["a cat", "a dog"]).vectors()
    assert [len(v) for v in packed] == [384, 384]
    for a, b in zip(packed, plain, strict=True):
        assert a == pytest.approx(b, abs=1e-6)

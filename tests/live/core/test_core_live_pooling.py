"""Reranking, scoring, pooling and the embeddings extras against the real MiniLM server."""

from __future__ import annotations

import math
from typing import Any

import pytest
from core_live_helpers import resolve

from vllm_accel import (
    AsyncVLLMClient,
    BadRequestError,
    Endpoint,
    InvalidRequestError,
    PoolingResponse,
    RerankResponse,
    ScoreResponse,
    VLLMClient,
)

pytestmark = pytest.mark.live

QUERY = "What is the capital of France?"
PARIS = "Paris is the capital and largest city of France."
# What a keyword retriever would bring back for the query, the answer last.
RETRIEVED = [
    "What is the capital of Australia? Many people guess Sydney.",
    "France is famous for its cheese, its wine and its capital cities of fashion.",
    "Bananas are rich in potassium.",
    PARIS,
]


async def test_rerank_moves_the_answer_from_last_to_first(embed_client: Any) -> None:
    answer = await resolve(embed_client.rerank(QUERY, RETRIEVED))
    assert isinstance(answer, RerankResponse)
    assert answer.model == "minilm"
    assert answer.indices()[0] == len(RETRIEVED) - 1  # the last retrieved wins
    assert answer.documents()[0] == PARIS
    assert sorted(answer.indices()) == list(range(len(RETRIEVED)))
    scores = [r.relevance_score for r in answer.results]
    assert scores == sorted(scores, reverse=True)  # best first
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0
    assert embed_client.stats().by_route["/rerank"].requests == 1


async def test_rerank_top_n_and_the_v2_route(embed_client: Any) -> None:
    top = await resolve(embed_client.rerank(QUERY, RETRIEVED, top_n=2))
    assert len(top.results) == 2
    v2 = await resolve(embed_client.rerank(
        QUERY, [{"text": d} for d in RETRIEVED], route="/v2/rerank"))
    assert v2.indices()[:2] == top.indices()
    assert v2.top(2) == top.results  # the same handler answers both routes
    assert "/v2/rerank" in embed_client.stats().by_route


async def test_score_paris_against_bananas(embed_client: Any) -> None:
    answer = await resolve(embed_client.score(QUERY, [PARIS, "Bananas are yellow."]))
    assert isinstance(answer, ScoreResponse)
    paris, bananas = answer.scores()
    assert paris > 0.7
    assert bananas < 0.2
    assert [d.index for d in answer.data] == [0, 1]
    pairwise = await resolve(embed_client.score([QUERY, "a yellow fruit"],
                                                [PARIS, "Bananas are yellow."]))
    assert pairwise.scores()[0] == pytest.approx(paris, abs=1e-5)
    assert pairwise.scores()[1] > bananas  # "a yellow fruit" vs bananas beats the query


async def test_bi_encoder_rerank_score_is_the_cosine_of_the_embeddings(
        embed_client: Any) -> None:
    score = (await resolve(embed_client.score(QUERY, PARIS))).scores()[0]
    q, d = (await resolve(embed_client.embed([QUERY, PARIS]))).vectors()
    cosine = sum(a * b for a, b in zip(q, d, strict=True)) / (
        math.hypot(*q) * math.hypot(*d))
    assert score == pytest.approx(cosine, abs=1e-4)


async def test_pooling_returns_the_embedding_vectors(embed_client: Any) -> None:
    pooled = await resolve(embed_client.pooling(["a cat", "stock markets"]))
    assert isinstance(pooled, PoolingResponse)
    vectors = (await resolve(embed_client.embed(["a cat", "stock markets"]))).vectors()
    outputs = pooled.outputs()
    assert len(outputs) == 2
    for out, vec in zip(outputs, vectors, strict=True):
        assert len(out) == 384
        assert out == pytest.approx(vec, abs=1e-5)


async def test_base64_pooling_outputs_are_decoded(embed_client: Any) -> None:
    packed = await resolve(embed_client.pooling(["a cat"], encoding_format="base64"))
    plain = await resolve(embed_client.pooling(["a cat"]))
    assert isinstance(packed.data[0].data, list)
    assert packed.outputs()[0] == pytest.approx(plain.outputs()[0], abs=1e-6)


async def test_base64_embeddings_are_decoded_to_the_same_floats(embed_client: Any) -> None:
    texts = ["a cat", "a dog", "stock markets"]
    packed = await resolve(embed_client.embed(texts, encoding_format="base64"))
    plain = await resolve(embed_client.embed(texts))
    assert all(isinstance(d.embedding, list) for d in packed.data)
    for a, b in zip(packed.vectors(), plain.vectors(), strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    half = await resolve(embed_client.embed(texts, encoding_format="base64",
                                            embed_dtype="float16"))
    for a, b in zip(half.vectors(), plain.vectors(), strict=True):
        assert a == pytest.approx(b, abs=2e-3)


async def test_chat_style_messages_reach_the_embedding_route(embed_client: Any) -> None:
    # MiniLM's tokenizer has no chat template and vLLM refuses one sent with the request
    # unless --trust-request-chat-template: the typed 400 proves vLLM parsed `messages`.
    with pytest.raises(BadRequestError, match="chat template"):
        await resolve(embed_client.embed(messages=[{"role": "user", "content": QUERY}]))


async def test_dimensions_on_a_non_matryoshka_model_is_the_servers_400(
        embed_client: Any) -> None:
    with pytest.raises(BadRequestError, match="does not support Matryoshka"):
        await resolve(embed_client.embed("hello", dimensions=8))


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.rerank(QUERY, []), "non-empty list"),
    (lambda c: c.rerank(QUERY, "one string"), "not one string"),
    (lambda c: c.rerank(QUERY, ["ok", 3]), r"documents\[1\] must be a string"),
    (lambda c: c.rerank(QUERY, ["ok", "  "]), r"documents\[1\] must not be empty"),
    (lambda c: c.rerank(QUERY, ["ok"], top_n=0), "top_n must be an int >= 1"),
    (lambda c: c.rerank("", ["ok"]), "query must not be empty"),
    (lambda c: c.rerank(QUERY, ["ok"], route="/v3/rerank"), "route must be one of"),
    (lambda c: c.rerank(QUERY, ["ok"], max_tokens=3), "unknown parameter 'max_tokens'"),
    (lambda c: c.score([QUERY, "b"], ["x", "y", "z"]), "text_1 has 2 texts"),
    (lambda c: c.pooling(), "exactly one of input or messages"),
    (lambda c: c.embed("a", messages=[{"role": "user", "content": "b"}]), "exactly one"),
    (lambda c: c.transcribe("/no/such/audio.wav"), "does not exist"),
])
async def test_bad_input_is_rejected_before_sending(embed_client: Any, call: Any,
                                                    message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        await resolve(call(embed_client))
    assert embed_client.stats().total_requests == 0  # nothing reached the server


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_rerank_is_routed_over_an_endpoint_pool(embed_server_url: str, twin: str) -> None:
    endpoints = [Endpoint(embed_server_url, name="a"), Endpoint(embed_server_url, name="b")]
    if twin == "sync":
        with VLLMClient(endpoints=endpoints, model="minilm") as client:
            answers = [client.rerank(QUERY, RETRIEVED) for _ in range(4)]
            per_endpoint = client.pool.stats() if client.pool else {}
    else:
        async with AsyncVLLMClient(endpoints=endpoints, model="minilm") as aclient:
            answers = [await aclient.rerank(QUERY, RETRIEVED) for _ in range(4)]
            per_endpoint = aclient.pool.stats() if aclient.pool else {}
    assert all(a.indices()[0] == len(RETRIEVED) - 1 for a in answers)
    assert {name: s.requests.by_route["/rerank"].requests
            for name, s in per_endpoint.items()} == {
        "a": 2, "b": 2}  # round robin

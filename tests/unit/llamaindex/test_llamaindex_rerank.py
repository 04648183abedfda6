"""``VLLMRerank`` (LlamaIndex) with no server: conversion logic, fields, payloads, local checks.

What the server answers is tested in tests/live/llamaindex and tests/recorded/llamaindex.
"""

from __future__ import annotations

import pickle

import httpx
import pytest
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import ValidationError
from support.transports import NoRequests

import vllm_accel
from llamaindex_vllm_accel import VLLMEmbedding, VLLMRerank
from llamaindex_vllm_accel.rerank import rankable, reranked
from vllm_accel import RerankResponse

pytestmark = pytest.mark.unit

URL = "http://vllm.test:8001"


def _unsent() -> tuple[VLLMRerank, NoRequests]:
    transport = NoRequests()
    client = vllm_accel.VLLMClient(URL, max_retries=0,
                                   http_client=httpx.Client(transport=transport))
    aclient = vllm_accel.AsyncVLLMClient(URL, max_retries=0,
                                         http_client=httpx.AsyncClient(transport=transport))
    return VLLMRerank(client=client, async_client=aclient), transport


def _node(text: str, node_id: str, **metadata: str) -> NodeWithScore:
    return NodeWithScore(node=TextNode(text=text, id_=node_id, metadata=metadata), score=0.5)


def test_is_a_node_postprocessor_with_cohere_defaults() -> None:
    rerank = VLLMRerank(base_url=URL)
    assert isinstance(rerank, BaseNodePostprocessor)
    assert rerank.top_n == 2  # LlamaIndex's CohereRerank default
    assert rerank.model == ""  # the server's first model
    assert VLLMRerank.class_name() == "vllm_accel_rerank"


def test_rankable_sends_the_embed_text_and_drops_blank_nodes() -> None:
    nodes = [_node("Paris.", "a", title="Capitals"), _node("  ", "b"), _node("Oslo.", "c")]
    nodes[2].node.excluded_embed_metadata_keys = []
    sent, texts = rankable(nodes)
    assert sent == [0, 2]
    assert texts == ["title: Capitals\n\nParis.", "Oslo."]  # metadata as the index embeds it


def test_reranked_maps_back_to_the_input_nodes_with_the_new_scores() -> None:
    nodes = [_node("a", "a"), _node(" ", "blank"), _node("c", "c")]
    response = RerankResponse.model_validate({"results": [
        {"index": 0, "relevance_score": 0.1}, {"index": 1, "relevance_score": 0.7}]})
    out = reranked(nodes, response, [0, 2])
    assert [(n.node.node_id, n.score) for n in out] == [("c", 0.7), ("a", 0.1)]
    assert out[0].node is nodes[2].node  # the same node, newly scored
    assert nodes[2].score == 0.5  # the input NodeWithScore is untouched


def test_request_parameters() -> None:
    rerank = VLLMRerank(base_url=URL, model="minilm", top_n=3, truncate_prompt_tokens=64,
                        additional_kwargs={"priority": 1})
    assert rerank._params() == {"model": "minilm", "top_n": 3, "truncate_prompt_tokens": 64,
                                "priority": 1}
    assert VLLMRerank()._params() == {"model": None, "top_n": 2}


async def test_empty_or_blank_input_returns_empty_without_a_request() -> None:
    rerank, transport = _unsent()
    assert rerank.postprocess_nodes([], query_str="q") == []
    assert rerank.postprocess_nodes([_node("", "x")], query_str="q") == []
    assert await rerank.apostprocess_nodes([], query_str="q") == []
    assert transport.sent == []


async def test_bad_input_is_refused_before_sending() -> None:
    rerank, transport = _unsent()
    with pytest.raises(ValueError, match="needs the query"):
        rerank.postprocess_nodes([_node("a", "a")])
    with pytest.raises(ValueError, match="needs the query"):
        await rerank.apostprocess_nodes([_node("a", "a")])
    with pytest.raises(vllm_accel.InvalidRequestError, match="query must not be empty"):
        await rerank.apostprocess_nodes([_node("a", "a")], query_str="")
    assert transport.sent == []
    with pytest.raises(ValidationError):
        VLLMRerank(top_n=0)
    with pytest.raises(vllm_accel.InvalidRequestError, match="either base_url or endpoints"):
        VLLMRerank(base_url=URL, endpoints=[URL])


def test_endpoints_share_the_cached_client_of_equal_settings() -> None:
    urls = ["http://a.test:1", "http://b.test:2"]
    rerank = VLLMRerank(endpoints=urls)
    assert rerank.client.pool is not None
    assert VLLMEmbedding(endpoints=urls).client is rerank.client


def test_payload_serialization_and_pickling_hide_the_key() -> None:
    rerank = VLLMRerank(base_url="http://user:pw@vllm.test:8001/?token=t", model="minilm",
                        api_key="sk-rerank-secret-2")
    payload = rerank.to_payload()
    assert payload == {"class_name": "vllm_accel_rerank", "model": "minilm", "top_n": 2,
                       "base_url": "http://vllm.test:8001/"}
    for text in (repr(rerank), rerank.to_json(), str(payload)):
        assert "sk-rerank-secret-2" not in text
    copy = pickle.loads(pickle.dumps(rerank))
    assert (copy.model, copy.top_n) == ("minilm", 2)

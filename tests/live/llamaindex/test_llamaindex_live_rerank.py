"""``VLLMRerank`` on the real MiniLM server: as a node postprocessor (sync and async), its
events, a pool, and query engines where it changes which node reaches the real SmolLM2."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.schema import NodeWithScore, TextNode
from support.llamaindex_events import Collect, collect_events
from support.rerank_corpus import ANSWER, DISTRACTORS, DOCS, INDEX_TOKENS, QUERY, SECRET

import vllm_accel
from llamaindex_vllm_accel import VLLM, VLLMEmbedding, VLLMRerank

pytestmark = pytest.mark.live


def _nodes() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=1.0 - i / 10)
            for i, t in enumerate(DOCS)]


def _requests(rerank: VLLMRerank) -> int:
    group = rerank.client_stats().by_route.get("/rerank")
    return group.requests if group is not None else 0


@pytest.fixture
def events() -> Iterator[Collect]:
    with collect_events() as handler:
        yield handler


@pytest.fixture(scope="module")
def index(embed_server_url: str) -> VectorStoreIndex:
    """A cheap first stage: each document indexed by its first INDEX_TOKENS tokens."""
    embed = VLLMEmbedding(base_url=embed_server_url, model_name="minilm",
                          truncate_prompt_tokens=INDEX_TOKENS)
    documents = [Document(text=t, doc_id=f"d{i}") for i, t in enumerate(DOCS)]
    return VectorStoreIndex.from_documents(documents, embed_model=embed)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_postprocess_scores_best_first_with_events(embed_server_url: str, events: Collect,
                                                         mode: str) -> None:
    rerank = VLLMRerank(base_url=embed_server_url, model="minilm", top_n=4)
    before = _requests(rerank)
    if mode == "sync":
        out = rerank.postprocess_nodes(_nodes(), query_str=QUERY)
    else:
        out = await rerank.apostprocess_nodes(_nodes(), query_str=QUERY)
    assert _requests(rerank) == before + 1
    assert [n.node.node_id for n in out][0] == "n3"  # last in, first out
    assert sorted(n.node.node_id for n in out) == ["n0", "n1", "n2", "n3"]
    scores = [n.score for n in out]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] is not None
    assert scores[0] > 0.7  # its relevance score, not its input score (0.7)
    [start] = events.of(ReRankStartEvent)
    assert (start.top_n, start.model_name, len(start.nodes)) == (4, "minilm", 4)
    [end] = events.of(ReRankEndEvent)
    assert [n.node.node_id for n in end.nodes] == [n.node.node_id for n in out]


async def test_default_top_n_sync_async_agree_and_empty_sends_nothing(
        embed_server_url: str) -> None:
    rerank = VLLMRerank(base_url=embed_server_url)  # top_n=2, like LlamaIndex's CohereRerank
    sync = rerank.postprocess_nodes(_nodes(), query_str=QUERY)
    async_ = await rerank.apostprocess_nodes(_nodes(), query_str=QUERY)
    assert [n.node.node_id for n in sync] == [n.node.node_id for n in async_]
    assert len(sync) == 2
    before = _requests(rerank)
    assert rerank.postprocess_nodes([], query_str=QUERY) == []
    blank = [NodeWithScore(node=TextNode(text=" "), score=1.0)]
    assert await rerank.apostprocess_nodes(blank, query_str=QUERY) == []
    assert _requests(rerank) == before


def test_bad_input_is_a_typed_error_before_sending(embed_server_url: str) -> None:
    rerank = VLLMRerank(base_url=embed_server_url)
    before = _requests(rerank)
    with pytest.raises(vllm_accel.InvalidRequestError, match="query must not be empty"):
        rerank.postprocess_nodes(_nodes(), query_str=" ")
    with pytest.raises(vllm_accel.InvalidRequestError, match="unknown parameter"):
        VLLMRerank(base_url=embed_server_url,
                   additional_kwargs={"max_tokens": 3}).postprocess_nodes(_nodes(),
                                                                          query_str=QUERY)
    assert _requests(rerank) == before


def test_endpoints_pool_reranks(embed_server_url: str) -> None:
    rerank = VLLMRerank(endpoints=[embed_server_url], top_n=1)
    out = rerank.postprocess_nodes(_nodes(), query_str=QUERY)
    assert [n.node.node_id for n in out] == ["n3"]
    assert rerank.client.pool is not None


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_query_engine_the_reranker_changes_what_reaches_the_llm(
        index: VectorStoreIndex, chat_server_url: str, embed_server_url: str,
        events: Collect, mode: str) -> None:
    retrieved = index.as_retriever(similarity_top_k=4).retrieve(QUERY)
    assert retrieved[-1].node.get_content() == ANSWER  # the vector search put it last
    assert index.as_retriever(similarity_top_k=1).retrieve(QUERY)[0].node.get_content() != ANSWER

    llm = VLLM(base_url=chat_server_url, temperature=0.0, max_tokens=8)
    engine = index.as_query_engine(
        llm=llm, similarity_top_k=4,
        node_postprocessors=[VLLMRerank(base_url=embed_server_url, top_n=1)])
    response: Any = engine.query(QUERY) if mode == "sync" else await engine.aquery(QUERY)
    assert [n.node.get_content() for n in response.source_nodes] == [ANSWER]
    assert response.source_nodes[0].score > 0.7
    [chat] = events.of(LLMChatStartEvent)
    sent = "\n".join(str(m.content) for m in chat.messages)
    assert SECRET in sent  # the reranked best reached the model...
    assert not any(d in sent for d in DISTRACTORS)  # ...and nothing else did

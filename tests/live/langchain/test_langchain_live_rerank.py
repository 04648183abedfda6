"""``VLLMRerank`` on the real MiniLM server: as a compressor (sync and async), bad input, a pool,
and a RAG chain where the reranker changes which document reaches the real SmolLM2 chat model."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from support.rerank_corpus import ANSWER, DISTRACTORS, DOCS, INDEX_TOKENS, QUERY, SECRET

from langchain_vllm_accel import ChatVLLM, VLLMEmbeddings, VLLMInvalidRequestError, VLLMRerank

pytestmark = pytest.mark.live


def _docs() -> list[Document]:
    return [Document(text, metadata={"n": i}, id=f"doc-{i}") for i, text in enumerate(DOCS)]


def _requests(reranker: VLLMRerank) -> int:
    group = reranker.client_stats().by_route.get("/rerank")
    return group.requests if group is not None else 0


@pytest.fixture
def reranker(embed_server_url: str) -> VLLMRerank:
    return VLLMRerank(model="minilm", base_url=embed_server_url, top_n=None, max_retries=0)


@pytest.fixture(scope="module")
def store(embed_server_url: str) -> InMemoryVectorStore:
    """A cheap first stage: each document indexed by its first INDEX_TOKENS tokens."""
    embeddings = VLLMEmbeddings(model="minilm", base_url=embed_server_url,
                                truncate_prompt_tokens=INDEX_TOKENS)
    return InMemoryVectorStore.from_documents(_docs(), embeddings)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_compress_orders_best_first_with_scores_in_metadata(
        reranker: VLLMRerank, mode: str) -> None:
    docs = _docs()
    before = _requests(reranker)
    if mode == "sync":
        out = reranker.compress_documents(docs, QUERY)
    else:
        out = await reranker.acompress_documents(docs, QUERY)
    assert _requests(reranker) == before + 1  # one /rerank request for the whole list
    assert [d.page_content for d in out][0] == ANSWER  # last in, first out
    assert sorted(d.metadata["n"] for d in out) == [0, 1, 2, 3]
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 0.7 > scores[1]
    assert out[0].id == "doc-3"  # a copy of the input document, id and metadata kept
    assert all("relevance_score" not in d.metadata for d in docs)  # inputs untouched


async def test_sync_and_async_agree_and_top_n_applies(embed_server_url: str) -> None:
    reranker = VLLMRerank(model="minilm", base_url=embed_server_url)  # top_n=3, like Cohere
    sync = reranker.compress_documents(_docs(), QUERY)
    async_ = await reranker.acompress_documents(_docs(), QUERY)
    assert len(sync) == 3
    assert [d.id for d in sync] == [d.id for d in async_]
    for a, b in zip(sync, async_, strict=True):
        assert a.metadata["relevance_score"] == pytest.approx(b.metadata["relevance_score"],
                                                              abs=1e-5)
    ranked = reranker.rerank(list(DOCS), QUERY, top_n=1)
    assert [r["index"] for r in ranked] == [3]
    assert [r["index"] for r in await reranker.arerank(list(DOCS), QUERY, top_n=None)][0] == 3


async def test_blank_and_empty_inputs_send_nothing_for_them(reranker: VLLMRerank) -> None:
    before = _requests(reranker)
    assert reranker.compress_documents([], QUERY) == []
    assert await reranker.acompress_documents([Document("  ")], QUERY) == []
    assert _requests(reranker) == before  # no request at all
    out = reranker.rerank([DISTRACTORS[0], "", ANSWER], QUERY)
    assert [r["index"] for r in out] == [2, 0]  # indices into the caller's list
    assert _requests(reranker) == before + 1


async def _call(reranker: VLLMRerank, method: str, query: str, **kwargs: Any) -> Any:
    result = getattr(reranker, method)(["a"], query, **kwargs)
    return await result if method == "arerank" else result


@pytest.mark.parametrize(("method", "query", "kwargs", "message"), [
    ("rerank", QUERY, {"top_n": 0}, "top_n must be an int >= 1"),
    ("rerank", "", {}, "query must not be empty"),
    ("arerank", QUERY, {"top_n": -2}, "top_n must be an int >= 1"),
    ("arerank", " ", {}, "query must not be empty"),
])
async def test_bad_input_is_a_typed_error_before_sending(
        reranker: VLLMRerank, method: str, query: str, kwargs: dict[str, Any],
        message: str) -> None:
    before = _requests(reranker)
    with pytest.raises(VLLMInvalidRequestError, match=message):
        await _call(reranker, method, query, **kwargs)
    assert _requests(reranker) == before


def test_endpoints_pool_reranks(embed_server_url: str) -> None:
    reranker = VLLMRerank(model="minilm", endpoints=[embed_server_url], top_n=1)
    assert reranker.base_url is None
    out = reranker.compress_documents(_docs(), QUERY)
    assert [d.page_content for d in out] == [ANSWER]
    assert reranker.client.pool is not None


class Prompts(BaseCallbackHandler):
    """Records the messages each chat model run received."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.prompts.append("\n".join(str(m.content) for m in messages[0]))


def _chain(retriever: BaseRetriever, chat: ChatVLLM) -> Any:
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer from this context only:\n{context}"), ("human", "{question}")])

    def context(docs: list[Document]) -> str:
        return "\n\n".join(d.page_content for d in docs)

    return ({"context": retriever | context, "question": RunnablePassthrough()}
            | prompt | chat)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_rag_chain_the_reranker_changes_what_reaches_the_llm(
        store: InMemoryVectorStore, chat_server_url: str, embed_server_url: str,
        mode: str) -> None:
    first_stage = store.as_retriever(search_kwargs={"k": 4})
    retrieved = first_stage.invoke(QUERY)
    assert [d.page_content for d in retrieved][-1] == ANSWER  # the vector search put it last
    assert store.as_retriever(search_kwargs={"k": 1}).invoke(QUERY)[0].page_content != ANSWER

    retriever = ContextualCompressionRetriever(
        base_compressor=VLLMRerank(model="minilm", base_url=embed_server_url, top_n=1),
        base_retriever=first_stage)
    prompts = Prompts()
    chat = ChatVLLM(model="smollm2", base_url=chat_server_url, temperature=0, max_tokens=8)
    chain = _chain(retriever, chat)
    config: Any = {"callbacks": [prompts]}
    if mode == "sync":
        chain.invoke(QUERY, config=config)
    else:
        await chain.ainvoke(QUERY, config=config)
    [sent] = prompts.prompts
    assert SECRET in sent  # the reranked best reached the model...
    assert not any(d in sent for d in DISTRACTORS)  # ...and nothing else did

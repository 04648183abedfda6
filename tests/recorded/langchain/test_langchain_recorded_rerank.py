"""``VLLMRerank`` (LangChain) replaying real vLLM 0.32 traffic (MiniLM ``/rerank``, SmolLM2 chat).

Recorded from the embedded servers by ``make record``; replayed offline with sockets blocked.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from support.rerank_corpus import ANSWER, DISTRACTORS, DOCS, INDEX_TOKENS, QUERY, SECRET

from langchain_vllm_accel import ChatVLLM, VLLMEmbeddings, VLLMRerank

RECORDED_API_KEY = "sk-recorded-secret-lc-rr-3c1d"  # sent while recording; never in a cassette

pytestmark = pytest.mark.vcr


def sent_bodies(vcr: Any, path: str) -> list[dict[str, Any]]:
    """The JSON bodies this test sent to ``path`` (the cassette matched them byte for byte)."""
    return [json.loads(r.body) for r in vcr.requests if r.path == path]


def _reranker(url: str, **kwargs: Any) -> VLLMRerank:
    return VLLMRerank(model="minilm", base_url=url, api_key=RECORDED_API_KEY, max_retries=0,
                      **kwargs)


def _docs() -> list[Document]:
    return [Document(text, metadata={"n": i}) for i, text in enumerate(DOCS)]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_compress_documents(recorded_embed_url: str, vcr: Any, mode: str) -> None:
    reranker = _reranker(recorded_embed_url, top_n=2)
    if mode == "sync":
        out = reranker.compress_documents(_docs(), QUERY)
    else:
        out = await reranker.acompress_documents(_docs(), QUERY)
    assert [d.metadata["n"] for d in out] == [3, 1]
    assert out[0].metadata["relevance_score"] > out[1].metadata["relevance_score"]
    assert sent_bodies(vcr, "/rerank") == [
        {"query": QUERY, "documents": list(DOCS), "top_n": 2, "model": "minilm"}]


async def test_rag_chain_sends_only_the_reranked_best_to_the_llm(
        recorded_embed_url: str, recorded_chat_url: str, vcr: Any) -> None:
    embeddings = VLLMEmbeddings(model="minilm", base_url=recorded_embed_url,
                                api_key=RECORDED_API_KEY, truncate_prompt_tokens=INDEX_TOKENS)
    store = await InMemoryVectorStore.afrom_documents(_docs(), embeddings)
    retriever = ContextualCompressionRetriever(
        base_compressor=_reranker(recorded_embed_url, top_n=1),
        base_retriever=store.as_retriever(search_kwargs={"k": 4}))
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer from this context only:\n{context}"), ("human", "{question}")])
    chat = ChatVLLM(model="smollm2", base_url=recorded_chat_url, api_key=RECORDED_API_KEY,
                    temperature=0, max_tokens=8)
    chain = ({"context": retriever | (lambda docs: "\n\n".join(d.page_content for d in docs)),
              "question": RunnablePassthrough()} | prompt | chat)
    await chain.ainvoke(QUERY)
    [rerank] = sent_bodies(vcr, "/rerank")
    assert rerank["documents"][-1] == ANSWER  # the vector search retrieved it last of four
    [sent] = [json.dumps(b["messages"]) for b in sent_bodies(vcr, "/v1/chat/completions")
              if "Answer from this context" in json.dumps(b["messages"])]  # not the profile probe
    assert SECRET in sent
    assert not any(d in sent for d in DISTRACTORS)

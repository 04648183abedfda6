"""``VLLMRerank`` (LlamaIndex) replaying real vLLM 0.32 traffic (MiniLM ``/rerank``, SmolLM2 chat).

Recorded from the embedded servers by ``make record``; replayed offline with sockets blocked.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.schema import NodeWithScore, TextNode
from llamaindex_recorded_util import RECORDED_API_KEY, sent
from support.rerank_corpus import ANSWER, DISTRACTORS, DOCS, INDEX_TOKENS, QUERY, SECRET

from llamaindex_vllm_accel import VLLM, VLLMEmbedding, VLLMRerank

pytestmark = pytest.mark.vcr


def _rerank(url: str, **kwargs: Any) -> VLLMRerank:
    return VLLMRerank(base_url=url, model="minilm", api_key=RECORDED_API_KEY, max_retries=0,
                      **kwargs)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_postprocess_nodes(recorded_embed_url: str, vcr: Any, mode: str) -> None:
    nodes = [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.0)
             for i, t in enumerate(DOCS)]
    rerank = _rerank(recorded_embed_url, top_n=2)
    if mode == "sync":
        out = rerank.postprocess_nodes(nodes, query_str=QUERY)
    else:
        out = await rerank.apostprocess_nodes(nodes, query_str=QUERY)
    assert [n.node.node_id for n in out] == ["n3", "n1"]
    assert out[0].score is not None
    assert out[1].score is not None
    assert out[0].score > out[1].score
    assert sent(vcr, "/rerank") == [
        {"query": QUERY, "documents": list(DOCS), "top_n": 2, "model": "minilm"}]


async def test_query_engine_sends_only_the_reranked_best_to_the_llm(
        recorded_embed_url: str, recorded_chat_url: str, vcr: Any) -> None:
    embed = VLLMEmbedding(base_url=recorded_embed_url, model_name="minilm",
                          api_key=RECORDED_API_KEY, truncate_prompt_tokens=INDEX_TOKENS)
    documents = [Document(text=t, doc_id=f"d{i}") for i, t in enumerate(DOCS)]
    index = VectorStoreIndex.from_documents(documents, embed_model=embed)
    # Context window and tool support given: no server-facts requests, whose answers the
    # process-wide cache may already hold from another test (their order is random).
    llm = VLLM(base_url=recorded_chat_url, model="smollm2", api_key=RECORDED_API_KEY,
               temperature=0.0, max_tokens=8, max_retries=0, context_window=8192,
               is_function_calling=False)
    engine = index.as_query_engine(llm=llm, similarity_top_k=4,
                                   node_postprocessors=[_rerank(recorded_embed_url, top_n=1)])
    response = await engine.aquery(QUERY)
    assert [n.node.get_content() for n in response.source_nodes] == [ANSWER]
    [rerank] = sent(vcr, "/rerank")
    assert rerank["documents"][-1] == ANSWER  # the vector search retrieved it last of four
    prompts = [json.dumps(b["messages"]) for b in sent(vcr, "/v1/chat/completions")
               if QUERY in json.dumps(b["messages"])]
    [prompt] = prompts
    assert SECRET in prompt
    assert not any(d in prompt for d in DISTRACTORS)

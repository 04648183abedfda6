"""``VLLMRerank`` (LangChain) with no server: its conversion logic, fields and local checks.

What the server answers is tested in tests/live/langchain and tests/recorded/langchain.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ValidationError
from support.transports import NoRequests

import vllm_accel
from langchain_vllm_accel import VLLMEmbeddings, VLLMRerank
from langchain_vllm_accel.rerank import rankable, ranked, with_scores
from vllm_accel import RerankResponse

pytestmark = pytest.mark.unit

URL = "http://vllm.test:8001"


def _unsent() -> tuple[VLLMRerank, NoRequests]:
    transport = NoRequests()
    reranker = VLLMRerank(base_url=URL, max_retries=0,
                          http_client=httpx.Client(transport=transport),
                          http_async_client=httpx.AsyncClient(transport=transport))
    return reranker, transport


def _response(*pairs: tuple[int, float]) -> RerankResponse:
    return RerankResponse.model_validate(
        {"results": [{"index": i, "relevance_score": s} for i, s in pairs]})


def test_is_a_document_compressor_with_cohere_defaults() -> None:
    reranker = VLLMRerank(base_url=URL)
    assert isinstance(reranker, BaseDocumentCompressor)
    assert reranker.top_n == 3
    assert reranker.model is None  # the server's first model
    assert VLLMRerank(model_name="minilm").model == "minilm"


def test_rankable_drops_blank_texts() -> None:
    assert rankable(["a", "", "  \n", "b"]) == [0, 3]
    assert rankable([]) == []


def test_ranked_maps_sent_positions_back_to_the_callers_indices() -> None:
    # Sent: the caller's documents 0, 3 and 5 (1, 2 and 4 were blank). The response model
    # sorts best first whatever order the server used.
    out = ranked(_response((0, 0.1), (2, 0.9), (1, 0.5)), [0, 3, 5])
    assert out == [{"index": 5, "relevance_score": 0.9},
                   {"index": 3, "relevance_score": 0.5},
                   {"index": 0, "relevance_score": 0.1}]


def test_with_scores_copies_documents_and_keeps_ids_and_metadata() -> None:
    docs = [Document("a", id="x", metadata={"tags": ["t"]}), Document("b", id="y")]
    out = with_scores(docs, [{"index": 1, "relevance_score": 0.8},
                             {"index": 0, "relevance_score": 0.2}])
    assert [(d.id, d.page_content, d.metadata["relevance_score"]) for d in out] == [
        ("y", "b", 0.8), ("x", "a", 0.2)]
    out[1].metadata["tags"].append("changed")
    assert docs[0].metadata == {"tags": ["t"]}  # deep copies: the inputs stay as they were
    assert "relevance_score" not in docs[1].metadata


def test_request_parameters_from_fields_and_per_call_overrides() -> None:
    reranker = VLLMRerank(base_url=URL, model="minilm", top_n=2, truncate_prompt_tokens=64,
                          max_tokens_per_doc=32)  # not a field: goes to model_kwargs
    assert reranker.model_kwargs == {"max_tokens_per_doc": 32}
    sent, texts, params = reranker._request([Document("a"), "", "c"], ..., None)
    assert (sent, texts) == ([0, 2], ["a", "c"])
    assert params == {"model": "minilm", "top_n": 2, "truncate_prompt_tokens": 64,
                      "max_tokens_per_doc": 32}
    _, _, params = reranker._request(["a"], None, "other")
    assert (params["top_n"], params["model"]) == (None, "other")  # None: every document


async def test_empty_or_blank_input_returns_empty_without_a_request() -> None:
    reranker, transport = _unsent()
    assert reranker.compress_documents([], "q") == []
    assert reranker.rerank(["", " "], "q") == []
    assert await reranker.acompress_documents([Document("\n")], "q") == []
    assert await reranker.arerank([], "q") == []
    assert transport.sent == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"top_n": 0}, "top_n must be an int >= 1"),
    ({"top_n": True}, "top_n must be an int >= 1"),
])
async def test_bad_per_call_values_are_typed_errors_before_sending(
        kwargs: dict[str, Any], message: str) -> None:
    reranker, transport = _unsent()
    with pytest.raises(vllm_accel.InvalidRequestError, match=message):
        reranker.rerank(["a"], "q", **kwargs)
    with pytest.raises(vllm_accel.InvalidRequestError, match=message):
        await reranker.arerank(["a"], "q", **kwargs)
    with pytest.raises(vllm_accel.InvalidRequestError, match="query must not be empty"):
        reranker.compress_documents([Document("a")], "")
    assert transport.sent == []


def test_bad_settings_are_refused_at_construction() -> None:
    with pytest.raises(ValidationError):
        VLLMRerank(top_n=0)
    with pytest.raises(vllm_accel.InvalidRequestError, match="either base_url or endpoints"):
        VLLMRerank(base_url=URL, endpoints=[URL])
    with pytest.raises(vllm_accel.InvalidRequestError, match="retry"):
        VLLMRerank(retry=vllm_accel.RetryPolicy())


def test_endpoints_share_one_pool_with_the_other_classes() -> None:
    reranker = VLLMRerank(endpoints=["http://a.test:1", "http://b.test:2"])
    assert reranker.base_url is None
    pool = reranker.client.pool
    assert pool is not None
    assert [s.name for s in pool.endpoints] == ["http://a.test:1", "http://b.test:2"]
    embeddings = VLLMEmbeddings(endpoints=["http://a.test:1", "http://b.test:2"])
    assert embeddings.client is reranker.client  # equal settings, one client (shared cache)


def test_the_api_key_never_shows() -> None:
    reranker = VLLMRerank(base_url=URL, api_key="sk-rerank-secret-1")
    assert "sk-rerank-secret-1" not in repr(reranker)
    assert "sk-rerank-secret-1" not in str(reranker.model_dump())
    assert "sk-rerank-secret-1" not in repr(reranker.client)


def test_import_is_lazy() -> None:
    code = ("import sys\nfrom langchain_vllm_accel import VLLMRerank\nVLLMRerank(model='m')\n"
            "import json\nprint(json.dumps(['httpx' in sys.modules,"
            " 'vllm_accel._client' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert json.loads(out) == [False, False]

"""`VLLMRerank`: a LangChain document compressor on vLLM's ``/rerank``."""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import Field

from ._connection import VLLMConnection

if TYPE_CHECKING:
    from langchain_core.callbacks import Callbacks

    from vllm_accel import RerankResponse

__all__ = ["VLLMRerank"]

def _text(document: str | Document) -> str:
    return document.page_content if isinstance(document, Document) else document


def rankable(texts: Sequence[str]) -> list[int]:
    """Indices of the texts worth sending: a blank text cannot be relevant to any query.

    (vLLM, and the core client before it, refuse blank documents; dropping them keeps one
    empty chunk from failing the whole retrieval.)
    """
    return [i for i, t in enumerate(texts) if t.strip()]


def ranked(response: RerankResponse, sent: Sequence[int]) -> list[dict[str, Any]]:
    """``{"index", "relevance_score"}`` per result, best first, indices into the caller's list."""
    return [{"index": sent[r.index], "relevance_score": r.relevance_score}
            for r in response.results]


def with_scores(documents: Sequence[Document],
                results: Sequence[dict[str, Any]]) -> list[Document]:
    """Copies of the reranked documents, best first, the score in ``metadata``."""
    out = []
    for res in results:
        doc = documents[res["index"]]
        metadata = {**deepcopy(doc.metadata), "relevance_score": res["relevance_score"]}
        out.append(doc.model_copy(update={"metadata": metadata}))
    return out


class VLLMRerank(VLLMConnection, BaseDocumentCompressor):
    """Reranks documents with a vLLM pooling server's ``/rerank``, like ``CohereRerank``.

    Cross-encoder (``--runner pooling`` score models) and embedding models both answer
    ``/rerank``; an embedding model scores by cosine similarity. ``compress_documents``
    returns the ``top_n`` best documents, best first, each a copy with its score in
    ``metadata["relevance_score"]``. Blank documents are dropped without being sent, and an
    empty list returns ``[]`` without a request. The async methods are natively async.

    Example:
        ```python
        from langchain_classic.retrievers import ContextualCompressionRetriever
        from langchain_vllm_accel import VLLMRerank

        reranker = VLLMRerank(model="minilm", base_url="http://localhost:8001", top_n=2)
        retriever = ContextualCompressionRetriever(
            base_compressor=reranker,
            base_retriever=vectorstore.as_retriever(search_kwargs={"k": 10}),
        )
        ```
    """

    top_n: int | None = Field(default=3, ge=1)
    """Documents to return (``None`` = all of them, reordered)."""
    truncate_prompt_tokens: int | None = Field(default=None, ge=-1)
    """vLLM: truncate each query-document pair to this many tokens (``-1`` = the model's limit)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Other ``rerank`` parameters of the core client (``max_tokens_per_doc``, ``priority``...)."""

    def _request(self, documents: Sequence[str | Document], top_n: int | None | EllipsisType,
                 model: str | None) -> tuple[list[int], list[str], dict[str, Any]]:
        """The indices sent, their texts and the ``rerank`` parameters of one call."""
        texts = [_text(d) for d in documents]
        sent = rankable(texts)
        params: dict[str, Any] = dict(self.model_kwargs)
        if self.truncate_prompt_tokens is not None:
            params["truncate_prompt_tokens"] = self.truncate_prompt_tokens
        params["top_n"] = self.top_n if top_n is ... else top_n
        params["model"] = model or self.model
        return sent, [texts[i] for i in sent], params

    def rerank(self, documents: Sequence[str | Document], query: str, *,
               top_n: int | None | EllipsisType = ...,
               model: str | None = None) -> list[dict[str, Any]]:
        """Order ``documents`` by relevance to ``query`` (one ``/rerank`` request).

        Args:
            documents: Texts or ``Document`` objects (their ``page_content`` is scored).
            query: The query.
            top_n: Results to return; default (``...``) the ``top_n`` field, ``None`` = all.
            model: Served model name for this call; default the ``model`` field.

        Returns:
            ``{"index": i, "relevance_score": s}`` dicts, best first; ``i`` indexes
            ``documents``.

        Raises:
            VLLMInvalidRequestError: an empty query or ``top_n`` < 1 (before anything is sent).
        """
        from ._errors import map_errors

        sent, texts, params = self._request(documents, top_n, model)
        if not sent:
            return []
        with map_errors():
            response = self.client.rerank(query, texts, **params)
        return ranked(response, sent)

    async def arerank(self, documents: Sequence[str | Document], query: str, *,
                      top_n: int | None | EllipsisType = ...,
                      model: str | None = None) -> list[dict[str, Any]]:
        """Async :meth:`rerank` (natively async: no thread)."""
        from ._errors import map_errors

        sent, texts, params = self._request(documents, top_n, model)
        if not sent:
            return []
        with map_errors():
            response = await self.async_client.rerank(query, texts, **params)
        return ranked(response, sent)

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        """The ``top_n`` documents most relevant to ``query``, best first, scores in metadata.

        Args:
            documents: The retrieved documents.
            query: The query they were retrieved for.
            callbacks: Unused (the request runs no LangChain callbacks).

        Returns:
            Copies of the best documents with ``metadata["relevance_score"]``.
        """
        return with_scores(documents, self.rerank(documents, query))

    async def acompress_documents(self, documents: Sequence[Document], query: str,
                                  callbacks: Callbacks | None = None) -> Sequence[Document]:
        """Async :meth:`compress_documents` (natively async: no thread)."""
        return with_scores(documents, await self.arerank(documents, query))

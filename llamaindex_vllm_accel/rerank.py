"""``VLLMRerank``: a LlamaIndex node postprocessor on vLLM's ``/rerank``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from llama_index_instrumentation import get_dispatcher

from ._connection import (
    ApiKey,
    BaseUrl,
    ClientsMixin,
    DefaultHeaders,
    Endpoints,
    MaxRetries,
    Timeout,
    safe_url,
)

if TYPE_CHECKING:
    from vllm_accel import RerankResponse

__all__ = ["VLLMRerank"]

dispatcher = get_dispatcher(__name__)


def rankable(nodes: Sequence[NodeWithScore]) -> tuple[list[int], list[str]]:
    """Indices and texts of the nodes worth sending (a blank node cannot be relevant)."""
    texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    sent = [i for i, t in enumerate(texts) if t.strip()]
    return sent, [texts[i] for i in sent]


def reranked(nodes: Sequence[NodeWithScore], response: RerankResponse,
             sent: Sequence[int]) -> list[NodeWithScore]:
    """The nodes of ``response``, best first, each scored by its ``relevance_score``."""
    return [NodeWithScore(node=nodes[sent[r.index]].node, score=r.relevance_score)
            for r in response.results]


class VLLMRerank(ClientsMixin, BaseNodePostprocessor):
    """Reranks retrieved nodes with a vLLM pooling server's ``/rerank``, like ``CohereRerank``.

    Cross-encoder (score) models and embedding models both answer ``/rerank``; an embedding
    model scores by cosine similarity. Returns the ``top_n`` best nodes, best first, each with
    its ``relevance_score`` as the score. An empty list returns ``[]`` without a request; blank
    nodes are dropped without being sent. ``apostprocess_nodes`` is natively async.

    Example:
        >>> rerank = VLLMRerank(base_url="http://localhost:8001", top_n=2)  # doctest: +SKIP
        >>> engine = index.as_query_engine(  # doctest: +SKIP
        ...     similarity_top_k=10, node_postprocessors=[rerank])
    """

    model: str = Field(
        default="", description="Served reranking model ('' = the server's first model)."
    )
    top_n: int = Field(default=2, ge=1, description="Top N nodes to return.")
    base_url: BaseUrl = None
    endpoints: Endpoints = None
    api_key: ApiKey = None
    truncate_prompt_tokens: int | None = Field(
        default=None, ge=-1,
        description="Truncate each query-node pair to this many tokens (-1: the model's limit).",
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="More /rerank fields (e.g. priority, extra_body)."
    )
    timeout: Timeout = 600.0
    max_retries: MaxRetries = 2
    default_headers: DefaultHeaders = None

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serializes this class under."""
        return "vllm_accel_rerank"

    def to_payload(self) -> dict[str, Any]:
        """What events and callbacks show: no credentials."""
        return {"class_name": self.class_name(), "model": self.model, "top_n": self.top_n,
                "base_url": safe_url(self.base_url)}

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model or None, "top_n": self.top_n}
        if self.truncate_prompt_tokens is not None:
            params["truncate_prompt_tokens"] = self.truncate_prompt_tokens
        return {**params, **self.additional_kwargs}

    @contextmanager
    def _events(self, nodes: list[NodeWithScore], query: QueryBundle,
                out: list[NodeWithScore]) -> Iterator[None]:
        """LlamaIndex's rerank events around one request; ``out`` is filled inside."""
        dispatcher.event(ReRankStartEvent(query=query, nodes=nodes, top_n=self.top_n,
                                          model_name=self.model))
        payload: dict[str, Any] = {
            EventPayload.NODES: nodes, EventPayload.MODEL_NAME: self.model,
            EventPayload.QUERY_STR: query.query_str, EventPayload.TOP_K: self.top_n}
        with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:
            yield
            event.on_end(payload={EventPayload.NODES: out})
        dispatcher.event(ReRankEndEvent(nodes=out))

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("VLLMRerank needs the query (query_bundle or query_str)")
        out: list[NodeWithScore] = []
        sent, texts = rankable(nodes)
        if not sent:
            return out
        with self._events(nodes, query_bundle, out):
            response = self.client.rerank(query_bundle.query_str, texts, **self._params())
            out.extend(reranked(nodes, response, sent))
        return out

    async def _apostprocess_nodes(self, nodes: list[NodeWithScore],
                                  query_bundle: QueryBundle | None = None,
                                  ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("VLLMRerank needs the query (query_bundle or query_str)")
        out: list[NodeWithScore] = []
        sent, texts = rankable(nodes)
        if not sent:
            return out
        with self._events(nodes, query_bundle, out):
            response = await self.async_client.rerank(query_bundle.query_str, texts,
                                                      **self._params())
            out.extend(reranked(nodes, response, sent))
        return out

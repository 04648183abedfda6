"""``VLLMEmbedding``: LlamaIndex embeddings from a vLLM pooling server, one request per batch."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

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

__all__ = ["VLLMEmbedding"]


class VLLMEmbedding(ClientsMixin, BaseEmbedding):
    """Embeddings from vLLM's ``/v1/embeddings``: a whole batch per request, native async.

    Texts are sent as they are (no newline rewriting); optional instruction prefixes apply only
    when set. Clients are created lazily, so the object pickles into ingestion worker processes.

    Example:
        >>> embed = VLLMEmbedding(base_url="http://localhost:8001")  # doctest: +SKIP
        >>> len(embed.get_text_embedding("hello"))  # doctest: +SKIP
        384
    """

    model_name: str = Field(
        default="", description="Served embedding model ('' = the server's first model)."
    )
    embed_batch_size: int = Field(
        default=256, gt=0, le=2048, description="Texts per /v1/embeddings request."
    )
    base_url: BaseUrl = None
    endpoints: Endpoints = None
    api_key: ApiKey = None
    dimensions: int | None = Field(
        default=None, description="Output dimensions (Matryoshka models only)."
    )
    truncate_prompt_tokens: int | None = Field(
        default=-1,
        description="Truncate inputs longer than this many tokens (-1: the model's maximum; "
        "None: the server rejects over-long inputs).",
    )
    query_instruction: str | None = Field(
        default=None, description="Prefix for queries (e.g. 'query: '), if the model wants one."
    )
    text_instruction: str | None = Field(
        default=None, description="Prefix for documents (e.g. 'passage: '), if the model wants one."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="More /v1/embeddings fields (e.g. extra_body)."
    )
    timeout: Timeout = 600.0
    max_retries: MaxRetries = 2
    default_headers: DefaultHeaders = None

    _served_model: str | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serializes this class under."""
        return "vllm_accel_embedding"

    def to_payload(self) -> dict[str, Any]:
        """What events and callbacks show: no credentials."""
        return {
            "class_name": self.class_name(),
            "model_name": self.model_name or self._served_model,
            "embed_batch_size": self.embed_batch_size,
            "base_url": safe_url(self.base_url),
        }

    # -- requests ------------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model_name or None,
            "dimensions": self.dimensions,
            "truncate_prompt_tokens": self.truncate_prompt_tokens,
        }
        return {**params, **self.additional_kwargs}

    def _texts(self, texts: list[str], instruction: str | None) -> list[str]:
        return [instruction + t for t in texts] if instruction else texts

    def _embed(self, texts: list[str]) -> list[Embedding]:
        response = self.client.embed(texts, **self._params())
        self._served_model = self._served_model or response.model
        return response.vectors()

    async def _aembed(self, texts: list[str]) -> list[Embedding]:
        response = await self.async_client.embed(texts, **self._params())
        self._served_model = self._served_model or response.model
        return response.vectors()

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embed(self._texts([query], self.query_instruction))[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aembed(self._texts([query], self.query_instruction)))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed(self._texts([text], self.text_instruction))[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aembed(self._texts([text], self.text_instruction)))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed(self._texts(texts, self.text_instruction))

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._aembed(self._texts(texts, self.text_instruction))

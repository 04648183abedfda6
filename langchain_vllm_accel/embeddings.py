"""`VLLMEmbeddings`: LangChain embeddings on vLLM's ``/v1/embeddings``."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import Field

from ._connection import VLLMConnection


class VLLMEmbeddings(VLLMConnection, Embeddings):
    """Embeddings from a vLLM pooling server (``--runner pooling``).

    ``embed_documents`` sends the texts in requests of ``chunk_size`` inputs, up to
    ``max_concurrency`` requests at once; the async methods are natively async.

    Example:
        ```python
        from langchain_vllm_accel import VLLMEmbeddings

        embeddings = VLLMEmbeddings(model="minilm", base_url="http://localhost:8001")
        vectors = embeddings.embed_documents(["hello", "world"])
        ```
    """

    chunk_size: int = Field(default=256, ge=1)
    """Texts per ``/v1/embeddings`` request."""
    max_concurrency: int = Field(default=8, ge=1)
    """Requests in flight at once."""
    dimensions: int | None = None
    """Output size, for Matryoshka models only."""
    truncate_prompt_tokens: int | None = None
    """vLLM: truncate each input to this many tokens (``-1`` = the model's limit)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Other ``embed`` parameters of the core client (e.g. ``use_activation``)."""

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.model_kwargs)
        if self.dimensions is not None:
            params["dimensions"] = self.dimensions
        if self.truncate_prompt_tokens is not None:
            params["truncate_prompt_tokens"] = self.truncate_prompt_tokens
        return params

    def _chunks(self, texts: list[str]) -> list[list[str]]:
        size = self.chunk_size
        return [texts[i : i + size] for i in range(0, len(texts), size)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of texts; vectors come back in input order."""
        from ._errors import map_errors

        if not texts:
            return []
        params = self._params()
        client = self.client
        chunks = self._chunks(texts)
        with map_errors():
            if len(chunks) == 1:
                return client.embed(chunks[0], model=self.model, **params).vectors()
            with ThreadPoolExecutor(max_workers=min(len(chunks), self.max_concurrency)) as pool:
                parts = list(
                    pool.map(
                        lambda c: client.embed(c, model=self.model, **params).vectors(), chunks
                    )
                )
        return [vector for part in parts for vector in part]

    def embed_query(self, text: str) -> list[float]:
        """Embed one text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of texts without blocking the event loop."""
        from ._errors import map_errors

        if not texts:
            return []
        params = self._params()
        client = self.async_client
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def one(chunk: list[str]) -> list[list[float]]:
            async with semaphore:
                response = await client.embed(chunk, model=self.model, **params)
                return response.vectors()

        with map_errors():
            parts = await asyncio.gather(*(one(c) for c in self._chunks(texts)))
        return [vector for part in parts for vector in part]

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one text without blocking the event loop."""
        return (await self.aembed_documents([text]))[0]

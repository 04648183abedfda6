"""Reranking, scoring, classification, pooling, audio and the server-info routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._transport import AsyncTransport

if TYPE_CHECKING:  # imported by the methods that need them (import cost)
    from .._pooling_models import (
        ClassificationResponse,
        PoolingResponse,
        RerankResponse,
        ScoreResponse,
        ServerLoad,
        TokenizerInfo,
        Transcription,
    )

__all__ = ["AsyncSurface"]


class AsyncSurface(AsyncTransport):
    """``rerank``, ``score``, ``classify``, ``pooling``, ``transcribe``, ``translate``, ...

    The pure halves (payloads, checks, answer decoding) are in ``vllm_accel._pooling_calls``.
    """

    async def rerank(self, query: str, documents: Sequence[Any], *, model: str | None = None,
                     top_n: int | None = None, route: str = "/rerank",
                     **params: Any) -> RerankResponse:
        """``POST /rerank``: ``documents`` ordered by relevance to ``query``, best first.

        Works on an embedding model (bi-encoder: cosine similarity) and on a classification
        model (cross-encoder). ``route="/v2/rerank"`` (Jina / Cohere) or ``"/v1/rerank"`` reach
        the same handler.

        Args:
            query: the query text.
            documents: non-empty texts (or ``{"text": ...}`` dicts); results carry their index.
            model: a served model name (default: the client's).
            top_n: keep only the ``top_n`` best (>= 1; default: all).
            route: ``"/rerank"``, ``"/v1/rerank"`` or ``"/v2/rerank"``.
            **params: typed :class:`RerankParams` fields; ``extra_body`` for anything else.

        Raises:
            InvalidRequestError: empty documents, ``top_n`` < 1, a non-string document...
                (nothing was sent).
        """
        from .._pooling_models import RerankResponse

        call = self._rerank_call(query, documents, model, top_n, route, params)
        return self._parse(call, await self._send(call), RerankResponse)

    async def score(self, text_1: Any, text_2: Any, *, model: str | None = None,
                    **params: Any) -> ScoreResponse:
        """``POST /score``: one ``text_1`` against each ``text_2``, or pairwise (N x N).

        Raises:
            InvalidRequestError: an empty text, or lists of different lengths (nothing sent).
        """
        from .._pooling_models import ScoreResponse

        call = self._score_call(text_1, text_2, model, params)
        return self._parse(call, await self._send(call), ScoreResponse)

    async def classify(self, input: Any = None, *, messages: Any = None,
                       model: str | None = None, **params: Any) -> ClassificationResponse:
        """``POST /classify`` (a classification model): ``label`` and ``probs`` per input.

        Pass ``input`` (a string or a list) or chat ``messages`` (rendered by the template).
        """
        from .._pooling_models import ClassificationResponse

        call = self._classify_call(input, messages, model, params)
        return self._parse(call, await self._send(call), ClassificationResponse)

    async def pooling(self, input: Any = None, *, messages: Any = None,
                      model: str | None = None, **params: Any) -> PoolingResponse:
        """``POST /pooling``: the raw pooler output per input (``task=`` picks the pooler).

        ``encoding_format="base64"`` outputs are decoded to floats, as in :meth:`embed`.
        """
        call = self._pooling_call(input, messages, model, params)
        return self._pooling_result(call, await self._send(call))

    async def transcribe(self, file: Any, *, model: str | None = None,
                         **params: Any) -> Transcription:
        """``POST /v1/audio/transcriptions``: a multipart upload of ``file`` (a speech model).

        Args:
            file: a path, bytes, ``(filename, bytes[, content_type])`` or a binary file object.
            model: a served speech-to-text model.
            **params: typed :class:`AudioParams` form fields (``language``, ``prompt``,
                ``response_format``, ``temperature``...).

        Raises:
            InvalidRequestError: the file does not exist or is empty, a bad field (nothing
                was sent).
            NotFoundError: the server serves no speech-to-text model (no such route).
        """
        call = self._audio_call("/v1/audio/transcriptions", file, model, params)
        return self._transcription(call, await self._send(call))

    async def translate(self, file: Any, *, model: str | None = None,
                        **params: Any) -> Transcription:
        """``POST /v1/audio/translations``: like :meth:`transcribe`, translated to English."""
        call = self._audio_call("/v1/audio/translations", file, model, params)
        return self._transcription(call, await self._send(call))

    async def server_load(self) -> ServerLoad:
        """``GET /load``: requests in flight (0 unless ``--enable-server-load-tracking``)."""
        from .._pooling_models import ServerLoad

        call = self._call("GET", "/load")
        return self._parse(call, await self._send(call), ServerLoad)

    async def tokenizer_info(self) -> TokenizerInfo:
        """``GET /tokenizer_info`` (``--enable-tokenizer-info-endpoint``, else NotFoundError)."""
        from .._pooling_models import TokenizerInfo

        call = self._call("GET", "/tokenizer_info")
        return self._parse(call, await self._send(call), TokenizerInfo)

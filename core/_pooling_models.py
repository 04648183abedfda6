"""Typed answers of vLLM's pooling routes: rerank, score, classify, pooling; audio; server info.

Like :mod:`vllm_accel._models`, every model keeps the fields it does not declare
(``extra="allow"``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ._models import Usage, WireModel

__all__ = [
    "ClassificationData",
    "ClassificationResponse",
    "PoolingData",
    "PoolingResponse",
    "RerankDocument",
    "RerankResponse",
    "RerankResult",
    "ScoreData",
    "ScoreResponse",
    "ServerLoad",
    "TokenizerInfo",
    "Transcription",
]


class RerankDocument(WireModel):
    """The document of a rerank result (``text`` for plain-text documents)."""

    text: str | None = None


class RerankResult(WireModel):
    """One reranked document: its ``index`` in the request and its ``relevance_score``."""

    index: int
    relevance_score: float
    document: RerankDocument | None = None

    @property
    def text(self) -> str | None:
        """The document's text (None if the server did not return it)."""
        return self.document.text if self.document is not None else None


class RerankResponse(WireModel):
    """The answer of ``POST /rerank`` (also ``/v1/rerank``, ``/v2/rerank``).

    ``results`` is sorted best first (highest ``relevance_score``; ties keep input order),
    whatever order the server sent.
    """

    id: str = ""
    model: str = ""
    results: list[RerankResult] = Field(default_factory=list)
    usage: Usage | None = None

    @field_validator("results")
    @classmethod
    def _best_first(cls, results: list[RerankResult]) -> list[RerankResult]:
        return sorted(results, key=lambda r: (-r.relevance_score, r.index))

    def top(self, n: int) -> list[RerankResult]:
        """The ``n`` best results."""
        return self.results[:n]

    def indices(self) -> list[int]:
        """The request indices of the documents, best first."""
        return [r.index for r in self.results]

    def documents(self) -> list[str | None]:
        """The document texts, best first."""
        return [r.text for r in self.results]

    def scores(self) -> dict[int, float]:
        """Request index -> relevance score."""
        return {r.index: r.relevance_score for r in self.results}


class ScoreData(WireModel):
    """One score of ``POST /score``: pair ``index`` and its ``score``."""

    index: int
    object: str = "score"
    score: float


class ScoreResponse(WireModel):
    """The answer of ``POST /score``."""

    id: str = ""
    object: str = "list"
    created: int = 0
    model: str = ""
    data: list[ScoreData] = Field(default_factory=list)
    usage: Usage | None = None

    def scores(self) -> list[float]:
        """The scores in pair order."""
        return [d.score for d in sorted(self.data, key=lambda d: d.index)]


class ClassificationData(WireModel):
    """One classified input: the winning ``label``, and ``probs`` over ``num_classes``."""

    index: int
    label: str | None = None
    probs: list[float] = Field(default_factory=list)
    num_classes: int = 0


class ClassificationResponse(WireModel):
    """The answer of ``POST /classify``."""

    id: str = ""
    object: str = "list"
    created: int = 0
    model: str = ""
    data: list[ClassificationData] = Field(default_factory=list)
    usage: Usage | None = None

    def _ordered(self) -> list[ClassificationData]:
        return sorted(self.data, key=lambda d: d.index)

    def labels(self) -> list[str | None]:
        """The winning label of each input, in input order."""
        return [d.label for d in self._ordered()]

    def probabilities(self) -> list[list[float]]:
        """The class probabilities of each input, in input order."""
        return [d.probs for d in self._ordered()]


class PoolingData(WireModel):
    """One pooled output: a vector, a matrix (token-level tasks) or a base64 string."""

    index: int
    object: str = "pooling"
    data: list[list[float]] | list[float] | str = Field(default_factory=list)


class PoolingResponse(WireModel):
    """The answer of ``POST /pooling``."""

    id: str = ""
    object: str = "list"
    created: int = 0
    model: str = ""
    data: list[PoolingData] = Field(default_factory=list)
    usage: Usage | None = None

    def outputs(self) -> list[Any]:
        """The pooled outputs in input order."""
        return [d.data for d in sorted(self.data, key=lambda d: d.index)]


class Transcription(WireModel):
    """The answer of ``/v1/audio/transcriptions`` or ``/v1/audio/translations`` (json)."""

    text: str = ""
    usage: Usage | None = None


class ServerLoad(WireModel):
    """``GET /load``: requests in flight (always 0 without ``--enable-server-load-tracking``)."""

    server_load: int = 0


class TokenizerInfo(WireModel):
    """``GET /tokenizer_info`` (``--enable-tokenizer-info-endpoint``); every field is kept."""

    tokenizer_class: str | None = None

"""LlamaIndex integration for vLLM, on the shared ``vllm_accel`` client.

``VLLM`` is an LLM with tools, structured outputs, LoRA adapters and batching; ``VLLMEmbedding``
embeds through ``/v1/embeddings``; ``VLLMRerank`` reranks retrieved nodes through ``/rerank``.

Example:
    >>> from llamaindex_vllm_accel import VLLM, VLLMEmbedding  # doctest: +SKIP
    >>> Settings.llm = VLLM(base_url="http://localhost:8000")  # doctest: +SKIP
    >>> Settings.embed_model = VLLMEmbedding(base_url="http://localhost:8001")  # doctest: +SKIP
    >>> rerank = VLLMRerank(base_url="http://localhost:8001", top_n=2)  # doctest: +SKIP

Classes are imported on first access, so ``import llamaindex_vllm_accel`` costs almost nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from vllm_accel._extras import require

require("llamaindex_vllm_accel", "llamaindex", "llama_index.core")

if TYPE_CHECKING:
    from .embeddings import VLLMEmbedding
    from .llms import VLLM
    from .rerank import VLLMRerank

__all__ = ["VLLM", "VLLMEmbedding", "VLLMRerank"]

_MODULES = {"VLLM": ".llms", "VLLMEmbedding": ".embeddings", "VLLMRerank": ".rerank"}


def __getattr__(name: str) -> Any:
    """Each class is imported on first access (``import llamaindex_vllm_accel`` stays cheap)."""
    if name not in _MODULES:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(_MODULES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

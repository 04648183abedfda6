"""LangChain integration for vLLM: `ChatVLLM`, `VLLM`, `VLLMEmbeddings` and `VLLMRerank`.

Classes are imported on first access, so ``import langchain_vllm_accel`` costs almost nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from vllm_accel._extras import require

require("langchain_vllm_accel", "langchain", "langchain_core")

if TYPE_CHECKING:
    from ._errors import (
        VLLMAllEndpointsFailedError,
        VLLMAPIError,
        VLLMAuthenticationError,
        VLLMBadRequestError,
        VLLMConflictError,
        VLLMConnectionError,
        VLLMContextOverflowError,
        VLLMEndpointsFailedError,
        VLLMIncompleteStreamError,
        VLLMInternalServerError,
        VLLMInvalidRequestError,
        VLLMNotFoundError,
        VLLMPermissionDeniedError,
        VLLMRateLimitError,
        VLLMRequestTimeoutError,
        VLLMServiceUnavailableError,
        VLLMStatusError,
        VLLMStreamError,
        VLLMTimeoutError,
        VLLMUnprocessableEntityError,
    )
    from .chat_models import ChatVLLM
    from .embeddings import VLLMEmbeddings
    from .llms import VLLM
    from .rerank import VLLMRerank

__all__ = [
    "VLLM",
    "ChatVLLM",
    "VLLMAPIError",
    "VLLMAllEndpointsFailedError",
    "VLLMAuthenticationError",
    "VLLMBadRequestError",
    "VLLMConflictError",
    "VLLMConnectionError",
    "VLLMContextOverflowError",
    "VLLMEmbeddings",
    "VLLMEndpointsFailedError",
    "VLLMIncompleteStreamError",
    "VLLMInternalServerError",
    "VLLMInvalidRequestError",
    "VLLMNotFoundError",
    "VLLMPermissionDeniedError",
    "VLLMRerank",
    "VLLMRateLimitError",
    "VLLMRequestTimeoutError",
    "VLLMServiceUnavailableError",
    "VLLMStatusError",
    "VLLMStreamError",
    "VLLMTimeoutError",
    "VLLMUnprocessableEntityError",
]

_MODULES = {
    "ChatVLLM": ".chat_models",
    "VLLM": ".llms",
    "VLLMEmbeddings": ".embeddings",
    "VLLMRerank": ".rerank",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        module = _MODULES[name]
    elif name in __all__:
        module = "._errors"
    else:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

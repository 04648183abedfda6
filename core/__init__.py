"""vllm-accel: a typed, sync and async client for vLLM's OpenAI-compatible server.

Example:
    >>> from vllm_accel import VLLMClient
    >>> with VLLMClient("http://localhost:8000") as client:  # doctest: +SKIP
    ...     print(client.chat([{"role": "user", "content": "Hi"}], max_tokens=16).text)

Names are imported on first access (PEP 562), so ``import vllm_accel`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._accumulate import ChatAccumulator, CompletionAccumulator
    from ._async_client import AsyncVLLMClient
    from ._batch import BatchItem, BatchMetrics
    from ._breaker import CircuitBreaker
    from ._client import VLLMClient
    from ._config import RetryPolicy
    from ._errors import (
        AllEndpointsFailedError,
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        ContextLengthError,
        DeadlineExceededError,
        EndpointsFailedError,
        IncompleteStreamError,
        InternalServerError,
        InvalidAPIKeyError,
        InvalidRequestError,
        NotFoundError,
        PermissionDeniedError,
        QuantizationError,
        QuantizationNotSupportedError,
        RateLimitError,
        RequestTimeoutError,
        ResponseTooLargeError,
        ServiceUnavailableError,
        StreamError,
        TLSError,
        UnprocessableEntityError,
        VLLMError,
    )
    from ._factory import (
        available_backends,
        create_api_backend,
        find_compatible_backend,
        is_compatible_model,
    )
    from ._metrics import MetricsSnapshot, Sample
    from ._models import (
        ChatChoice,
        ChatChunkChoice,
        ChatCompletion,
        ChatCompletionChunk,
        ChatMessage,
        ChoiceDelta,
        Completion,
        CompletionChoice,
        CompletionChunk,
        DetokenizeResponse,
        Embedding,
        EmbeddingResponse,
        FunctionCall,
        LoRAAdapter,
        ModelCard,
        ModelInfo,
        ModelList,
        ModelStatistics,
        TokenizeResponse,
        ToolCall,
        ToolCallDelta,
        Usage,
    )
    from ._params import ChatParams, CompletionParams, EmbeddingParams
    from ._pool import Endpoint, EndpointPool, EndpointStats
    from ._routing import LeastOutstanding, LoRAAware, RoundRobin, RoutingPolicy
    from ._secret import Secret
    from ._stats import NO_MODEL, GroupStats, RequestRecord, StatsSnapshot
    from ._stream import (
        AsyncChatStream,
        AsyncCompletionStream,
        AsyncRawStream,
        ChatStream,
        CompletionStream,
        RawStream,
    )
    from ._urls import redact_url

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "APIConnectionError": "._errors",
    "APIError": "._errors",
    "APIStatusError": "._errors",
    "APITimeoutError": "._errors",
    "AllEndpointsFailedError": "._errors",
    "AsyncChatStream": "._stream",
    "AsyncCompletionStream": "._stream",
    "AsyncRawStream": "._stream",
    "AsyncVLLMClient": "._async_client",
    "AuthenticationError": "._errors",
    "BadRequestError": "._errors",
    "BatchItem": "._batch",
    "BatchMetrics": "._batch",
    "ChatAccumulator": "._accumulate",
    "ChatChoice": "._models",
    "ChatChunkChoice": "._models",
    "ChatCompletion": "._models",
    "ChatCompletionChunk": "._models",
    "ChatMessage": "._models",
    "ChatParams": "._params",
    "ChatStream": "._stream",
    "ChoiceDelta": "._models",
    "CircuitBreaker": "._breaker",
    "Completion": "._models",
    "CompletionAccumulator": "._accumulate",
    "CompletionChoice": "._models",
    "CompletionChunk": "._models",
    "CompletionParams": "._params",
    "CompletionStream": "._stream",
    "ConflictError": "._errors",
    "ContextLengthError": "._errors",
    "DetokenizeResponse": "._models",
    "Embedding": "._models",
    "EmbeddingParams": "._params",
    "EmbeddingResponse": "._models",
    "Endpoint": "._pool",
    "EndpointPool": "._pool",
    "EndpointStats": "._pool",
    "EndpointsFailedError": "._errors",
    "FunctionCall": "._models",
    "GroupStats": "._stats",
    "IncompleteStreamError": "._errors",
    "InternalServerError": "._errors",
    "InvalidRequestError": "._errors",
    "LeastOutstanding": "._routing",
    "LoRAAdapter": "._models",
    "LoRAAware": "._routing",
    "MetricsSnapshot": "._metrics",
    "ModelCard": "._models",
    "ModelInfo": "._models",
    "ModelList": "._models",
    "ModelStatistics": "._models",
    "NO_MODEL": "._stats",
    "NotFoundError": "._errors",
    "PermissionDeniedError": "._errors",
    "QuantizationError": "._errors",
    "QuantizationNotSupportedError": "._errors",
    "RateLimitError": "._errors",
    "RawStream": "._stream",
    "RequestRecord": "._stats",
    "RequestTimeoutError": "._errors",
    "RetryPolicy": "._config",
    "RoundRobin": "._routing",
    "RoutingPolicy": "._routing",
    "Sample": "._metrics",
    "Secret": "._secret",
    "ServiceUnavailableError": "._errors",
    "StatsSnapshot": "._stats",
    "StreamError": "._errors",
    "TokenizeResponse": "._models",
    "ToolCall": "._models",
    "ToolCallDelta": "._models",
    "UnprocessableEntityError": "._errors",
    "Usage": "._models",
    "VLLMClient": "._client",
    "VLLMError": "._errors",
    "redact_url": "._urls",
    "TLSError": "._errors",
    "ResponseTooLargeError": "._errors",
    "InvalidAPIKeyError": "._errors",
    "DeadlineExceededError": "._errors",
    "available_backends": "._factory",
    "create_api_backend": "._factory",
    "find_compatible_backend": "._factory",
    "is_compatible_model": "._factory",
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AllEndpointsFailedError",
    "AsyncChatStream",
    "AsyncCompletionStream",
    "AsyncRawStream",
    "AsyncVLLMClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchItem",
    "BatchMetrics",
    "ChatAccumulator",
    "ChatChoice",
    "ChatChunkChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "ChatParams",
    "ChatStream",
    "ChoiceDelta",
    "CircuitBreaker",
    "Completion",
    "CompletionAccumulator",
    "CompletionChoice",
    "CompletionChunk",
    "CompletionParams",
    "CompletionStream",
    "ConflictError",
    "ContextLengthError",
    "DeadlineExceededError",
    "DetokenizeResponse",
    "Embedding",
    "EmbeddingParams",
    "EmbeddingResponse",
    "Endpoint",
    "EndpointPool",
    "EndpointStats",
    "EndpointsFailedError",
    "FunctionCall",
    "GroupStats",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidAPIKeyError",
    "InvalidRequestError",
    "LeastOutstanding",
    "LoRAAdapter",
    "LoRAAware",
    "MetricsSnapshot",
    "ModelCard",
    "ModelInfo",
    "ModelList",
    "ModelStatistics",
    "NO_MODEL",
    "NotFoundError",
    "PermissionDeniedError",
    "QuantizationError",
    "QuantizationNotSupportedError",
    "RateLimitError",
    "RawStream",
    "RequestRecord",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "RoundRobin",
    "RoutingPolicy",
    "Sample",
    "Secret",
    "ServiceUnavailableError",
    "StatsSnapshot",
    "StreamError",
    "TLSError",
    "TokenizeResponse",
    "ToolCall",
    "ToolCallDelta",
    "UnprocessableEntityError",
    "Usage",
    "VLLMClient",
    "VLLMError",
    "__version__",
    "available_backends",
    "create_api_backend",
    "find_compatible_backend",
    "is_compatible_model",
    "redact_url",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vllm_accel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

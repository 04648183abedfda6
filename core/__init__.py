"""vllm-accel: a typed, sync and async client for vLLM's OpenAI-compatible server.

Example:
    >>> from vllm_accel import VLLMClient
    >>> with VLLMClient("http://localhost:8000") as client:  # doctest: +SKIP
    ...     print(client.chat([{"role": "user", "content": "Hi"}], max_tokens=16).text)
"""

from __future__ import annotations

from ._accumulate import ChatAccumulator, CompletionAccumulator
from ._async_client import AsyncVLLMClient
from ._batch import BatchItem, BatchMetrics
from ._client import VLLMClient
from ._config import RetryPolicy
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContextLengthError,
    IncompleteStreamError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    QuantizationError,
    QuantizationNotSupportedError,
    RateLimitError,
    RequestTimeoutError,
    ServiceUnavailableError,
    StreamError,
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
from ._secret import Secret
from ._stats import GroupStats, RequestRecord, StatsSnapshot
from ._stream import (
    AsyncChatStream,
    AsyncCompletionStream,
    AsyncRawStream,
    ChatStream,
    CompletionStream,
    RawStream,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
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
    "Completion",
    "CompletionAccumulator",
    "CompletionChoice",
    "CompletionChunk",
    "CompletionParams",
    "CompletionStream",
    "ConflictError",
    "ContextLengthError",
    "DetokenizeResponse",
    "Embedding",
    "EmbeddingParams",
    "EmbeddingResponse",
    "FunctionCall",
    "GroupStats",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidRequestError",
    "LoRAAdapter",
    "MetricsSnapshot",
    "ModelCard",
    "ModelInfo",
    "ModelList",
    "ModelStatistics",
    "NotFoundError",
    "PermissionDeniedError",
    "QuantizationError",
    "QuantizationNotSupportedError",
    "RateLimitError",
    "RawStream",
    "RequestRecord",
    "RequestTimeoutError",
    "RetryPolicy",
    "Sample",
    "Secret",
    "ServiceUnavailableError",
    "StatsSnapshot",
    "StreamError",
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
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("vllm_accel._"):
        _obj.__module__ = "vllm_accel"
del _name, _obj

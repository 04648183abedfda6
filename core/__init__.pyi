"""The public names of ``vllm_accel``: the one list of them.

``vllm_accel/__init__.py`` reads this stub (``lazy_loader.attach_stub``) to import each name on
first access (PEP 562), so ``import vllm_accel`` stays cheap; type checkers read it as the
package's interface (``X as X`` marks an explicit re-export). Add a public name here only.
"""

from ._accumulate import (
    ChatAccumulator as ChatAccumulator,
)
from ._accumulate import (
    CompletionAccumulator as CompletionAccumulator,
)
from ._affinity import (
    PrefixAffinity as PrefixAffinity,
)
from ._async_client import (
    AsyncVLLMClient as AsyncVLLMClient,
)
from ._audio import (
    AudioParams as AudioParams,
)
from ._batch import (
    BatchItem as BatchItem,
)
from ._batch import (
    BatchMetrics as BatchMetrics,
)
from ._breaker import (
    CircuitBreaker as CircuitBreaker,
)
from ._client import (
    VLLMClient as VLLMClient,
)
from ._config import (
    RetryPolicy as RetryPolicy,
)
from ._errors import (
    AllEndpointsFailedError as AllEndpointsFailedError,
)
from ._errors import (
    APIConnectionError as APIConnectionError,
)
from ._errors import (
    APIError as APIError,
)
from ._errors import (
    APIStatusError as APIStatusError,
)
from ._errors import (
    APITimeoutError as APITimeoutError,
)
from ._errors import (
    AuthenticationError as AuthenticationError,
)
from ._errors import (
    BadRequestError as BadRequestError,
)
from ._errors import (
    ConflictError as ConflictError,
)
from ._errors import (
    ContextLengthError as ContextLengthError,
)
from ._errors import (
    DeadlineExceededError as DeadlineExceededError,
)
from ._errors import (
    EndpointsFailedError as EndpointsFailedError,
)
from ._errors import (
    IncompleteStreamError as IncompleteStreamError,
)
from ._errors import (
    InternalServerError as InternalServerError,
)
from ._errors import (
    InvalidAPIKeyError as InvalidAPIKeyError,
)
from ._errors import (
    InvalidRequestError as InvalidRequestError,
)
from ._errors import (
    NotFoundError as NotFoundError,
)
from ._errors import (
    PermissionDeniedError as PermissionDeniedError,
)
from ._errors import (
    QuantizationError as QuantizationError,
)
from ._errors import (
    QuantizationNotSupportedError as QuantizationNotSupportedError,
)
from ._errors import (
    RateLimitError as RateLimitError,
)
from ._errors import (
    RequestTimeoutError as RequestTimeoutError,
)
from ._errors import (
    ResponseTooLargeError as ResponseTooLargeError,
)
from ._errors import (
    ServiceUnavailableError as ServiceUnavailableError,
)
from ._errors import (
    StreamError as StreamError,
)
from ._errors import (
    TLSError as TLSError,
)
from ._errors import (
    UnprocessableEntityError as UnprocessableEntityError,
)
from ._errors import (
    VLLMError as VLLMError,
)
from ._factory import (
    available_backends as available_backends,
)
from ._factory import (
    create_api_backend as create_api_backend,
)
from ._factory import (
    find_compatible_backend as find_compatible_backend,
)
from ._factory import (
    is_compatible_model as is_compatible_model,
)
from ._metrics import (
    MetricsSnapshot as MetricsSnapshot,
)
from ._metrics import (
    Sample as Sample,
)
from ._models import (
    ChatChoice as ChatChoice,
)
from ._models import (
    ChatChunkChoice as ChatChunkChoice,
)
from ._models import (
    ChatCompletion as ChatCompletion,
)
from ._models import (
    ChatCompletionChunk as ChatCompletionChunk,
)
from ._models import (
    ChatMessage as ChatMessage,
)
from ._models import (
    ChoiceDelta as ChoiceDelta,
)
from ._models import (
    Completion as Completion,
)
from ._models import (
    CompletionChoice as CompletionChoice,
)
from ._models import (
    CompletionChunk as CompletionChunk,
)
from ._models import (
    DetokenizeResponse as DetokenizeResponse,
)
from ._models import (
    Embedding as Embedding,
)
from ._models import (
    EmbeddingResponse as EmbeddingResponse,
)
from ._models import (
    FunctionCall as FunctionCall,
)
from ._models import (
    LoRAAdapter as LoRAAdapter,
)
from ._models import (
    ModelCard as ModelCard,
)
from ._models import (
    ModelInfo as ModelInfo,
)
from ._models import (
    ModelList as ModelList,
)
from ._models import (
    ModelStatistics as ModelStatistics,
)
from ._models import (
    TokenizeResponse as TokenizeResponse,
)
from ._models import (
    ToolCall as ToolCall,
)
from ._models import (
    ToolCallDelta as ToolCallDelta,
)
from ._models import (
    Usage as Usage,
)
from ._params import (
    ChatParams as ChatParams,
)
from ._params import (
    CompletionParams as CompletionParams,
)
from ._params import (
    EmbeddingParams as EmbeddingParams,
)
from ._pool import (
    Endpoint as Endpoint,
)
from ._pool import (
    EndpointPool as EndpointPool,
)
from ._pool import (
    EndpointStats as EndpointStats,
)
from ._pooling_models import (
    ClassificationData as ClassificationData,
)
from ._pooling_models import (
    ClassificationResponse as ClassificationResponse,
)
from ._pooling_models import (
    PoolingData as PoolingData,
)
from ._pooling_models import (
    PoolingResponse as PoolingResponse,
)
from ._pooling_models import (
    RerankDocument as RerankDocument,
)
from ._pooling_models import (
    RerankResponse as RerankResponse,
)
from ._pooling_models import (
    RerankResult as RerankResult,
)
from ._pooling_models import (
    ScoreData as ScoreData,
)
from ._pooling_models import (
    ScoreResponse as ScoreResponse,
)
from ._pooling_models import (
    ServerLoad as ServerLoad,
)
from ._pooling_models import (
    TokenizerInfo as TokenizerInfo,
)
from ._pooling_models import (
    Transcription as Transcription,
)
from ._pooling_params import (
    ClassifyParams as ClassifyParams,
)
from ._pooling_params import (
    PoolingParams as PoolingParams,
)
from ._pooling_params import (
    RerankParams as RerankParams,
)
from ._pooling_params import (
    ScoreParams as ScoreParams,
)
from ._responses import (
    Response as Response,
)
from ._responses import (
    ResponseContent as ResponseContent,
)
from ._responses import (
    ResponseContentPartEvent as ResponseContentPartEvent,
)
from ._responses import (
    ResponseErrorEvent as ResponseErrorEvent,
)
from ._responses import (
    ResponseEvent as ResponseEvent,
)
from ._responses import (
    ResponseLifecycleEvent as ResponseLifecycleEvent,
)
from ._responses import (
    ResponseOutputItem as ResponseOutputItem,
)
from ._responses import (
    ResponseOutputItemEvent as ResponseOutputItemEvent,
)
from ._responses import (
    ResponseParams as ResponseParams,
)
from ._responses import (
    ResponseTextDeltaEvent as ResponseTextDeltaEvent,
)
from ._responses import (
    ResponseTextDoneEvent as ResponseTextDoneEvent,
)
from ._responses import (
    ResponseUsage as ResponseUsage,
)
from ._responses_stream import (
    AsyncResponseStream as AsyncResponseStream,
)
from ._responses_stream import (
    ResponseStream as ResponseStream,
)
from ._routing import (
    LeastOutstanding as LeastOutstanding,
)
from ._routing import (
    LoRAAware as LoRAAware,
)
from ._routing import (
    RoundRobin as RoundRobin,
)
from ._routing import (
    RoutingPolicy as RoutingPolicy,
)
from ._secret import (
    Secret as Secret,
)
from ._stats import (
    NO_MODEL as NO_MODEL,
)
from ._stats import (
    GroupStats as GroupStats,
)
from ._stats import (
    RequestRecord as RequestRecord,
)
from ._stats import (
    StatsSnapshot as StatsSnapshot,
)
from ._stream import (
    AsyncChatStream as AsyncChatStream,
)
from ._stream import (
    AsyncCompletionStream as AsyncCompletionStream,
)
from ._stream import (
    AsyncRawStream as AsyncRawStream,
)
from ._stream import (
    ChatStream as ChatStream,
)
from ._stream import (
    CompletionStream as CompletionStream,
)
from ._stream import (
    RawStream as RawStream,
)
from ._urls import (
    redact_url as redact_url,
)

__version__: str

"""Typed wire models of vLLM's responses (OpenAI shapes plus vLLM's extras).

Every model keeps fields it does not declare (``extra="allow"``), so nothing the server sends is
lost: read them as attributes or from ``model_extra``.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

__all__ = [
    "ChatChoice",
    "ChatChunkChoice",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatMessage",
    "ChoiceDelta",
    "Completion",
    "CompletionChoice",
    "CompletionChunk",
    "DetokenizeResponse",
    "Embedding",
    "EmbeddingResponse",
    "FunctionCall",
    "LoRAAdapter",
    "ModelCard",
    "ModelInfo",
    "ModelList",
    "ModelStatistics",
    "TokenizeResponse",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]


class WireModel(BaseModel):
    """Base of every response model: unknown fields are kept."""

    # defer_build: validators are built on first use, which keeps ``import vllm_accel`` cheap.
    model_config = ConfigDict(extra="allow", protected_namespaces=(), defer_build=True)


# Older vLLM sent ``reasoning_content``; 0.32 sends ``reasoning``. Either is read as ``reasoning``.
_REASONING = AliasChoices("reasoning", "reasoning_content")


class Usage(WireModel):
    """Token counts of a request."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class FunctionCall(WireModel):
    """A tool call's function: its name and JSON-encoded ``arguments``."""

    name: str | None = None
    arguments: str | None = None


class ToolCall(WireModel):
    """One tool call of an assistant message."""

    id: str | None = None
    type: str = "function"
    function: FunctionCall = Field(default_factory=FunctionCall)


class ChatMessage(WireModel):
    """The assistant message of a chat choice."""

    role: str = "assistant"
    content: str | None = None
    reasoning: str | None = Field(None, validation_alias=_REASONING)
    tool_calls: list[ToolCall] | None = None


class ChatChoice(WireModel):
    """One choice of a chat completion."""

    index: int = 0
    message: ChatMessage = Field(default_factory=ChatMessage)
    finish_reason: str | None = None
    stop_reason: int | str | None = None
    logprobs: Any = None


class ChatCompletion(WireModel):
    """The answer of ``POST /v1/chat/completions``."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[ChatChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def text(self) -> str:
        """The first choice's content ('' if none)."""
        return (self.choices[0].message.content or "") if self.choices else ""


class ToolCallDelta(WireModel):
    """A fragment of a streamed tool call; fragments with the same ``index`` concatenate."""

    index: int = 0
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None


class ChoiceDelta(WireModel):
    """What one chunk adds to a chat choice."""

    role: str | None = None
    content: str | None = None
    reasoning: str | None = Field(None, validation_alias=_REASONING)
    tool_calls: list[ToolCallDelta] | None = None


class ChatChunkChoice(WireModel):
    """One choice of a streamed chat chunk."""

    index: int = 0
    delta: ChoiceDelta = Field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    stop_reason: int | str | None = None
    logprobs: Any = None


class ChatCompletionChunk(WireModel):
    """One SSE event of a streamed chat completion (the last one may only carry ``usage``)."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChatChunkChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None


class CompletionChoice(WireModel):
    """One choice of a (streamed) completion; ``index = prompt_index * n + sample_index``."""

    index: int = 0
    text: str = ""
    finish_reason: str | None = None
    stop_reason: int | str | None = None
    logprobs: Any = None


class Completion(WireModel):
    """The answer of ``POST /v1/completions``."""

    id: str = ""
    object: str = "text_completion"
    created: int = 0
    model: str = ""
    choices: list[CompletionChoice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def text(self) -> str:
        """The first choice's text ('' if none)."""
        return self.choices[0].text if self.choices else ""


class CompletionChunk(Completion):
    """One SSE event of a streamed completion."""


class Embedding(WireModel):
    """One embedding vector (a list of floats, or a base64 string with ``encoding_format``)."""

    index: int = 0
    object: str = "embedding"
    embedding: list[float] | str = Field(default_factory=list)


class EmbeddingResponse(WireModel):
    """The answer of ``POST /v1/embeddings``."""

    id: str = ""
    object: str = "list"
    created: int = 0
    model: str = ""
    data: list[Embedding] = Field(default_factory=list)
    usage: Usage | None = None

    def vectors(self) -> list[list[float]]:
        """The float vectors in input order (raises TypeError for base64 answers)."""
        out: list[list[float]] = []
        for item in sorted(self.data, key=lambda e: e.index):
            if isinstance(item.embedding, str):
                raise TypeError("embeddings are base64-encoded; decode them yourself")
            out.append(item.embedding)
        return out


class TokenizeResponse(WireModel):
    """The answer of ``POST /tokenize``."""

    count: int = 0
    max_model_len: int | None = None
    tokens: list[int] = Field(default_factory=list)
    token_strs: list[str] | None = None


class DetokenizeResponse(WireModel):
    """The answer of ``POST /detokenize``."""

    prompt: str = ""


class ModelCard(WireModel):
    """One entry of ``GET /v1/models``: a base model, or a LoRA adapter when ``parent`` is set."""

    id: str
    object: str = "model"
    created: int = 0
    owned_by: str | None = None
    root: str | None = None
    parent: str | None = None
    max_model_len: int | None = None


class ModelList(WireModel):
    """The answer of ``GET /v1/models``."""

    object: str = "list"
    data: list[ModelCard] = Field(default_factory=list)

    def ids(self) -> list[str]:
        """Every served name (base models and adapters)."""
        return [card.id for card in self.data]

    def base_models(self) -> list[ModelCard]:
        """The entries that are not LoRA adapters."""
        return [card for card in self.data if card.parent is None]

    def get(self, model: str) -> ModelCard | None:
        """The entry named ``model``, if served."""
        return next((card for card in self.data if card.id == model), None)


class LoRAAdapter(WireModel):
    """A LoRA adapter served by vLLM (from ``/v1/models`` entries with a ``parent``)."""

    name: str
    path: str | None = None
    base_model: str | None = None


class ModelInfo(WireModel):
    """What the server tells about a model (``/v1/models``, ``/metrics``, ``/version``).

    ``dtype`` and ``quantization`` are None unless known: vLLM 0.32 does not report them over HTTP
    (``set_quantization`` fills ``quantization`` for the servers it relaunched).
    """

    model: str
    root: str | None = None
    parent: str | None = None
    max_model_len: int | None = None
    dtype: str | None = None
    quantization: str | None = None
    gpu_memory_utilization: float | None = None
    kv_cache_dtype: str | None = None
    block_size: int | None = None
    kv_cache_size_tokens: int | None = None
    enable_prefix_caching: bool | None = None
    lora_adapters: list[str] = Field(default_factory=list)
    server_version: str | None = None


class ModelStatistics(WireModel):
    """Server-side statistics of a model, computed from ``/metrics``.

    vLLM counts LoRA traffic under the base model, so an adapter gets its base model's numbers
    (``metrics_model`` names the label used). Times are seconds.
    """

    model: str
    metrics_model: str
    requests_processed: int = 0
    requests_by_finish_reason: dict[str, int] = Field(default_factory=dict)
    prompt_tokens: int = 0
    tokens_generated: int = 0
    avg_tokens_per_request: float | None = None
    max_tokens_per_request: float | None = None
    """An upper bound: the smallest histogram bucket that holds every request."""
    avg_generation_time: float | None = None
    avg_time_to_first_token: float | None = None
    throughput: float | None = None
    """Generated tokens per second of engine inference time (per request, on average)."""
    errors: int = 0
    """HTTP 4xx + 5xx answers of the generation routes, plus engine errors."""
    errors_4xx: int = 0
    errors_5xx: int = 0
    requests_running: int = 0
    requests_waiting: int = 0
    kv_cache_usage: float | None = None
    uptime: float | None = None
    """Seconds since the API server process started (``process_start_time_seconds``)."""

"""Request parameters: typed fields, local validation, and the JSON payload of each route.

Everything that can be checked without the server is checked here, before any network call,
and raises :class:`~vllm_accel.InvalidRequestError`. Unknown keys are refused (they would be
silently dropped by vLLM); send server-specific extras through ``extra_body={...}``, which is
deep-merged into the payload last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._config import MAX_COMPLETION_PROMPTS, MAX_STOP_STRINGS, MAX_TEMPERATURE
from ._errors import InvalidRequestError

__all__ = [
    "ChatParams",
    "CompletionParams",
    "EmbeddingParams",
    "chat_payload",
    "completion_payload",
    "embedding_payload",
    "merge_deep",
]

# vLLM 0.32 silently ignores these: map them to ``structured_outputs`` instead.
_GUIDED_FIELDS = {
    "guided_json": "json",
    "guided_regex": "regex",
    "guided_choice": "choice",
    "guided_grammar": "grammar",
    "guided_whitespace_pattern": "whitespace_pattern",
}
_REJECTED = {
    "best_of": "best_of was removed in vLLM 0.32 (it is silently ignored); use n=... instead",
    "guided_decoding_backend": (
        "guided_decoding_backend was removed in vLLM 0.32; the backend is a server flag "
        "(--structured-outputs-config)"
    ),
    "stream": "use stream_chat()/stream_generation() to stream",
}
_CONSTRAINTS = ("json", "regex", "choice", "grammar", "json_object", "structural_tag")


class _Params(BaseModel):
    """Fields shared by chat and completions (OpenAI plus vLLM sampling extras)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), defer_build=True)

    temperature: float | None = Field(None, ge=0.0, le=MAX_TEMPERATURE)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=-1)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    n: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    repetition_penalty: float | None = Field(None, gt=0.0)
    length_penalty: float | None = None
    use_beam_search: bool | None = None
    logit_bias: dict[str, float] | None = None
    prompt_logprobs: int | None = Field(None, ge=-1)
    logprob_token_ids: list[int] | None = Field(None, max_length=128)
    ignore_eos: bool | None = None
    min_tokens: int | None = Field(None, ge=0)
    include_stop_str_in_output: bool | None = None
    skip_special_tokens: bool | None = None
    spaces_between_special_tokens: bool | None = None
    truncate_prompt_tokens: int | None = Field(None, ge=-1)
    truncation_side: Literal["left", "right"] | None = None
    allowed_token_ids: list[int] | None = None
    bad_words: list[str] | None = None
    structured_outputs: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    priority: int | None = None
    request_id: str | None = None
    session_id: str | None = None
    user: str | None = None
    stream_options: dict[str, Any] | None = None
    add_special_tokens: bool | None = None
    return_token_ids: bool | None = None
    return_tokens_as_token_ids: bool | None = None
    cache_salt: str | None = Field(None, max_length=128)
    vllm_xargs: dict[str, Any] | None = None
    repetition_detection: dict[str, Any] | None = None
    thinking_token_budget: int | None = Field(None, ge=-1)
    stream_interval: int | None = Field(None, ge=1)
    kv_transfer_params: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("logit_bias"), Mapping):
            data = {**data, "logit_bias": {str(k): v for k, v in data["logit_bias"].items()}}
        return data

    @model_validator(mode="after")
    def _check_shared(self) -> _Params:
        stops = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        if len(stops) > MAX_STOP_STRINGS:
            raise ValueError(
                f"stop accepts at most {MAX_STOP_STRINGS} strings (got {len(stops)}); "
                "use stop_token_ids for more"
            )
        if self.structured_outputs is not None:
            found = [k for k in _CONSTRAINTS if self.structured_outputs.get(k) is not None]
            if len(found) != 1:
                raise ValueError(
                    "structured_outputs needs exactly one of "
                    f"{', '.join(_CONSTRAINTS)} (got {found or 'none'})"
                )
        return self


class ChatParams(_Params):
    """The typed optional fields of ``chat``/``stream_chat``.

    Example:
        >>> ChatParams(temperature=0.2, top_k=20, max_tokens=64).temperature
        0.2
    """

    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=-1)
    tools: list[dict[str, Any]] | None = Field(None, min_length=1)
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    chat_template: str | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    add_generation_prompt: bool | None = None
    continue_final_message: bool | None = None
    documents: list[dict[str, str]] | None = None
    echo: bool | None = None
    reasoning_effort: str | None = None
    include_reasoning: bool | None = None
    mm_processor_kwargs: dict[str, Any] | None = None
    media_io_kwargs: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check_chat(self) -> ChatParams:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs=True")
        if self.add_generation_prompt and self.continue_final_message:
            raise ValueError("add_generation_prompt and continue_final_message exclude each other")
        if self.tool_choice not in (None, "none") and not self.tools:
            raise ValueError("tool_choice other than 'none' needs tools")
        if isinstance(self.tool_choice, dict):
            name = (self.tool_choice.get("function") or {}).get("name")
            names = {(t.get("function") or {}).get("name") for t in self.tools or []}
            if name not in names:
                raise ValueError(f"tool_choice names {name!r}, which is not in tools")
        return self


class CompletionParams(_Params):
    """The typed optional fields of ``complete``/``stream_generation``/``process_batch``."""

    max_tokens: int | None = Field(None, ge=0)
    logprobs: int | None = Field(None, ge=-1)
    echo: bool | None = None
    suffix: str | None = None
    prompt_embeds: str | list[str] | None = None


class EmbeddingParams(BaseModel):
    """The typed optional fields of ``embed``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    encoding_format: Literal["float", "base64", "bytes", "bytes_only"] | None = None
    dimensions: int | None = Field(None, ge=1)
    embed_dtype: str | None = None
    endianness: Literal["native", "big", "little"] | None = None
    use_activation: bool | None = None
    truncate_prompt_tokens: int | None = Field(None, ge=-1)
    truncation_side: Literal["left", "right"] | None = None
    add_special_tokens: bool | None = None
    priority: int | None = None
    request_id: str | None = None
    user: str | None = None
    cache_salt: str | None = None


def merge_deep(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``extra``; nested dicts merge instead of being replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_deep(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _validated(cls: type[BaseModel], params: dict[str, Any]) -> dict[str, Any]:
    try:
        return cls.model_validate(params).model_dump(exclude_none=True)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "params"
            if err["type"] == "extra_forbidden":
                problems.append(
                    f"unknown parameter {where!r} (vLLM would silently ignore it; "
                    "pass server-specific fields in extra_body={...})"
                )
            else:
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(f"{where}: {msg}" if err["loc"] else msg)
        raise InvalidRequestError("; ".join(problems)) from None


def _prepare(
    cls: type[BaseModel], params: Mapping[str, Any], *, stream: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validated fields and the ``extra_body`` of ``params``."""
    fields = {k: v for k, v in params.items() if v is not None}
    extra_body = dict(fields.pop("extra_body", None) or {})
    for key, why in _REJECTED.items():
        if key in fields:
            raise InvalidRequestError(why)
    guided = {_GUIDED_FIELDS[k]: fields.pop(k) for k in list(fields) if k in _GUIDED_FIELDS}
    if guided:
        fields["structured_outputs"] = {**(fields.get("structured_outputs") or {}), **guided}
    if fields.get("stream_options") is not None and not stream:
        raise InvalidRequestError("stream_options is only valid when streaming")
    if stream and fields.get("prompt_logprobs") is not None:
        raise InvalidRequestError("prompt_logprobs cannot be used when streaming")
    payload = _validated(cls, fields)
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True, **payload.get("stream_options", {})}
    return payload, extra_body


def _finish(
    payload: dict[str, Any], model: str | None, extra_body: Mapping[str, Any]
) -> dict[str, Any]:
    if model:
        payload["model"] = model
    return merge_deep(payload, extra_body) if extra_body else payload


def _messages(messages: Any) -> list[Any]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if not isinstance(messages, Sequence) or not messages:
        raise InvalidRequestError("messages must be a non-empty list of {'role', 'content'} dicts")
    out: list[Any] = []
    for i, message in enumerate(messages):
        if isinstance(message, BaseModel):
            message = message.model_dump(exclude_none=True)
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise InvalidRequestError(f"messages[{i}] must be a dict with a 'role'")
        out.append(message)
    return out


def chat_payload(
    messages: Any, model: str | None, params: Mapping[str, Any], *, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/chat/completions`` (``messages`` may be a plain string)."""
    payload, extra = _prepare(ChatParams, params, stream=stream)
    payload = {"messages": _messages(messages), **payload}
    return _finish(payload, model, extra)


def check_prompt(prompt: Any) -> Any:
    """A valid ``/v1/completions`` prompt: str, list[str], list[int] or list[list[int]]."""
    if isinstance(prompt, str):
        return prompt
    if not isinstance(prompt, Sequence) or not prompt:
        raise InvalidRequestError("prompt must be a string or a non-empty list")
    items = list(prompt)
    if all(isinstance(p, int) and not isinstance(p, bool) for p in items):
        return items
    if not all(isinstance(p, str) or (isinstance(p, list) and p) for p in items):
        raise InvalidRequestError("prompt list must hold strings or token-id lists")
    if len(items) > MAX_COMPLETION_PROMPTS:
        raise InvalidRequestError(
            f"at most {MAX_COMPLETION_PROMPTS} prompts per request (got {len(items)}); "
            "use process_batch()"
        )
    return items


def completion_payload(
    prompt: Any, model: str | None, params: Mapping[str, Any], *, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/completions``."""
    payload, extra = _prepare(CompletionParams, params, stream=stream)
    payload = {"prompt": check_prompt(prompt), **payload}
    return _finish(payload, model, extra)


def embedding_payload(
    input: Any, model: str | None, params: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/embeddings``."""
    if isinstance(input, str):
        if not input:
            raise InvalidRequestError("input must not be empty")
    elif not isinstance(input, Sequence) or not input:
        raise InvalidRequestError("input must be a string or a non-empty list")
    else:
        input = list(input)
    payload, extra = _prepare(EmbeddingParams, params, stream=False)
    return _finish({"input": input, **payload}, model, extra)

"""Request parameters: typed fields, local validation, and the JSON payload of each route.

Everything that can be checked without the server is checked here, before any network call,
and raises :class:`~vllm_accel.InvalidRequestError`. Unknown keys are refused (they would be
silently dropped by vLLM); send server-specific extras through ``extra_body={...}``, which is
deep-merged into the payload last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

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


class _Params(TypedDict, total=False):
    """Fields shared by chat and completions (OpenAI plus vLLM sampling extras)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    temperature: Annotated[float, Field(ge=0.0, le=MAX_TEMPERATURE)]
    top_p: Annotated[float, Field(gt=0.0, le=1.0)]
    top_k: Annotated[int, Field(ge=-1)]
    min_p: Annotated[float, Field(ge=0.0, le=1.0)]
    n: Annotated[int, Field(ge=1)]
    stop: str | list[str]
    stop_token_ids: list[int]
    seed: int
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0)]
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0)]
    repetition_penalty: Annotated[float, Field(gt=0.0)]
    length_penalty: float
    use_beam_search: bool
    logit_bias: dict[str, float]
    prompt_logprobs: Annotated[int, Field(ge=-1)]
    logprob_token_ids: Annotated[list[int], Field(max_length=128)]
    ignore_eos: bool
    min_tokens: Annotated[int, Field(ge=0)]
    include_stop_str_in_output: bool
    skip_special_tokens: bool
    spaces_between_special_tokens: bool
    truncate_prompt_tokens: Annotated[int, Field(ge=-1)]
    truncation_side: Literal["left", "right"]
    allowed_token_ids: list[int]
    bad_words: list[str]
    structured_outputs: dict[str, Any]
    response_format: dict[str, Any]
    priority: int
    request_id: str
    session_id: str
    user: str
    stream_options: dict[str, Any]
    add_special_tokens: bool
    return_token_ids: bool
    return_tokens_as_token_ids: bool
    cache_salt: Annotated[str, Field(max_length=128)]
    vllm_xargs: dict[str, Any]
    repetition_detection: dict[str, Any]
    thinking_token_budget: Annotated[int, Field(ge=-1)]
    stream_interval: Annotated[int, Field(ge=1)]
    kv_transfer_params: dict[str, Any]


class ChatParams(_Params, total=False):
    """The typed optional fields of ``chat``/``stream_chat`` (checked before sending).

    Example:
        >>> client.chat(messages, temperature=0.2, top_k=20, max_tokens=64)  # doctest: +SKIP
    """

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    max_tokens: Annotated[int, Field(ge=1)]
    max_completion_tokens: Annotated[int, Field(ge=1)]
    logprobs: bool
    top_logprobs: Annotated[int, Field(ge=-1)]
    tools: Annotated[list[dict[str, Any]], Field(min_length=1)]
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any]
    parallel_tool_calls: bool
    chat_template: str
    chat_template_kwargs: dict[str, Any]
    add_generation_prompt: bool
    continue_final_message: bool
    documents: list[dict[str, str]]
    echo: bool
    reasoning_effort: str
    include_reasoning: bool
    mm_processor_kwargs: dict[str, Any]
    media_io_kwargs: dict[str, Any]


class CompletionParams(_Params, total=False):
    """The typed optional fields of ``complete``/``stream_generation``/``process_batch``."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    max_tokens: Annotated[int, Field(ge=0)]
    logprobs: Annotated[int, Field(ge=-1)]
    echo: bool
    suffix: str
    prompt_embeds: str | list[str]


class EmbeddingParams(TypedDict, total=False):
    """The typed optional fields of ``embed``."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    encoding_format: Literal["float", "base64", "bytes", "bytes_only"]
    dimensions: Annotated[int, Field(ge=1)]
    embed_dtype: str
    endianness: Literal["native", "big", "little"]
    use_activation: bool
    truncate_prompt_tokens: Annotated[int, Field(ge=-1)]
    truncation_side: Literal["left", "right"]
    add_special_tokens: bool
    priority: int
    request_id: str
    user: str
    cache_salt: str
    # chat-style ``messages`` input (vLLM renders them with the model's chat template)
    add_generation_prompt: bool
    continue_final_message: bool
    chat_template: str
    chat_template_kwargs: dict[str, Any]


def _check_shared(p: dict[str, Any]) -> None:
    stop = p.get("stop")
    stops = [stop] if isinstance(stop, str) else (stop or [])
    if len(stops) > MAX_STOP_STRINGS:
        raise ValueError(
            f"stop accepts at most {MAX_STOP_STRINGS} strings (got {len(stops)}); "
            "use stop_token_ids for more"
        )
    so = p.get("structured_outputs")
    if so is not None:
        found = [k for k in _CONSTRAINTS if so.get(k) is not None]
        if len(found) != 1:
            raise ValueError(
                f"structured_outputs needs exactly one of {', '.join(_CONSTRAINTS)} "
                f"(got {found or 'none'})"
            )


def _check_chat(p: dict[str, Any]) -> None:
    _check_shared(p)
    if p.get("top_logprobs") and not p.get("logprobs"):
        raise ValueError("top_logprobs needs logprobs=True")
    if p.get("add_generation_prompt") and p.get("continue_final_message"):
        raise ValueError("add_generation_prompt and continue_final_message exclude each other")
    choice, tools = p.get("tool_choice"), p.get("tools")
    if choice not in (None, "none") and not tools:
        raise ValueError("tool_choice other than 'none' needs tools")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in {(t.get("function") or {}).get("name") for t in tools or []}:
            raise ValueError(f"tool_choice names {name!r}, which is not in tools")


@cache
def _adapter(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _no_check(p: dict[str, Any]) -> None:
    """Kinds with no cross-field rule (the pooling routes')."""


_CHECKS: dict[type, Callable[[dict[str, Any]], None]] = {
    ChatParams: _check_chat,
    CompletionParams: _check_shared,
}


def merge_deep(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``extra``; nested dicts merge instead of being replaced."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_deep(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _validated(kind: type, params: dict[str, Any]) -> dict[str, Any]:
    try:
        fields: dict[str, Any] = _adapter(kind).validate_python(params)
        _CHECKS.get(kind, _no_check)(fields)
        return fields
    except ValueError as exc:
        if not isinstance(exc, ValidationError):
            raise InvalidRequestError(str(exc)) from None
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
    kind: type, params: Mapping[str, Any], *, stream: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validated fields and the ``extra_body`` of ``params``."""
    fields = {k: v for k, v in params.items() if v is not None}
    extra_body = fields.pop("extra_body", None) or {}
    if not isinstance(extra_body, Mapping):
        raise InvalidRequestError("extra_body must be a dict")
    extra_body = dict(extra_body)
    for key, why in _REJECTED.items():
        if key in fields:
            raise InvalidRequestError(why)
    guided = {_GUIDED_FIELDS[k]: fields.pop(k) for k in list(fields) if k in _GUIDED_FIELDS}
    if guided:
        base = fields.get("structured_outputs") or {}
        if not isinstance(base, Mapping):
            raise InvalidRequestError("structured_outputs must be a dict")
        fields["structured_outputs"] = {**base, **guided}
    if fields.get("stream_options") is not None and not stream:
        raise InvalidRequestError("stream_options is only valid when streaming")
    if stream and fields.get("prompt_logprobs") is not None:
        raise InvalidRequestError("prompt_logprobs cannot be used when streaming")
    if isinstance(fields.get("logit_bias"), Mapping):
        fields["logit_bias"] = {str(k): v for k, v in fields["logit_bias"].items()}
    payload = _validated(kind, fields)
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


def _embedding_messages(messages: Any) -> list[Any]:
    """One conversation, or a batch of them (``[[...], [...]]``): one vector each."""
    if isinstance(messages, Sequence) and messages and all(
            isinstance(m, Sequence) and not isinstance(m, str | Mapping) for m in messages):
        return [_messages(m) for m in messages]
    return _messages(messages)


def embedding_payload(
    input: Any, model: str | None, params: Mapping[str, Any], messages: Any = None
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/embeddings`` (``input``, or chat-style ``messages``)."""
    if (input is None) == (messages is None):
        raise InvalidRequestError("pass exactly one of input or messages")
    if messages is not None:
        body: dict[str, Any] = {"messages": _embedding_messages(messages)}
    elif isinstance(input, str):
        if not input:
            raise InvalidRequestError("input must not be empty")
        body = {"input": input}
    elif not isinstance(input, Sequence) or not input:
        raise InvalidRequestError("input must be a string or a non-empty list")
    else:
        body = {"input": list(input)}
    payload, extra = _prepare(EmbeddingParams, params, stream=False)
    return _finish({**body, **payload}, model, extra)

"""Request parameters and payloads of the pooling routes: rerank, score, classify, pooling.

Pure, like :mod:`vllm_accel._params` (whose validation and ``extra_body`` merging this reuses):
every check that needs no server raises :class:`~vllm_accel.InvalidRequestError` before
anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from ._errors import InvalidRequestError
from ._params import _finish, _messages, _prepare

__all__ = [
    "RERANK_ROUTES",
    "ClassifyParams",
    "PoolingParams",
    "RerankParams",
    "ScoreParams",
    "classify_payload",
    "pooling_payload",
    "rerank_payload",
    "score_payload",
]

RERANK_ROUTES = ("/rerank", "/v1/rerank", "/v2/rerank")
"""vLLM serves one rerank handler (Jina / Cohere shape) on all three routes."""


class _PoolingBase(TypedDict, total=False):
    """Fields every pooling request takes (``PoolingBasicRequestMixin`` in vLLM)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    truncate_prompt_tokens: Annotated[int, Field(ge=-1)]
    truncation_side: Literal["left", "right"]
    priority: int
    request_id: str
    user: str
    cache_salt: str
    mm_processor_kwargs: dict[str, Any]


class ScoreParams(_PoolingBase, total=False):
    """The typed optional fields of ``score``."""

    use_activation: bool
    max_tokens_per_query: Annotated[int, Field(ge=0)]
    max_tokens_per_doc: Annotated[int, Field(ge=0)]
    instruction: str
    chat_template_kwargs: dict[str, Any]


class RerankParams(ScoreParams, total=False):
    """The typed optional fields of ``rerank`` (``top_n`` is a named argument)."""


class ClassifyParams(_PoolingBase, total=False):
    """The typed optional fields of ``classify``."""

    use_activation: bool
    add_special_tokens: bool
    add_generation_prompt: bool
    continue_final_message: bool
    chat_template: str
    chat_template_kwargs: dict[str, Any]


class PoolingParams(_PoolingBase, total=False):
    """The typed optional fields of ``pooling``."""

    task: Literal["embed", "classify", "token_embed", "token_classify", "score", "plugin"]
    encoding_format: Literal["float", "base64"]
    embed_dtype: str
    endianness: Literal["native", "big", "little"]
    dimensions: Annotated[int, Field(ge=1)]
    use_activation: bool
    add_special_tokens: bool


def _text(value: Any, what: str) -> Any:
    """A scoring input: a non-empty string, or a multimodal ``{"content": [...]}`` dict."""
    if isinstance(value, str):
        if not value.strip():
            raise InvalidRequestError(f"{what} must not be empty")
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), list):
        return dict(value)
    if isinstance(value, Mapping) and isinstance(value.get("text"), str):
        return _text(value["text"], what)  # Cohere / Jina {"text": ...} documents
    raise InvalidRequestError(
        f"{what} must be a string (or a {{'text': str}} / {{'content': [...]}} dict), "
        f"got {type(value).__name__}")


def _texts(values: Any, what: str) -> list[Any]:
    if isinstance(values, str | Mapping):
        return [_text(values, what)]
    if not isinstance(values, Sequence) or not values:
        raise InvalidRequestError(f"{what} must be a non-empty list of strings")
    return [_text(v, f"{what}[{i}]") for i, v in enumerate(values)]


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"{name} must be an int >= 1 (got {value!r})")
    return value


def rerank_payload(query: Any, documents: Any, model: str | None, top_n: int | None,
                   params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``POST /rerank``: documents checked, ``top_n`` >= 1 when given."""
    if isinstance(documents, str):
        raise InvalidRequestError("documents must be a list of strings, not one string")
    body: dict[str, Any] = {"query": _text(query, "query"),
                            "documents": _texts(documents, "documents")}
    if top_n is not None:
        body["top_n"] = _positive(top_n, "top_n")
    payload, extra = _prepare(RerankParams, params, stream=False)
    return _finish({**body, **payload}, model, extra)


def score_payload(text_1: Any, text_2: Any, model: str | None,
                  params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``POST /score``: 1 x N or N x N pairs of non-empty texts."""
    first, second = _texts(text_1, "text_1"), _texts(text_2, "text_2")
    if len(first) > 1 and len(first) != len(second):
        raise InvalidRequestError(
            f"text_1 has {len(first)} texts and text_2 {len(second)}: pass one text_1 "
            "(scored against every text_2) or as many as text_2 (scored pairwise)")
    payload, extra = _prepare(ScoreParams, params, stream=False)
    body = {"text_1": first if len(first) > 1 else first[0],
            "text_2": second if len(second) > 1 or not isinstance(text_2, str) else second[0]}
    return _finish({**body, **payload}, model, extra)


def _chat_or_input(input: Any, messages: Any) -> dict[str, Any]:
    """``{"input": ...}`` (checked like a completion prompt) or ``{"messages": [...]}``."""
    if (input is None) == (messages is None):
        raise InvalidRequestError("pass exactly one of input or messages")
    if messages is not None:
        return {"messages": _messages(messages)}
    if isinstance(input, str):
        if not input:
            raise InvalidRequestError("input must not be empty")
        return {"input": input}
    if not isinstance(input, Sequence) or not input:
        raise InvalidRequestError("input must be a string or a non-empty list")
    items = list(input)
    for i, item in enumerate(items):
        if isinstance(item, str) and not item:
            raise InvalidRequestError(f"input[{i}] must not be empty")
    return {"input": items}


def classify_payload(input: Any, messages: Any, model: str | None,
                     params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``POST /classify``."""
    payload, extra = _prepare(ClassifyParams, params, stream=False)
    return _finish({**_chat_or_input(input, messages), **payload}, model, extra)


def pooling_payload(input: Any, messages: Any, model: str | None,
                    params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``POST /pooling``."""
    payload, extra = _prepare(PoolingParams, params, stream=False)
    return _finish({**_chat_or_input(input, messages), **payload}, model, extra)

"""The OpenAI Responses API (``/v1/responses``): typed answers, stream events and their folding.

vLLM answers ``POST /v1/responses`` with a ``Response`` object, and with ``stream: true`` with
SSE events that each name their ``type`` (``event: response.output_text.delta`` and the same
``type`` in the JSON). The stream has no ``data: [DONE]``: a terminal event
(``response.completed``, ``response.incomplete``, ``response.failed``) ends it, and a stream
that stops before one was cut (:class:`~vllm_accel.IncompleteStreamError`). Event types this
module does not know (vLLM adds some) parse as the generic :class:`ResponseEvent`. The
streams themselves are in ``_responses_stream``.

Example:
    >>> client.create_response("Say hi.", max_output_tokens=8).output_text  # doctest: +SKIP
    'Hello! How can I help?'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Literal, Self
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator
from typing_extensions import TypedDict

from ._config import MAX_STOP_STRINGS, MAX_TEMPERATURE
from ._errors import InvalidRequestError
from ._models import Usage, WireModel
from ._params import _finish, _prepare

__all__ = [
    "Response",
    "ResponseContent",
    "ResponseContentPartEvent",
    "ResponseErrorEvent",
    "ResponseEvent",
    "ResponseLifecycleEvent",
    "ResponseOutputItem",
    "ResponseOutputItemEvent",
    "ResponseParams",
    "ResponseTextDeltaEvent",
    "ResponseTextDoneEvent",
    "ResponseUsage",
    "TERMINAL",
    "parse_event",
    "response_path",
    "response_payload",
]

TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
"""Event types that end a Responses stream (vLLM sends nothing after them)."""


class ResponseUsage(Usage):
    """Token counts of a response (``input_tokens``/``output_tokens``).

    It is also a :class:`Usage` (``prompt_tokens``/``completion_tokens`` mirror the Responses
    names), so client statistics count responses like chat completions.
    """

    input_tokens: int = 0
    output_tokens: int = 0

    @model_validator(mode="after")
    def _mirror(self) -> Self:
        self.prompt_tokens = self.input_tokens
        self.completion_tokens = self.output_tokens
        return self


class ResponseContent(WireModel):
    """One content part of an output item (``output_text``, ``reasoning_text``, ...)."""

    type: str = "output_text"
    text: str | None = None


class ResponseOutputItem(WireModel):
    """One item of ``Response.output``: a ``message``, ``reasoning``, ``function_call``, ...

    Function calls keep their ``name``, ``arguments`` (JSON string) and ``call_id`` as fields
    of the item (read them as attributes).
    """

    type: str = "message"
    id: str | None = None
    role: str | None = None
    status: str | None = None
    content: list[ResponseContent] | None = None


class Response(WireModel):
    """The answer of ``POST /v1/responses`` (and of ``GET``/``cancel``)."""

    id: str = ""
    object: str = "response"
    created_at: int = 0
    model: str = ""
    status: str | None = None
    """``completed``, ``incomplete``, ``in_progress``, ``queued``, ``cancelled``, ``failed``."""
    output: list[ResponseOutputItem] = Field(default_factory=list)
    usage: ResponseUsage | None = None
    incomplete_details: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    background: bool | None = None
    previous_response_id: str | None = None

    @property
    def output_text(self) -> str:
        """The text of every ``output_text`` part of the message items, concatenated."""
        return "".join(
            part.text or "" for item in self.output if item.type == "message"
            for part in item.content or () if part.type == "output_text")


# -- request ---------------------------------------------------------------------------------


class ResponseParams(TypedDict, total=False):
    """The typed optional fields of ``create_response``/``stream_response`` (vLLM 0.32)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    instructions: str
    max_output_tokens: Annotated[int, Field(ge=1)]
    temperature: Annotated[float, Field(ge=0.0, le=MAX_TEMPERATURE)]
    top_p: Annotated[float, Field(gt=0.0, le=1.0)]
    top_k: Annotated[int, Field(ge=-1)]
    min_p: Annotated[float, Field(ge=0.0, le=1.0)]
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0)]
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0)]
    repetition_penalty: Annotated[float, Field(gt=0.0)]
    seed: int
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP_STRINGS)]
    stop_token_ids: list[int]
    ignore_eos: bool
    logit_bias: dict[str, float]
    top_logprobs: Annotated[int, Field(ge=0)]
    store: bool
    background: bool
    previous_response_id: Annotated[str, Field(min_length=1)]
    metadata: dict[str, str]
    include: list[str]
    tools: list[dict[str, Any]]
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any]
    parallel_tool_calls: bool
    max_tool_calls: Annotated[int, Field(ge=1)]
    reasoning: dict[str, Any]
    include_reasoning: bool
    text: dict[str, Any]
    structured_outputs: dict[str, Any]
    truncation: Literal["auto", "disabled"]
    service_tier: Literal["auto", "default", "flex", "scale", "priority"]
    prompt: dict[str, Any]
    prompt_cache_key: str
    skip_special_tokens: bool
    include_stop_str_in_output: bool
    chat_template_kwargs: dict[str, Any]
    enable_response_messages: bool
    mm_processor_kwargs: dict[str, Any]
    media_io_kwargs: dict[str, Any]
    vllm_xargs: dict[str, Any]
    priority: int
    request_id: str
    session_id: str
    user: str
    cache_salt: Annotated[str, Field(min_length=1, max_length=1024)]


def _check_response(p: dict[str, Any], stream: bool) -> None:
    if p.get("background") and p.get("store") is False:
        raise InvalidRequestError("background=True needs store (the default); do not pass "
                                  "store=False")
    if p.get("tool_choice") not in (None, "none") and not p.get("tools"):
        raise InvalidRequestError("tool_choice other than 'none' needs tools")
    if stream and p.get("background"):
        raise InvalidRequestError("stream_response cannot run in the background; use "
                                  "create_response(background=True) and get_response()")


def _check_input(input: Any) -> Any:
    if isinstance(input, str):
        if not input:
            raise InvalidRequestError("input must not be empty")
        return input
    if not isinstance(input, Sequence) or not input:
        raise InvalidRequestError("input must be a string or a non-empty list of input items")
    items = [i.model_dump(exclude_none=True) if isinstance(i, BaseModel) else i for i in input]
    for n, item in enumerate(items):
        if not isinstance(item, Mapping) or not (
                isinstance(item.get("role"), str) or isinstance(item.get("type"), str)):
            raise InvalidRequestError(
                f"input[{n}] must be a dict with a 'role' (a message) or a 'type' (an item)")
    return items


def response_payload(
    input: Any, model: str | None, params: Mapping[str, Any], *, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/responses`` (``input``: a string or a list of items)."""
    checked = _check_input(input)
    payload, extra = _prepare(ResponseParams, params, stream=False)
    _check_response(payload, stream)
    if stream:
        payload["stream"] = True
    return _finish({"input": checked, **payload}, model, extra)


def response_path(response_id: str, action: str = "") -> str:
    """``/v1/responses/{id}`` (``action``: ``"/cancel"``), the id checked and quoted."""
    if not isinstance(response_id, str) or not response_id.strip():
        raise InvalidRequestError("response_id must be a non-empty string")
    return f"/v1/responses/{quote(response_id, safe='')}{action}"


# -- stream events --------------------------------------------------------------------------


class ResponseEvent(WireModel):
    """A stream event; the type of every event kind this module does not model itself."""

    type: str = ""
    sequence_number: int | None = None


class ResponseLifecycleEvent(ResponseEvent):
    """A snapshot of the whole response.

    Types ``response.created`` / ``in_progress`` / ``queued`` / ``completed`` / ``incomplete``
    / ``failed``.
    """

    response: Response = Field(default_factory=Response)


class ResponseOutputItemEvent(ResponseEvent):
    """``response.output_item.added`` / ``.done``."""

    output_index: int = 0
    item: ResponseOutputItem = Field(default_factory=ResponseOutputItem)


class ResponseContentPartEvent(ResponseEvent):
    """``response.content_part.added`` / ``.done``."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    part: ResponseContent = Field(default_factory=ResponseContent)


class ResponseTextDeltaEvent(ResponseEvent):
    """A text fragment: ``response.output_text.delta``.

    Also the reasoning and tool-argument deltas (``response.reasoning_text.delta``,
    ``response.function_call_arguments.delta``).
    """

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class ResponseTextDoneEvent(ResponseEvent):
    """``response.output_text.done``: the part's whole text."""

    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    text: str = ""


class ResponseErrorEvent(ResponseEvent):
    """``error``: the server failed after the 200 status (the stream raises ``StreamError``)."""

    code: str | int | None = None
    message: str | None = None
    param: str | None = None


_LIFECYCLE = ("created", "in_progress", "queued", "completed", "incomplete", "failed")
_KINDS: dict[str, str] = {
    **{f"response.{name}": "lifecycle" for name in _LIFECYCLE},
    "response.output_item.added": "item",
    "response.output_item.done": "item",
    "response.content_part.added": "part",
    "response.content_part.done": "part",
    "response.output_text.delta": "delta",
    "response.reasoning_text.delta": "delta",
    "response.function_call_arguments.delta": "delta",
    "response.output_text.done": "text_done",
    "error": "error",
}


def _kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return _KINDS.get(kind, "other") if isinstance(kind, str) else "other"


AnyResponseEvent = Annotated[
    Annotated[ResponseLifecycleEvent, Tag("lifecycle")]
    | Annotated[ResponseOutputItemEvent, Tag("item")]
    | Annotated[ResponseContentPartEvent, Tag("part")]
    | Annotated[ResponseTextDeltaEvent, Tag("delta")]
    | Annotated[ResponseTextDoneEvent, Tag("text_done")]
    | Annotated[ResponseErrorEvent, Tag("error")]
    | Annotated[ResponseEvent, Tag("other")],
    Discriminator(_kind),
]
"""Every stream event: a union discriminated on ``type``; unknown types are ``ResponseEvent``."""


@cache
def _events() -> TypeAdapter[Any]:
    return TypeAdapter(AnyResponseEvent)  # built on the first stream (import cost)


def parse_event(data: str) -> ResponseEvent:
    """The typed event of one SSE ``data:`` payload.

    Raises:
        ValueError: the payload is not JSON or not an event object.
    """
    event: ResponseEvent = _events().validate_json(data)
    return event

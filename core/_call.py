"""One logical request (``Call``) and its stream state.

What an ended request tells about its endpoint is ``vllm_accel._health``.

Pure, shared by both client twins (``vllm_accel._base`` builds calls, the send loops send them).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from ._errors import VLLMError
from ._limits import Limits
from ._pool import EndpointState
from ._secret import Secret

if TYPE_CHECKING:  # the models and the streams are imported on first use (import cost)
    from ._models import ChatCompletionChunk, CompletionChunk
    from ._stream import StreamState

__all__ = ["Call", "chat_state", "completion_state", "raw_state"]


@dataclass(slots=True)
class Call:
    """One logical request: every attempt of it shares this id, payload and record."""

    method: str
    url: str
    route: str
    """The route (path) it goes to, e.g. ``/v1/chat/completions``: its statistics group."""
    json: Any = None
    files: Any = None
    """Multipart uploads (``httpx`` ``files=``); ``data`` is then the form fields."""
    data: Any = None
    model: str | None = None
    stream: bool = False
    retryable: bool = True
    api_key: Secret | None = None
    send_api_key: bool = False
    """Send the client's key to an absolute URL of another origin (an explicit opt-in)."""
    timeout: httpx.Timeout | None = None
    max_retries: int | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.perf_counter)
    retries: int = 0
    state: StreamState[Any, Any] | None = None
    pool_path: str | None = None
    """The path to send to on a pool's endpoints (None: ``url`` is absolute, not routed)."""
    lease: EndpointState | None = None
    """The pool endpoint holding this request until it is recorded."""
    last: EndpointState | None = None
    """The pool endpoint of the latest attempt."""
    causes: dict[str, VLLMError] = field(default_factory=dict)
    """Pool endpoint name -> the error of this request's failed attempt there."""
    limits: Limits = field(default_factory=Limits)
    """The overall deadline and the response size cap of this request."""


def chat_state(call: Call) -> StreamState[ChatCompletionChunk, Any]:
    """A chat stream's state (chunks folded into a ``ChatCompletion``), kept on ``call``."""
    from ._accumulate import ChatAccumulator
    from ._models import ChatCompletionChunk
    from ._stream import StreamState

    call.state = StreamState(ChatCompletionChunk.model_validate_json, ChatAccumulator(),
                             request_id=call.request_id)
    return call.state


def completion_state(call: Call) -> StreamState[CompletionChunk, Any]:
    """A completion stream's state (chunks folded into a ``Completion``), kept on ``call``."""
    from ._accumulate import CompletionAccumulator
    from ._models import CompletionChunk
    from ._stream import StreamState

    call.state = StreamState(CompletionChunk.model_validate_json, CompletionAccumulator(),
                             request_id=call.request_id)
    return call.state


def raw_state(call: Call) -> StreamState[dict[str, Any], None]:
    """A raw stream's state (JSON events, usage kept), kept on ``call``."""
    import json

    from ._accumulate import RawAccumulator
    from ._stream import StreamState

    call.state = StreamState(json.loads, RawAccumulator(), request_id=call.request_id)
    return call.state

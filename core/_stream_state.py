"""What both stream twins share: protocol rules, parsing, accumulation, timing (no I/O).

Kept apart from ``_stream`` (module size); ``vllm_accel._stream`` re-exports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from httpx_sse import ServerSentEvent

from ._errors import StreamError
from ._sse import SSEProtocol

if TYPE_CHECKING:
    from ._models import Usage

__all__ = ["Accumulator", "Finish", "StreamState"]

C = TypeVar("C")
R = TypeVar("R", covariant=True)


class Accumulator(Protocol[R]):
    """What a stream folds its chunks into."""

    usage: Usage | None
    model: str
    chunks: int

    def add(self, chunk: Any) -> None: ...

    def result(self) -> R: ...


class StreamState(Generic[C, R]):
    """What both stream twins share: protocol rules, parsing, accumulation, timing (no I/O)."""

    def __init__(
        self,
        parse: Callable[[str], C],
        accumulator: Accumulator[R],
        *,
        request_id: str | None,
        started: float | None = None,
    ) -> None:
        self.protocol = SSEProtocol(request_id=request_id)
        self.parse = parse
        self.accumulator = accumulator
        self.started = time.perf_counter() if started is None else started
        self.time_to_first_token: float | None = None

    def feed(self, event: ServerSentEvent) -> C | None:
        """The parsed chunk of one event, or None when the event carries no chunk."""
        data = self.protocol.data_of(event)
        if data is None:
            return None
        try:
            chunk = self.parse(data)
        except ValueError as exc:  # json.JSONDecodeError and pydantic's ValidationError
            raise StreamError(
                f"malformed stream event: {exc}", request_id=self.protocol.request_id
            ) from None
        if self.time_to_first_token is None:
            self.time_to_first_token = time.perf_counter() - self.started
        self.accumulator.add(chunk)
        return chunk


Finish = Callable[[StreamState[Any, Any], BaseException | None], None]

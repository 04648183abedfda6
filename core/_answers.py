"""Reading a 2xx answer: validated into its typed model, or as JSON, and recorded (no I/O).

A mixin of :class:`~vllm_accel._base.BaseClient`. The typed answer is validated straight from
the bytes (one ``model_validate_json``, no intermediate dict); pydantic and the models are
imported on the first parse (import cost).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import APIError
from ._translate import decode_body

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel, ValidationError

    from ._call import Call
    from ._client_half import ClientHalf
    from ._models import Usage
    from ._stream import Finish, StreamState

__all__ = ["Answers"]

M = TypeVar("M", bound="BaseModel")


@functools.cache
def _parse_names() -> tuple[type[ValidationError], type[Usage]]:
    """``ValidationError`` and ``Usage``, imported on the first parse (import cost)."""
    from pydantic import ValidationError

    from ._models import Usage
    return ValidationError, Usage


class Answers:
    """``_parse``, ``_body`` and ``_stream_finish``: every answer ends in one record."""

    def _parse(self: ClientHalf, call: Call, response: httpx.Response, cls: type[M]) -> M:
        """Validate a 2xx JSON body into ``cls`` and record the request."""
        validation_error, usage_cls = _parse_names()
        try:
            result = cls.model_validate_json(response.content)
        except validation_error as exc:
            error = APIError(
                f"unexpected response from {call.route}: {exc.error_count()} problem(s): "
                f"{exc.errors()[0]['msg']}",
                status_code=response.status_code, request_id=call.request_id,
                body=decode_body(response.content),
            )
            self._record(call, status=response.status_code, error=error)
            raise error from None
        usage = getattr(result, "usage", None)
        model = getattr(result, "model", None)
        self._record(call, status=response.status_code,
                     usage=usage if isinstance(usage, usage_cls) else None,
                     model=model if isinstance(model, str) and model else None)
        return result

    def _body(self: ClientHalf, call: Call, response: httpx.Response) -> Any:
        """A 2xx body as JSON or text (LoRA routes answer in plain text); records the request."""
        body, usage_cls = decode_body(response.content), _parse_names()[1]
        usage = body.get("usage") if isinstance(body, dict) else None
        self._record(call, status=response.status_code,
                     usage=usage_cls.model_validate(usage) if isinstance(usage, dict) else None)
        return body

    def _stream_finish(self: ClientHalf, call: Call) -> Finish:
        def finish(state: StreamState[Any, Any], error: BaseException | None) -> None:
            acc = state.accumulator
            cancelled = error is not None and not isinstance(error, Exception)
            self._record(
                call, status=200, usage=acc.usage, ttft=state.time_to_first_token,
                error=None if cancelled else error, model=acc.model or None, cancelled=cancelled,
            )
        return finish

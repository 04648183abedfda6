"""Where foreign errors become this package's (re-exported by ``vllm_accel._errors``).

HTTP statuses and bodies, vLLM's in-band stream errors, and ``httpx`` exceptions.
"""

from __future__ import annotations

import email.utils
import json
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContextLengthError,
    DeadlineExceededError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ServiceUnavailableError,
    StreamError,
    TLSError,
    UnprocessableEntityError,
    VLLMError,
)
from ._retry_after import parse_retry_after
from ._urls import redact_text

__all__ = [
    "DeadlinePassed",
    "TooLarge",
    "decode_body",
    "error_from_body",
    "error_from_httpx",
    "error_from_response",
    "server_now",
    "stream_error_from_event",
]


class DeadlinePassed(httpx.TimeoutException):
    """Raised inside a response's byte stream when the request's deadline passed."""


class TooLarge(httpx.TransportError):
    """Raised inside a response's byte stream when it passed ``max_response_bytes``."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}

_CONTEXT_PARAMS = frozenset({"input_tokens", "input_text"})
_CONTEXT_PHRASE = "maximum context length"


def _message_of(body: Any, status_code: int | None) -> tuple[str, Mapping[str, Any]]:
    """The readable message and the error object of any vLLM/FastAPI error body."""
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):  # {"error": {"message", "type", "param", "code"}}
            return str(err.get("message") or err.get("type") or "error"), err
        if isinstance(err, str):  # 401 {"error": "Unauthorized"}, 503 while scaling
            return err, {}
        if "detail" in body:  # FastAPI's own 404/405: {"detail": "Not Found"}
            return str(body["detail"]), {}
        if "message" in body:  # older {"object": "error", "message": ...}
            return str(body["message"]), body
    if isinstance(body, str) and body.strip():
        return body.strip()[:2000], {}
    return f"HTTP {status_code}" if status_code else "error", {}


def _status_class(status_code: int, message: str, err: Mapping[str, Any]) -> type[APIStatusError]:
    if status_code == 400 and (
        err.get("param") in _CONTEXT_PARAMS or _CONTEXT_PHRASE in message.lower()
    ):
        return ContextLengthError
    if status_code in _STATUS_ERRORS:
        return _STATUS_ERRORS[status_code]
    return InternalServerError if status_code >= 500 else APIStatusError


def error_from_body(
    status_code: int,
    body: Any,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """The typed error for an HTTP error status and its (already decoded) body."""
    message, err = _message_of(body, status_code)
    cls = _status_class(status_code, message, err)
    return cls(
        message, status_code=status_code, request_id=request_id, body=body,
        retry_after=retry_after,
    )


def decode_body(content: bytes) -> Any:
    """JSON if the bytes are JSON, else the text (vLLM's LoRA routes answer in plain text)."""
    text = content.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def error_from_response(response: httpx.Response, *, request_id: str | None = None,
                        now: float | None = None) -> APIError:
    """The typed error for a response with an error status; its body must already be read.

    An HTTP-date ``Retry-After`` is measured from the response's own ``Date`` (the clock of
    the server that wrote it); without one, from ``now`` (Unix time; ``time.time()`` if None).
    """
    body = decode_body(response.content)
    server = server_now(response.headers.get("date"))
    retry_after = parse_retry_after(response.headers.get("retry-after"),
                                    now=server if server is not None else now)
    return error_from_body(
        response.status_code, body, request_id=request_id, retry_after=retry_after
    )


def server_now(date: str | None) -> float | None:
    """The server's clock from its ``Date`` header (Unix time), None if absent or unreadable.

    A ``Retry-After`` HTTP date is read against the clock of the server that wrote it, so a
    server whose clock is ahead of ours does not make us wait (or give up) for the difference.
    """
    if not date:
        return None
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    return when.timestamp() if when.tzinfo is not None else None


def stream_error_from_event(payload: Mapping[str, Any], *, request_id: str | None) -> StreamError:
    """The typed error for an in-band ``{"error": {...}}`` SSE event."""
    message, err = _message_of(payload, None)
    code = err.get("code")
    error = StreamError(
        f"server error during streaming: {message}",
        status_code=code if isinstance(code, int) else None,
        request_id=request_id,
        body=dict(payload),
    )
    return error


# Most specific first is not needed: the lookup walks the exception's MRO.
_HTTPX_ERRORS: dict[type[Exception], tuple[type[VLLMError], bool]] = {
    DeadlinePassed: (DeadlineExceededError, False),
    TooLarge: (ResponseTooLargeError, False),
    httpx.TimeoutException: (APITimeoutError, True),
    httpx.ConnectError: (APIConnectionError, True),
    httpx.ReadError: (APIConnectionError, True),
    httpx.WriteError: (APIConnectionError, True),
    httpx.CloseError: (APIConnectionError, True),
    httpx.RemoteProtocolError: (APIConnectionError, True),
    httpx.ProxyError: (APIConnectionError, True),
    httpx.LocalProtocolError: (InvalidRequestError, False),
    httpx.UnsupportedProtocol: (InvalidRequestError, False),
    httpx.InvalidURL: (InvalidRequestError, False),
    httpx.DecodingError: (APIError, False),
    httpx.TooManyRedirects: (APIError, False),
    httpx.TransportError: (APIConnectionError, True),
    httpx.HTTPStatusError: (APIStatusError, False),
    httpx.HTTPError: (APIError, False),
    httpx.CookieConflict: (APIError, False),
    httpx.StreamError: (APIError, False),
}


def error_from_httpx(exc: Exception, *, request_id: str | None = None) -> VLLMError:
    """Translate any ``httpx`` exception into this package's tree (chained to ``exc``)."""
    for klass in type(exc).__mro__:
        if klass in _HTTPX_ERRORS:
            cls, retryable = _HTTPX_ERRORS[klass]
            break
    else:
        cls, retryable = APIError, False
    detail = str(exc) or type(exc).__name__
    if _is_tls(exc):
        cls, retryable = TLSError, False
    elif isinstance(exc, httpx.LocalProtocolError):  # its text may quote a header value
        detail = "the request could not be encoded (an illegal header name or value, not shown)"
    status = None
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
    error = cls(
        f"{type(exc).__name__}: {redact_text(detail)}", request_id=request_id,
        status_code=status, is_retryable=retryable,
    )
    error.__cause__ = exc
    return error


def _is_tls(exc: BaseException) -> bool:
    """Whether an ``ssl`` error is behind ``exc`` (httpcore wraps it in ``ConnectError``)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False

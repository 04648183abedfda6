"""The exception tree of ``vllm_accel`` (foreign errors are translated in ``_translate``).

::

    VLLMError                              every error this package raises
    ├── InvalidRequestError (ValueError)   bad input, rejected before any network call
    │   └── InvalidAPIKeyError             a key that cannot be a header value (never shown)
    ├── QuantizationError                  a managed server failed to relaunch (rolled back)
    │   └── QuantizationNotSupportedError  the server is not managed here; vLLM sets it at launch
    └── APIError                           something went wrong talking to the server
        ├── APIConnectionError             could not connect / connection dropped   (retryable)
        │   ├── APITimeoutError            connect, read, write or pool timeout     (retryable)
        │   │   └── DeadlineExceededError  the request's overall ``deadline`` passed
        │   └── TLSError                   the TLS handshake failed (certificate, protocol)
        ├── APIStatusError                 the server answered with a 4xx/5xx status
        │   ├── BadRequestError            400
        │   │   └── ContextLengthError     400: the prompt does not fit the model's context
        │   ├── AuthenticationError        401  (vLLM's body is ``{"error": "Unauthorized"}``)
        │   ├── PermissionDeniedError      403
        │   ├── NotFoundError              404  (unknown model or adapter, unknown route)
        │   ├── RequestTimeoutError        408  (retryable)
        │   ├── ConflictError              409  (retryable)
        │   ├── UnprocessableEntityError   422
        │   ├── RateLimitError             429  (retryable)
        │   └── InternalServerError        5xx  (retryable)
        │       └── ServiceUnavailableError 503 (retryable; vLLM's queue-full answer)
        ├── ResponseTooLargeError          a response beyond ``max_response_bytes``
        ├── StreamError                    an error sent inside a 200 SSE stream
        │   └── IncompleteStreamError      the stream ended without ``data: [DONE]``
        └── EndpointsFailedError           a pool operation failed on some endpoints (``.causes``)
            └── AllEndpointsFailedError    no endpoint of the pool could serve the request

Every error has ``status_code``, ``request_id`` (the ``X-Request-Id`` sent), ``body`` (the
parsed response body, if any) and ``is_retryable``. Errors pickle, and never contain the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "AllEndpointsFailedError",
    "ContextLengthError",
    "DeadlineExceededError",
    "EndpointsFailedError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidAPIKeyError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuantizationError",
    "QuantizationNotSupportedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "ServiceUnavailableError",
    "StreamError",
    "TLSError",
    "UnprocessableEntityError",
    "VLLMError",
]


class VLLMError(Exception):
    """Base class of every error raised by ``vllm_accel``.

    Attributes:
        message: a readable explanation (the server's own message where it sent one).
        status_code: the HTTP status, or None when there was no response.
        request_id: the ``X-Request-Id`` of the request, if one was sent.
        body: the parsed response body (dict, str or None).
        retry_after: seconds from the server's ``Retry-After`` header, if any.
        is_retryable: whether sending the same request again may succeed.
    """

    is_retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        is_retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        if is_retryable is not None:
            self.is_retryable = is_retryable
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"(status {self.status_code})")
        if self.request_id:
            parts.append(f"[request {self.request_id}]")
        return " ".join(parts)

    def __reduce__(self) -> Any:
        kwargs = {
            "status_code": self.status_code,
            "request_id": self.request_id,
            "body": self.body,
            "retry_after": self.retry_after,
            "is_retryable": self.is_retryable,
        }
        return _rebuild, (type(self), self.message, kwargs)


def _rebuild(cls: type[VLLMError], message: str, kwargs: dict[str, Any]) -> VLLMError:
    return cls(message, **kwargs)


class InvalidRequestError(VLLMError, ValueError):
    """Bad input, rejected locally before any request is sent."""


class InvalidAPIKeyError(InvalidRequestError):
    """The API key cannot be sent as a header value; raised when it is set (never shows it)."""


class QuantizationError(VLLMError):
    """Relaunching a managed server with a new quantization failed; the old one was restored."""


class QuantizationNotSupportedError(QuantizationError):
    """vLLM fixes quantization at launch; only a server managed by this process can change it."""


class APIError(VLLMError):
    """Talking to the server failed."""


class APIConnectionError(APIError):
    """No usable connection: refused, reset, DNS failure, or the peer closed it early."""

    is_retryable = True


class APITimeoutError(APIConnectionError):
    """The connect, read, write or pool timeout expired."""


class DeadlineExceededError(APITimeoutError):
    """The request's overall ``deadline`` passed; not retried.

    The deadline covers every attempt and the whole body or stream: a body that trickles, a
    stream that never ends.
    """

    is_retryable = False


class TLSError(APIConnectionError):
    """The TLS handshake failed: the certificate did not verify, or no common protocol.

    Not retried (the same handshake fails the same way) and no verdict on the server's health:
    it is a disagreement between this client's trust settings and the server's certificate.
    """

    is_retryable = False


class APIStatusError(APIError):
    """The server answered with an error status (4xx or 5xx)."""


class BadRequestError(APIStatusError):
    """400: the server rejected the request (validation)."""


class ContextLengthError(BadRequestError):
    """400: the prompt is longer than the model's context window."""


class AuthenticationError(APIStatusError):
    """401: missing or wrong API key."""


class PermissionDeniedError(APIStatusError):
    """403: the route is disabled on this server."""


class NotFoundError(APIStatusError):
    """404: unknown model, adapter or route."""


class RequestTimeoutError(APIStatusError):
    """408: the server timed out waiting for the request."""

    is_retryable = True


class ConflictError(APIStatusError):
    """409: a conflicting request."""

    is_retryable = True


class UnprocessableEntityError(APIStatusError):
    """422: the body was understood but cannot be processed."""


class RateLimitError(APIStatusError):
    """429: too many requests."""

    is_retryable = True


class InternalServerError(APIStatusError):
    """5xx: the server failed."""

    is_retryable = True


class ServiceUnavailableError(InternalServerError):
    """503: the engine's queue is full or it is scaling; try again later."""


class ResponseTooLargeError(APIError):
    """The response is larger than the client's ``max_response_bytes``; reading it stopped.

    Not retried (the same request gets the same answer), and no verdict on the server's
    health (the limit is this client's).
    """


class StreamError(APIError):
    """The server reported an error inside a streaming (SSE) response that had started with 200."""


class IncompleteStreamError(StreamError):
    """The stream ended before ``data: [DONE]``: the connection was cut or the server died."""


class EndpointsFailedError(APIError):
    """An operation of an endpoint pool failed on some endpoints (e.g. a fan-out LoRA load).

    Attributes:
        causes: endpoint name -> the error it gave (never contains an API key).
    """

    def __init__(self, message: str, *, causes: Mapping[str, VLLMError] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.causes: dict[str, VLLMError] = dict(causes or {})

    def __str__(self) -> str:
        lines = [super().__str__()]
        lines += [f"  {name}: {type(err).__name__}: {err}" for name, err in self.causes.items()]
        return "\n".join(lines)

    def __reduce__(self) -> Any:
        kwargs = {"status_code": self.status_code, "request_id": self.request_id,
                  "body": self.body, "retry_after": self.retry_after,
                  "is_retryable": self.is_retryable, "causes": self.causes}
        return _rebuild, (type(self), self.message, kwargs)


class AllEndpointsFailedError(EndpointsFailedError):
    """No endpoint of the pool could serve the request: each failed, or its circuit is open.

    ``causes`` holds every endpoint's last error, so an operator sees why each one was out.
    """

"""LangChain-flavoured errors: each inherits from the core error *and* LangChain's own type.

``except vllm_accel.ContextLengthError`` and
``except langchain_core.exceptions.ContextOverflowError`` both catch a prompt that is too long;
the same holds for every pair below::

    core (vllm_accel)            LangChain (langchain_core.exceptions)  raised here
    ContextLengthError           ContextOverflowError                   VLLMContextOverflowError
    BadRequestError              ModelInvalidRequestError               VLLMBadRequestError
    UnprocessableEntityError     ModelInvalidRequestError               VLLMUnprocessableEntityError
    InvalidRequestError          ModelInvalidRequestError               VLLMInvalidRequestError
    AuthenticationError          ModelAuthenticationError               VLLMAuthenticationError
    PermissionDeniedError        ModelPermissionDeniedError             VLLMPermissionDeniedError
    NotFoundError                ModelNotFoundError                     VLLMNotFoundError
    RateLimitError               ModelRateLimitError                    VLLMRateLimitError
    RequestTimeoutError          ModelTimeoutError                      VLLMRequestTimeoutError
    ServiceUnavailableError      ModelAPIError                          VLLMServiceUnavailableError
    InternalServerError          ModelAPIError                          VLLMInternalServerError
    IncompleteStreamError        ModelAPIError                          VLLMIncompleteStreamError
    StreamError                  ModelAPIError                          VLLMStreamError
    AllEndpointsFailedError      ModelAPIError                          VLLMAllEndpointsFailedError
    EndpointsFailedError         ModelAPIError                          VLLMEndpointsFailedError
    APITimeoutError              ModelTimeoutError                      VLLMTimeoutError
    APIConnectionError           ModelConnectionError                   VLLMConnectionError
    ConflictError                ModelError                             VLLMConflictError
    APIStatusError (other)       ModelError                             VLLMStatusError
    APIError (other)             ModelAPIError                          VLLMAPIError

So ``except langchain_core.exceptions.ModelError`` catches every failed model call.

Translation happens in one place, `map_errors`, around every call into the core client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from langchain_core import exceptions as lc

import vllm_accel

__all__ = [
    "VLLMAPIError",
    "VLLMAllEndpointsFailedError",
    "VLLMAuthenticationError",
    "VLLMBadRequestError",
    "VLLMConflictError",
    "VLLMConnectionError",
    "VLLMContextOverflowError",
    "VLLMEndpointsFailedError",
    "VLLMIncompleteStreamError",
    "VLLMInternalServerError",
    "VLLMInvalidRequestError",
    "VLLMNotFoundError",
    "VLLMPermissionDeniedError",
    "VLLMRateLimitError",
    "VLLMRequestTimeoutError",
    "VLLMServiceUnavailableError",
    "VLLMStatusError",
    "VLLMStreamError",
    "VLLMTimeoutError",
    "VLLMUnprocessableEntityError",
    "map_errors",
    "translate_error",
]


class VLLMContextOverflowError(vllm_accel.ContextLengthError, lc.ContextOverflowError):
    """The prompt does not fit the served model's context window."""


class VLLMBadRequestError(vllm_accel.BadRequestError, lc.ModelInvalidRequestError):
    """The server rejected the request (400)."""


class VLLMUnprocessableEntityError(
    vllm_accel.UnprocessableEntityError, lc.ModelInvalidRequestError
):
    """The server could not process the request (422)."""


class VLLMInvalidRequestError(vllm_accel.InvalidRequestError, lc.ModelInvalidRequestError):
    """The request was rejected locally, before anything was sent."""


class VLLMAuthenticationError(vllm_accel.AuthenticationError, lc.ModelAuthenticationError):
    """Missing or wrong API key (401)."""


class VLLMPermissionDeniedError(vllm_accel.PermissionDeniedError, lc.ModelPermissionDeniedError):
    """The route is disabled on this server (403)."""


class VLLMNotFoundError(vllm_accel.NotFoundError, lc.ModelNotFoundError):
    """Unknown model or LoRA adapter, or unknown route (404)."""


class VLLMRateLimitError(vllm_accel.RateLimitError, lc.ModelRateLimitError):
    """Too many requests (429)."""


class VLLMRequestTimeoutError(vllm_accel.RequestTimeoutError, lc.ModelTimeoutError):
    """The server timed out waiting for the request (408)."""


class VLLMInternalServerError(vllm_accel.InternalServerError, lc.ModelAPIError):
    """The server failed (5xx)."""


class VLLMServiceUnavailableError(vllm_accel.ServiceUnavailableError, lc.ModelAPIError):
    """The engine's queue is full (503)."""


class VLLMStreamError(vllm_accel.StreamError, lc.ModelAPIError):
    """The server reported an error in the middle of a stream."""


class VLLMIncompleteStreamError(vllm_accel.IncompleteStreamError, lc.ModelAPIError):
    """The stream ended before it was complete (connection cut or server died)."""


class VLLMEndpointsFailedError(vllm_accel.EndpointsFailedError, lc.ModelAPIError):
    """A pool operation failed on some endpoints (``.causes`` names each one's error)."""


class VLLMAllEndpointsFailedError(vllm_accel.AllEndpointsFailedError, lc.ModelAPIError):
    """No endpoint of the pool could serve the request (``.causes`` names each one's error)."""


class VLLMTimeoutError(vllm_accel.APITimeoutError, lc.ModelTimeoutError):
    """A connect, read, write or pool timeout expired."""


class VLLMConnectionError(vllm_accel.APIConnectionError, lc.ModelConnectionError):
    """The server could not be reached."""


class VLLMDeadlineExceededError(vllm_accel.DeadlineExceededError, lc.ModelTimeoutError):
    """The request's overall deadline passed."""


class VLLMTLSError(vllm_accel.TLSError, lc.ModelConnectionError):
    """The TLS handshake failed (certificate or protocol)."""


class VLLMInvalidAPIKeyError(vllm_accel.InvalidAPIKeyError, lc.ModelInvalidRequestError):
    """The API key cannot be sent as a header value (it is never shown)."""


class VLLMResponseTooLargeError(vllm_accel.ResponseTooLargeError, lc.ModelAPIError):
    """The response passed the client's ``max_response_bytes``."""


class VLLMConflictError(vllm_accel.ConflictError, lc.ModelError):
    """A conflicting request (409)."""


class VLLMStatusError(vllm_accel.APIStatusError, lc.ModelError):
    """Another error status from the server."""


class VLLMAPIError(vllm_accel.APIError, lc.ModelAPIError):
    """Talking to the server failed in another way (e.g. an undecodable response)."""


# Most specific first: the first class the error is an instance of wins.
_MAPPING: tuple[tuple[type[vllm_accel.VLLMError], type[vllm_accel.VLLMError]], ...] = (
    (vllm_accel.ContextLengthError, VLLMContextOverflowError),
    (vllm_accel.BadRequestError, VLLMBadRequestError),
    (vllm_accel.UnprocessableEntityError, VLLMUnprocessableEntityError),
    (vllm_accel.InvalidAPIKeyError, VLLMInvalidAPIKeyError),
    (vllm_accel.InvalidRequestError, VLLMInvalidRequestError),
    (vllm_accel.AuthenticationError, VLLMAuthenticationError),
    (vllm_accel.PermissionDeniedError, VLLMPermissionDeniedError),
    (vllm_accel.NotFoundError, VLLMNotFoundError),
    (vllm_accel.RateLimitError, VLLMRateLimitError),
    (vllm_accel.RequestTimeoutError, VLLMRequestTimeoutError),
    (vllm_accel.ServiceUnavailableError, VLLMServiceUnavailableError),
    (vllm_accel.InternalServerError, VLLMInternalServerError),
    (vllm_accel.IncompleteStreamError, VLLMIncompleteStreamError),
    (vllm_accel.StreamError, VLLMStreamError),
    (vllm_accel.AllEndpointsFailedError, VLLMAllEndpointsFailedError),
    (vllm_accel.EndpointsFailedError, VLLMEndpointsFailedError),
    (vllm_accel.DeadlineExceededError, VLLMDeadlineExceededError),
    (vllm_accel.APITimeoutError, VLLMTimeoutError),
    (vllm_accel.TLSError, VLLMTLSError),
    (vllm_accel.APIConnectionError, VLLMConnectionError),
    (vllm_accel.ResponseTooLargeError, VLLMResponseTooLargeError),
    (vllm_accel.ConflictError, VLLMConflictError),
    (vllm_accel.APIStatusError, VLLMStatusError),
    (vllm_accel.APIError, VLLMAPIError),
)
_TRANSLATED = frozenset(cls for _, cls in _MAPPING)


def translate_error(exc: vllm_accel.VLLMError) -> vllm_accel.VLLMError:
    """The LangChain-flavoured twin of a core error (the error itself if it has none)."""
    if type(exc) in _TRANSLATED:
        return exc
    for core_cls, lc_cls in _MAPPING:
        if isinstance(exc, core_cls):
            extra = ({"causes": exc.causes}
                     if isinstance(exc, vllm_accel.EndpointsFailedError) else {})
            return lc_cls(
                exc.message,
                status_code=exc.status_code,
                request_id=exc.request_id,
                body=exc.body,
                retry_after=exc.retry_after,
                is_retryable=exc.is_retryable,
                **extra,
            )
    return exc


@contextmanager
def map_errors() -> Iterator[None]:
    """Re-raise core errors raised inside the block as their LangChain-flavoured twins."""
    try:
        yield
    except vllm_accel.VLLMError as exc:
        translated = translate_error(exc)
        if translated is exc:
            raise
        raise translated from exc

"""The error tree: status mapping, vLLM's bodies, httpx translation, pickling."""

from __future__ import annotations

import inspect
import pickle

import httpx
import pytest

import vllm_accel
from vllm_accel import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ContextLengthError,
    IncompleteStreamError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServiceUnavailableError,
    StreamError,
    UnprocessableEntityError,
    VLLMError,
)
from vllm_accel._translate import error_from_body, error_from_httpx, error_from_response

pytestmark = pytest.mark.unit

# Bodies as vLLM 0.32 sends them (docs/../vllm-server-api.md §3.6, §5).
CONTEXT_BODY = {"error": {
    "message": "This model's maximum context length is 2048 tokens. However, your prompt "
               "contains at least 2049 input tokens, which exceeds this limit even without any "
               "output tokens. Please reduce the length of the input prompt. "
               "(parameter=input_tokens, value=2049)",
    "type": "BadRequestError", "param": "input_tokens", "code": 400}}
TEMPERATURE_BODY = {"error": {"message": "temperature must be in [0, 2], got 5.0.",
                              "type": "BadRequestError", "param": "temperature", "code": 400}}


@pytest.mark.parametrize(
    ("status", "body", "cls", "message"),
    [
        (400, TEMPERATURE_BODY, BadRequestError, "temperature must be in [0, 2]"),
        (400, CONTEXT_BODY, ContextLengthError, "maximum context length is 2048"),
        (400, {"error": {"message": "your prompt contains 90000 characters (more than 8000 "
                         "characters...", "param": "input_text", "code": 400}},
         ContextLengthError, "90000 characters"),
        (401, {"error": "Unauthorized"}, AuthenticationError, "Unauthorized"),
        (403, {"error": {"message": "Scale-out endpoints are disabled.", "type":
                         "PermissionDeniedError", "param": None, "code": 403}},
         PermissionDeniedError, "Scale-out"),
        (404, {"error": {"message": "The model `nope` does not exist.", "type": "NotFoundError",
                         "param": "model", "code": 404}}, NotFoundError, "`nope` does not exist"),
        (404, {"detail": "Not Found"}, NotFoundError, "Not Found"),
        (405, {"detail": "Method Not Allowed"}, APIStatusError, "Method Not Allowed"),
        (408, "", RequestTimeoutError, "HTTP 408"),
        (409, {"object": "error", "message": "conflict"}, ConflictError, "conflict"),
        (422, {"detail": [{"loc": ["body"], "msg": "bad"}]}, UnprocessableEntityError, "bad"),
        (429, "slow down", RateLimitError, "slow down"),
        (500, {"error": {"message": "Call to add_lora method failed", "type":
                         "InternalServerError", "code": 500}}, InternalServerError, "add_lora"),
        (502, "<html>bad gateway</html>", InternalServerError, "bad gateway"),
        (503, {"error": "The model is currently scaling. Please try again later."},
         ServiceUnavailableError, "currently scaling"),
    ],
)
def test_status_and_body_mapping(status: int, body: object, cls: type, message: str) -> None:
    error = error_from_body(status, body, request_id="abc")
    assert type(error) is cls
    assert message in error.message
    assert error.status_code == status
    assert error.request_id == "abc"
    assert error.body == body
    assert "abc" in str(error)
    assert str(status) in str(error)


def test_retryable_flags() -> None:
    assert error_from_body(503, "").is_retryable
    assert error_from_body(500, "").is_retryable
    assert error_from_body(429, "").is_retryable
    assert error_from_body(408, "").is_retryable
    assert not error_from_body(400, "").is_retryable
    assert not error_from_body(401, "").is_retryable
    assert not error_from_body(404, "").is_retryable
    assert not StreamError("x").is_retryable
    assert not InvalidRequestError("x").is_retryable


def test_response_with_retry_after_header() -> None:
    response = httpx.Response(429, headers={"retry-after": "4"}, json={"error": "busy"})
    error = error_from_response(response, request_id="r")
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 4.0


def _httpx_exception_classes() -> list[type[Exception]]:
    return [obj for name in httpx.__all__ if inspect.isclass(obj := getattr(httpx, name))
            and issubclass(obj, Exception)]


def _instance(cls: type[Exception]) -> Exception:
    request = httpx.Request("GET", "http://x")
    if cls is httpx.HTTPStatusError:
        return cls("boom", request=request, response=httpx.Response(500, request=request))
    try:
        return cls("boom", request=request)  # type: ignore[call-arg]
    except TypeError:
        try:
            return cls("boom")
        except TypeError:
            return cls()  # StreamConsumed, ResponseNotRead, ...


@pytest.mark.parametrize("cls", _httpx_exception_classes(), ids=lambda c: c.__name__)
def test_every_httpx_exception_is_translated(cls: type[Exception]) -> None:
    original = _instance(cls)
    error = error_from_httpx(original, request_id="rid")
    assert isinstance(error, VLLMError)
    assert error.request_id == "rid"
    assert cls.__name__ in error.message
    assert error.__cause__ is original
    if issubclass(cls, httpx.TimeoutException):
        assert isinstance(error, APITimeoutError)
        assert error.is_retryable
    elif issubclass(cls, (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        assert type(error) is APIConnectionError
        assert error.is_retryable
    elif issubclass(cls, (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        assert isinstance(error, InvalidRequestError)
        assert not error.is_retryable
    else:
        assert isinstance(error, APIError)


def _all_error_classes() -> list[type[VLLMError]]:
    return [obj for name in vllm_accel.__all__ if inspect.isclass(obj := getattr(vllm_accel, name))
            and issubclass(obj, VLLMError)]


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_errors_pickle_with_their_context(cls: type[VLLMError]) -> None:
    error = cls("went wrong", status_code=503, request_id="rid", body={"error": "x"},
                retry_after=2.0, is_retryable=True)
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is cls
    assert (clone.message, clone.status_code, clone.request_id, clone.body, clone.retry_after,
            clone.is_retryable) == ("went wrong", 503, "rid", {"error": "x"}, 2.0, True)
    assert str(clone) == str(error)


def test_tree_shape() -> None:
    assert issubclass(ContextLengthError, BadRequestError)
    assert issubclass(ServiceUnavailableError, InternalServerError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(IncompleteStreamError, StreamError)
    assert issubclass(InvalidRequestError, ValueError)
    for cls in _all_error_classes():
        assert cls.__doc__
        assert cls.__name__ in (vllm_accel._errors.__doc__ or "")

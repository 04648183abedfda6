"""Every core error has a LangChain-flavoured twin that is both kinds of exception."""

from __future__ import annotations

import pickle

import pytest
from langchain_core import exceptions as lc

import vllm_accel
from langchain_vllm_accel._errors import _MAPPING, map_errors, translate_error

pytestmark = pytest.mark.unit


def all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("vllm_accel"):
            found |= {sub} | all_subclasses(sub)
    return found


LOCAL_ONLY = {
    vllm_accel.QuantizationError,  # relaunching a managed server, not a model call
    vllm_accel.QuantizationNotSupportedError,
}


def test_every_core_error_keeps_its_exact_core_type_and_is_a_model_error() -> None:
    mapped = {core for core, _ in _MAPPING}
    assert all_subclasses(vllm_accel.VLLMError) - LOCAL_ONLY == mapped
    for core, twin in _MAPPING:
        assert issubclass(twin, core)
        assert issubclass(twin, lc.ModelError)
        assert twin.__mro__[1] is core  # nothing between: isinstance checks stay exact


@pytest.mark.parametrize(
    ("core", "langchain_type"),
    [
        (vllm_accel.ContextLengthError, lc.ContextOverflowError),
        (vllm_accel.BadRequestError, lc.ModelInvalidRequestError),
        (vllm_accel.InvalidRequestError, lc.ModelInvalidRequestError),
        (vllm_accel.AuthenticationError, lc.ModelAuthenticationError),
        (vllm_accel.PermissionDeniedError, lc.ModelPermissionDeniedError),
        (vllm_accel.NotFoundError, lc.ModelNotFoundError),
        (vllm_accel.RateLimitError, lc.ModelRateLimitError),
        (vllm_accel.RequestTimeoutError, lc.ModelTimeoutError),
        (vllm_accel.InternalServerError, lc.ModelAPIError),
        (vllm_accel.ServiceUnavailableError, lc.ModelAPIError),
        (vllm_accel.StreamError, lc.ModelAPIError),
        (vllm_accel.IncompleteStreamError, lc.ModelAPIError),
        (vllm_accel.APITimeoutError, lc.ModelTimeoutError),
        (vllm_accel.APIConnectionError, lc.ModelConnectionError),
    ],
)
def test_translation_keeps_both_types_and_context(core: type, langchain_type: type) -> None:
    error = core("boom", status_code=400, request_id="r1", body={"x": 1}, retry_after=2.0)
    with pytest.raises(langchain_type) as info, map_errors():
        raise error
    translated = info.value
    assert isinstance(translated, core)
    assert isinstance(translated, vllm_accel.VLLMError)
    assert translated.__cause__ is error
    assert (translated.message, translated.status_code, translated.request_id) == (
        "boom",
        400,
        "r1",
    )
    assert translated.body == {"x": 1}
    assert translated.retry_after == 2.0
    assert translated.is_retryable == error.is_retryable
    assert translate_error(translated) is translated
    clone = pickle.loads(pickle.dumps(translated))
    assert type(clone) is type(translated)
    assert clone.message == "boom"


def test_other_errors_pass_through() -> None:
    quantization = vllm_accel.QuantizationError("no")
    with pytest.raises(vllm_accel.QuantizationError) as info, map_errors():
        raise quantization
    assert info.value is quantization
    with pytest.raises(KeyError), map_errors():
        raise KeyError("x")

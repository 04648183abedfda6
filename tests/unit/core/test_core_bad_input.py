"""Bad input, by property: whatever comes in, only typed errors (``VLLMError``) come out.

Four doors: request parameters and message shapes (checked locally, before any request), SSE
byte streams (any bytes, split anywhere: the decoder's output, typed errors included, does not
depend on where the network cut the bytes) and error responses (any status, any body, any
``Retry-After``).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.bytesplit import split_at

from vllm_accel import (
    APIStatusError,
    ChatCompletionChunk,
    InvalidRequestError,
    StreamError,
    VLLMError,
)
from vllm_accel._accumulate import ChatAccumulator
from vllm_accel._params import chat_payload, completion_payload, embedding_payload
from vllm_accel._stream import ChatStream, StreamState
from vllm_accel._translate import error_from_response

pytestmark = pytest.mark.unit

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
REQUESTS = settings(SETTINGS, max_examples=100)
"""The request builders: drawing the nested JSON costs ~25 ms an example (the builder under test
well under 1 ms), so 300 took 8 s for chat alone; 100 (Hypothesis' default) a run."""

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)
PARAM_NAMES = st.sampled_from([
    "temperature", "top_p", "top_k", "min_p", "max_tokens", "max_completion_tokens", "n",
    "stop", "seed", "logprobs", "top_logprobs", "logit_bias", "presence_penalty",
    "frequency_penalty", "repetition_penalty", "stop_token_ids", "ignore_eos", "min_tokens",
    "tools", "tool_choice", "response_format", "structured_outputs", "guided_json",
    "guided_regex", "guided_choice", "stream_options", "extra_body", "best_of", "echo",
    "suffix", "priority", "chat_template_kwargs", "user", "bogus_field",
])
PARAMS = st.dictionaries(PARAM_NAMES, JSON, max_size=4)
MESSAGE = st.one_of(
    JSON,
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool", "x"]),
                           "content": JSON}),
)
MESSAGES = st.one_of(JSON, st.text(max_size=10), st.lists(MESSAGE, max_size=3))


def _only_typed(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except InvalidRequestError:
        return None


@REQUESTS
@given(messages=MESSAGES, params=PARAMS, stream=st.booleans())
def test_chat_requests_either_build_or_raise_invalid_request(messages: Any,
                                                             params: dict[str, Any],
                                                             stream: bool) -> None:
    payload = _only_typed(chat_payload, messages, None, params, stream=stream)
    if payload is not None:
        json.dumps(payload)  # what is sent is JSON


@REQUESTS
@given(prompt=st.one_of(JSON, st.lists(st.integers(), max_size=4)), params=PARAMS)
def test_completion_requests_either_build_or_raise_invalid_request(prompt: Any,
                                                                   params: dict[str, Any]) -> None:
    payload = _only_typed(completion_payload, prompt, "m", params, stream=False)
    if payload is not None:
        json.dumps(payload)


@REQUESTS
@given(inputs=JSON, params=st.dictionaries(
    st.sampled_from(["dimensions", "encoding_format", "truncate_prompt_tokens", "user", "x"]),
    JSON, max_size=3))
def test_embedding_requests_either_build_or_raise_invalid_request(inputs: Any,
                                                                  params: dict[str, Any]) -> None:
    _only_typed(embedding_payload, inputs, None, params)


# -- SSE byte streams ----------------------------------------------------------------------------

def _chunk(text: str) -> bytes:
    return json.dumps({"id": "c", "model": "m", "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {"content": text}}]}).encode()


EVENT = st.one_of(
    st.builds(lambda t: b"data: " + _chunk(t), st.text(max_size=6)),
    st.just(b"data: [DONE]"),
    st.just(b": keep-alive"),
    st.builds(lambda m: b'data: {"error": ' + json.dumps({"message": m, "code": 500}).encode()
              + b"}", st.text(max_size=6)),
    st.builds(lambda b: b"data: " + b, st.binary(max_size=12)),  # malformed JSON
    st.binary(max_size=12),  # anything at all
)
NEWLINE = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def byte_streams(draw: st.DrawFn) -> bytes:
    newline = draw(NEWLINE)
    events = draw(st.lists(EVENT, max_size=6))
    return b"".join(e + newline + newline for e in events) + draw(st.binary(max_size=4))


def _decode(pieces: list[bytes]) -> tuple[list[str], str | None]:
    """Chunks (as JSON) and the typed error (class and message) a stream of pieces gives."""
    def gen() -> Iterator[bytes]:
        yield from pieces

    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=gen())
    state = StreamState(ChatCompletionChunk.model_validate_json, ChatAccumulator(),
                        request_id="r")
    stream = ChatStream(lambda: response, state, lambda s, e: None)
    chunks: list[str] = []
    try:
        with stream:
            for chunk in stream:
                chunks.append(chunk.model_dump_json())
    except VLLMError as exc:  # anything else fails the test
        pickle.loads(pickle.dumps(exc))
        return chunks, f"{type(exc).__name__}: {exc}"
    return chunks, None


@SETTINGS
@given(body=byte_streams(), cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=12))
def test_any_byte_stream_decodes_the_same_however_split_and_only_typed_errors(
        body: bytes, cuts: list[int]) -> None:
    whole = _decode([body])
    assert _decode(split_at(body, cuts)) == whole
    assert _decode([body[i:i + 1] for i in range(len(body))]) == whole


@SETTINGS
@given(body=st.binary(max_size=200), cuts=st.lists(st.integers(min_value=0, max_value=300),
                                                   max_size=8))
def test_random_bytes_only_ever_give_typed_errors(body: bytes, cuts: list[int]) -> None:
    chunks, error = _decode(split_at(body, cuts))
    if error is not None:
        assert error.split(":")[0] in {"StreamError", "IncompleteStreamError"}


def test_in_band_error_event_is_a_stream_error_not_a_chunk() -> None:
    body = (b"data: " + _chunk("a") + b"\n\n" + b'data: {"error": {"message": "boom", '
            b'"type": "InternalServerError", "code": 500}}\n\ndata: [DONE]\n\n')
    chunks, error = _decode([body])
    assert len(chunks) == 1
    assert error is not None
    assert error.startswith("StreamError")
    assert "boom" in error
    assert StreamError.__name__ in error


# -- error responses ------------------------------------------------------------------------------

@SETTINGS
@given(status=st.integers(min_value=400, max_value=599),
       body=st.one_of(st.binary(max_size=60), JSON.map(lambda j: json.dumps(j).encode())),
       retry_after=st.one_of(st.none(), st.text(max_size=30),
                             st.floats(allow_nan=True).map(str)))
def test_any_error_response_maps_to_a_typed_error(status: int, body: bytes,
                                                  retry_after: str | None) -> None:
    headers = {} if retry_after is None else {"retry-after": retry_after.encode(
        "ascii", "replace").decode().replace("\r", " ").replace("\n", " ")}
    response = httpx.Response(status, headers=headers, content=body)
    error = error_from_response(response, request_id="r")
    assert isinstance(error, APIStatusError)
    assert error.status_code == status
    assert error.retry_after is None or error.retry_after >= 0
    assert str(error)
    assert repr(error)
    clone = pickle.loads(pickle.dumps(error))
    assert (type(clone), clone.status_code, str(clone)) == (type(error), status, str(error))

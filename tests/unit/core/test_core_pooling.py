"""Pooling, scoring and audio requests: payloads, local checks, base64 decoding (pure)."""

from __future__ import annotations

import base64
import io
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest

from vllm_accel import (
    InvalidRequestError,
    RerankResponse,
    RetryPolicy,
    ServiceUnavailableError,
    VLLMClient,
)
from vllm_accel._audio import audio_form, audio_upload
from vllm_accel._codec import decode_vector
from vllm_accel._pooling_params import (
    classify_payload,
    pooling_payload,
    rerank_payload,
    score_payload,
)

pytestmark = pytest.mark.unit


def test_rerank_payload_and_cohere_documents() -> None:
    body = rerank_payload("q", ["a", {"text": "b"}], "m", 2, {"max_tokens_per_doc": 64})
    assert body == {"query": "q", "documents": ["a", "b"], "top_n": 2,
                    "max_tokens_per_doc": 64, "model": "m"}
    assert "top_n" not in rerank_payload("q", ["a"], None, None, {})
    merged = rerank_payload("q", ["a"], None, None, {"extra_body": {"x": 1}})
    assert merged["x"] == 1


@pytest.mark.parametrize(("query", "documents", "top_n", "message"), [
    ("q", [], None, "non-empty list"),
    ("q", "abc", None, "not one string"),
    ("q", ["a", None], None, r"documents\[1\] must be a string"),
    ("q", ["a", b"b"], None, r"documents\[1\] must be a string"),
    ("q", ["a"], 0, "top_n must be an int >= 1"),
    ("q", ["a"], True, "top_n must be an int >= 1"),
    ("q", ["a"], 1.5, "top_n must be an int >= 1"),
    (" ", ["a"], None, "query must not be empty"),
    (3, ["a"], None, "query must be a string"),
])
def test_rerank_rejects(query: Any, documents: Any, top_n: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        rerank_payload(query, documents, None, top_n, {})


def test_score_payload_shapes() -> None:
    assert score_payload("q", ["a", "b"], None, {}) == {"text_1": "q", "text_2": ["a", "b"]}
    assert score_payload("q", "a", None, {}) == {"text_1": "q", "text_2": "a"}
    assert score_payload(["q", "r"], ["a", "b"], None, {})["text_1"] == ["q", "r"]
    with pytest.raises(InvalidRequestError, match="text_1 has 2 texts and text_2 3"):
        score_payload(["q", "r"], ["a", "b", "c"], None, {})
    with pytest.raises(InvalidRequestError, match="unknown parameter 'top_n'"):
        score_payload("q", "a", None, {"top_n": 1})


def test_classify_and_pooling_payloads() -> None:
    assert classify_payload(["x", "y"], None, "c", {}) == {"input": ["x", "y"], "model": "c"}
    chat = classify_payload(None, "hi", None, {"add_generation_prompt": True})
    assert chat == {"messages": [{"role": "user", "content": "hi"}],
                    "add_generation_prompt": True}
    assert pooling_payload("x", None, None, {"task": "embed"}) == {"input": "x", "task": "embed"}
    for bad in [(None, None), ("x", "hi"), ("", None), ([], None), (["a", ""], None)]:
        with pytest.raises(InvalidRequestError):
            pooling_payload(*bad, None, {})
    with pytest.raises(InvalidRequestError, match="task"):
        pooling_payload("x", None, None, {"task": "generate"})


def test_rerank_response_is_best_first_whatever_the_server_order() -> None:
    answer = RerankResponse.model_validate({
        "id": "r", "model": "m", "usage": {"prompt_tokens": 3, "total_tokens": 3},
        "results": [{"index": 0, "relevance_score": 0.1, "document": {"text": "a"}},
                    {"index": 2, "relevance_score": 0.9, "document": {"text": "c"}},
                    {"index": 1, "relevance_score": 0.1, "document": {"text": "b"},
                     "extra": "kept"}]})
    assert answer.indices() == [2, 0, 1]  # ties keep input order
    assert answer.documents() == ["c", "a", "b"]
    assert [r.index for r in answer.top(1)] == [2]
    assert answer.scores() == {0: 0.1, 1: 0.1, 2: 0.9}
    assert answer.results[2].model_extra == {"extra": "kept"}


@pytest.mark.parametrize(("fmt", "dtype", "endianness", "tol"), [
    ("<3f", "float32", "native", 0.0),
    ("<3f", "float32", "little", 0.0),
    (">3f", "float32", "big", 0.0),
    ("<3e", "float16", "native", 1e-3),
    (">3e", "float16", "big", 1e-3),
])
def test_decode_vector(fmt: str, dtype: str, endianness: str, tol: float) -> None:
    values = [0.5, -1.25, 3.0]
    text = base64.b64encode(struct.pack(fmt, *values)).decode()
    assert decode_vector(text, dtype, endianness) == pytest.approx(values, abs=tol)


def test_decode_bfloat16_and_refusals() -> None:
    halves = [struct.unpack("<I", struct.pack("<f", v))[0] >> 16 for v in (1.0, -2.0)]
    text = base64.b64encode(struct.pack("<2H", *halves)).decode()
    assert decode_vector(text, "bfloat16") == [1.0, -2.0]
    with pytest.raises(ValueError, match="cannot decode"):
        decode_vector(text, "fp8_e4m3")
    with pytest.raises(ValueError):
        decode_vector("not base64!", "float32")


def test_audio_upload_kinds(tmp_path: Path) -> None:
    wav = tmp_path / "hello.wav"
    wav.write_bytes(b"RIFF....")
    assert audio_upload(wav) == ("hello.wav", b"RIFF....", "audio/x-wav")
    assert audio_upload(str(wav))[1] == b"RIFF...."
    assert audio_upload(b"abc") == ("audio", b"abc", "application/octet-stream")
    assert audio_upload(("a.mp3", b"x")) == ("a.mp3", b"x", "audio/mpeg")
    with wav.open("rb") as handle:
        assert audio_upload(handle)[:2] == ("hello.wav", b"RIFF....")
    with pytest.raises(InvalidRequestError, match="does not exist"):
        audio_upload(tmp_path / "missing.wav")
    with pytest.raises(InvalidRequestError, match="is empty"):
        audio_upload(b"")
    with pytest.raises(InvalidRequestError, match="binary mode"):
        audio_upload(io.StringIO("text"))
    with pytest.raises(InvalidRequestError, match="must be a path"):
        audio_upload(42)


def test_audio_form_fields() -> None:
    form = audio_form("w", {"language": "en", "temperature": 0.0,
                            "timestamp_granularities": ["word"], "vllm_xargs": {"a": 1}})
    assert form == {"language": "en", "temperature": "0.0", "timestamp_granularities": ["word"],
                    "vllm_xargs": '{"a": 1}', "model": "w"}
    with pytest.raises(InvalidRequestError, match="stream"):
        audio_form(None, {"stream": True})
    with pytest.raises(InvalidRequestError, match="response_format"):
        audio_form(None, {"response_format": "mp3"})


def test_a_retried_upload_sends_the_same_multipart_body(tmp_path: Path) -> None:
    """Every attempt of a multipart request carries the file (read once, before sending)."""
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF-audio-bytes")
    bodies: list[bytes] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return httpx.Response(503, json={"error": {"message": "busy"}})

    http = httpx.Client(transport=httpx.MockTransport(unavailable))
    client = VLLMClient("http://vllm.invalid", http_client=http,
                        retry=RetryPolicy(max_retries=2, initial_delay=0.0, jitter=0.0))
    client._sleep = lambda s: None  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailableError):
        client.transcribe(wav, language="en")
    assert len(bodies) == 3
    unbounded = {b.replace(b.split(b"\r\n", 1)[0], b"--B") for b in bodies}
    assert len(unbounded) == 1  # the same form each time (each has its own boundary)
    assert b"RIFF-audio-bytes" in bodies[0]
    assert b'name="language"' in bodies[0]
    assert client.stats().total_retries == 2

"""SSE decoding across every network chunk boundary, and vLLM's stream protocol rules."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import ServerSentEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from support.bytesplit import split_at

from vllm_accel import (
    ChatCompletion,
    ChatCompletionChunk,
    IncompleteStreamError,
    StreamError,
)
from vllm_accel._accumulate import ChatAccumulator
from vllm_accel._sse import SSEProtocol, iter_sse
from vllm_accel._stream import ChatStream, StreamState

pytestmark = pytest.mark.unit

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}


def _chunk(content: str, **extra: object) -> str:
    return json.dumps({"id": "chatcmpl-1", "model": "smollm2", "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {"content": content}, **extra}]})


def _body(payloads: list[str], *, newline: str = "\n", done: bool = True) -> bytes:
    events = [f"data: {p}{newline}{newline}" for p in payloads]
    if done:
        events.append(f"data: [DONE]{newline}{newline}")
    return "".join(events).encode()


def _response(pieces: list[bytes]) -> httpx.Response:
    def gen() -> Iterator[bytes]:
        yield from pieces

    return httpx.Response(200, headers=SSE_HEADERS, content=gen())


def _stream(pieces: list[bytes]) -> tuple[ChatStream, list[BaseException | None]]:
    finished: list[BaseException | None] = []
    state = StreamState(ChatCompletionChunk.model_validate_json, ChatAccumulator(),
                        request_id="req-1")
    stream = ChatStream(lambda: _response(pieces), state, lambda s, e: finished.append(e))
    return stream, finished


TEXTS = st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"),
                         max_size=12), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(texts=TEXTS, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
       newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_events_survive_any_bytesplit_at(texts: list[str], cuts: list[int], newline: str) -> None:
    body = _body([_chunk(t) for t in texts], newline=newline)
    events = list(iter_sse(_response(split_at(body, cuts))))
    assert [e.data for e in events] == [_chunk(t) for t in texts] + ["[DONE]"]


@settings(max_examples=200, deadline=None)
@given(texts=TEXTS, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_stream_folds_split_chunks_into_the_same_answer(texts: list[str], cuts: list[int]) -> None:
    stream, finished = _stream(split_at(_body([_chunk(t) for t in texts]), cuts))
    with stream:
        deltas = list(stream.text_deltas())
    assert "".join(deltas) == "".join(texts)
    assert stream.final().choices[0].message.content == "".join(texts)
    assert finished == [None]


def test_every_single_byte_split_of_a_real_stream() -> None:
    body = _body([_chunk("Ahoy"), _chunk(" matey ☠️"), _chunk("!", finish_reason="stop")])
    for cut in range(len(body) + 1):
        stream, _ = _stream([body[:cut], body[cut:]])
        result: ChatCompletion = stream.final()
        assert result.choices[0].message.content == "Ahoy matey ☠️!"
        assert result.choices[0].finish_reason == "stop"


def test_one_byte_at_a_time() -> None:
    body = _body([_chunk("héllo"), _chunk(" wörld")], newline="\r\n")
    stream, _ = _stream([body[i:i + 1] for i in range(len(body))])
    assert stream.final().choices[0].message.content == "héllo wörld"


def test_comments_and_keepalives_are_skipped() -> None:
    body = b": keep-alive\n\n" + _body([_chunk("a")]) + b": bye\n\n"
    stream, _ = _stream([body])
    assert [c.choices[0].delta.content for c in stream] == ["a"]


def test_in_band_error_raises_a_typed_stream_error() -> None:
    err = {"error": {"message": "engine died", "type": "InternalServerError", "param": None,
                     "code": 500}}
    stream, finished = _stream([_body([_chunk("a"), json.dumps(err)])])
    first = next(stream)
    assert first.choices[0].delta.content == "a"
    with pytest.raises(StreamError) as info:
        next(stream)
    assert "engine died" in str(info.value)
    assert info.value.status_code == 500
    assert info.value.request_id == "req-1"
    assert not isinstance(info.value, IncompleteStreamError)
    assert finished
    assert isinstance(finished[0], StreamError)


def test_stream_cut_without_done_says_so() -> None:
    stream, finished = _stream([_body([_chunk("a"), _chunk("b")], done=False)])
    with pytest.raises(IncompleteStreamError, match=r"without 'data: \[DONE\]'"):
        list(stream)
    assert isinstance(finished[0], IncompleteStreamError)


def test_transport_error_mid_stream_is_an_incomplete_stream() -> None:
    def gen() -> Iterator[bytes]:
        yield _body([_chunk("a")], done=False)
        raise httpx.RemoteProtocolError("peer closed connection")

    state = StreamState(ChatCompletionChunk.model_validate_json, ChatAccumulator(),
                        request_id="r")
    stream = ChatStream(lambda: httpx.Response(200, headers=SSE_HEADERS, content=gen()), state,
                        lambda s, e: None)
    assert next(stream).choices[0].delta.content == "a"
    with pytest.raises(IncompleteStreamError, match="peer closed"):
        next(stream)


def test_malformed_event_is_a_stream_error() -> None:
    stream, _ = _stream([_body(["{not json"])])
    with pytest.raises(StreamError, match="malformed"):
        list(stream)


def test_non_sse_response_is_a_stream_error() -> None:
    state = StreamState(ChatCompletionChunk.model_validate_json, ChatAccumulator(),
                        request_id="r")
    stream = ChatStream(lambda: httpx.Response(200, json={"choices": []}), state,
                        lambda s, e: None)
    with pytest.raises(StreamError, match="not an SSE response"):
        list(stream)


def test_protocol_ignores_events_after_done() -> None:
    proto = SSEProtocol()
    assert proto.data_of(ServerSentEvent(data="[DONE]")) is None
    assert proto.data_of(ServerSentEvent(data=_chunk("late"))) is None
    proto.end()  # no error: the stream was complete


def test_early_close_reports_a_cancelled_stream() -> None:
    stream, finished = _stream([_body([_chunk("a"), _chunk("b"), _chunk("c")])])
    with stream:
        next(iter(stream))
    assert len(finished) == 1
    assert isinstance(finished[0], GeneratorExit)
    assert stream.response is not None
    assert stream.response.is_closed
    stream.close()  # idempotent
    assert len(finished) == 1


def test_a_stream_closed_before_sending_records_nothing() -> None:
    sent: list[int] = []

    def send() -> httpx.Response:
        sent.append(1)
        return _response([_body([_chunk("a")])])

    finished: list[BaseException | None] = []
    state = StreamState(ChatCompletionChunk.model_validate_json, ChatAccumulator(),
                        request_id="r")
    stream = ChatStream(send, state, lambda s, e: finished.append(e))
    stream.close()
    assert list(stream) == []
    assert (sent, finished) == ([], [])

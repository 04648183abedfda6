"""The Responses API on the real chat server, both twins: create, stream, get, cancel, abort."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from core_live_helpers import collect, resolve
from support.faultproxy import Fault, FaultProxy

from vllm_accel import (
    AsyncVLLMClient,
    BadRequestError,
    Endpoint,
    IncompleteStreamError,
    InvalidRequestError,
    NotFoundError,
    Response,
    ResponseLifecycleEvent,
    ResponseTextDeltaEvent,
    StreamError,
    VLLMClient,
)
from vllm_accel._stream import AsyncStream

pytestmark = pytest.mark.live

LONG = {"max_output_tokens": 1500, "ignore_eos": True, "temperature": 1.0}
EVENTS_BEFORE_STOP = 6  # created, in_progress, item added, part added, then two text deltas


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((name + "{", name + " ")))


async def test_create_response(chat_client: Any) -> None:
    response = await resolve(chat_client.create_response(
        "Name a fruit.", instructions="Answer in one word.", max_output_tokens=8, seed=1))
    assert isinstance(response, Response)
    assert response.id.startswith("resp_")
    assert response.model == "smollm2"
    assert response.status in ("completed", "incomplete")
    assert response.output_text.strip()
    assert response.output[0].type == "message"
    assert response.usage is not None
    assert 0 < response.usage.output_tokens <= 8
    assert response.usage.completion_tokens == response.usage.output_tokens
    assert response.model_extra is not None
    assert "tool_choice" in response.model_extra
    by_route = chat_client.stats().by_route["/v1/responses"]
    assert by_route.completion_tokens >= response.usage.output_tokens


async def test_create_response_with_message_items(chat_client: Any) -> None:
    response = await resolve(chat_client.create_response(
        [{"role": "system", "content": "You are terse."},
         {"role": "user", "content": "Say yes."}], max_output_tokens=4))
    assert response.usage.input_tokens > 10  # the system message reached the prompt
    assert response.output_text


async def test_stream_response_typed_events(chat_client: Any) -> None:
    events, final = await collect(chat_client.stream_response("Say hi.", max_output_tokens=6))
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert isinstance(events[0], ResponseLifecycleEvent)
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert deltas
    assert all(isinstance(e, ResponseTextDeltaEvent) for e in deltas)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert isinstance(final, Response)
    assert final.output_text == "".join(e.delta for e in deltas)
    assert final.usage is not None
    assert final.usage.output_tokens == 6


async def test_stream_text_deltas(chat_client: Any) -> None:
    stream = chat_client.stream_response("Count to three.", max_output_tokens=8)
    if isinstance(stream, AsyncStream):
        async with stream:
            text = "".join([t async for t in stream.text_deltas()])
            final = await stream.final()
    else:
        with stream:
            text = "".join(stream.text_deltas())
            final = stream.final()
    assert text
    assert text == final.output_text


async def test_get_a_stored_response(chat_client: Any) -> None:
    created = await resolve(chat_client.create_response("Say hi.", max_output_tokens=4))
    fetched = await resolve(chat_client.get_response(created.id))
    assert fetched.id == created.id
    assert fetched.output_text == created.output_text
    with pytest.raises(NotFoundError):
        await resolve(chat_client.get_response("resp_does_not_exist"))
    assert "/v1/responses/{id}" in chat_client.stats().by_route  # one group, not one per id


async def test_cancel_a_background_response(chat_client: Any) -> None:
    started = await resolve(chat_client.create_response(
        "Tell me a very long story.", background=True, **LONG))
    assert started.status in ("queued", "in_progress")
    cancelled = await resolve(chat_client.cancel_response(started.id))
    assert cancelled.id == started.id
    assert cancelled.status == "cancelled"
    assert (await resolve(chat_client.get_response(started.id))).status == "cancelled"
    done = await resolve(chat_client.create_response("Hi", max_output_tokens=2))
    with pytest.raises(BadRequestError, match="synchronous"):
        await resolve(chat_client.cancel_response(done.id))


@pytest.mark.parametrize(("input", "params", "match"), [
    ("", {}, "input must not be empty"),
    ([], {}, "non-empty list"),
    ([{"content": "no role"}], {}, "input\\[0\\]"),
    ("hi", {"max_tokens": 5}, "unknown parameter 'max_tokens'"),
    ("hi", {"max_output_tokens": 0}, "max_output_tokens"),
    ("hi", {"background": True, "store": False}, "needs store"),
    ("hi", {"tool_choice": "required"}, "needs tools"),
])
async def test_bad_input_is_rejected_locally(chat_client: Any, input: Any,
                                             params: dict[str, Any], match: str) -> None:
    chat_client.reset_stats()
    with pytest.raises(InvalidRequestError, match=match):
        await resolve(chat_client.create_response(input, **params))
    with pytest.raises(InvalidRequestError):
        chat_client.stream_response("hi", background=True)
    with pytest.raises(InvalidRequestError, match="response_id"):
        await resolve(chat_client.get_response(""))
    assert chat_client.stats().total_requests == 0  # nothing was sent


def _wait_idle(url: str) -> float:
    deadline = time.monotonic() + 60  # an earlier abort must have settled
    while _metric(url, "vllm:num_requests_running") and time.monotonic() < deadline:
        time.sleep(0.2)
    return _metric(url, "vllm:generation_tokens_total")


def _assert_generation_stopped(url: str, stopped_at: float, before: float) -> None:
    time.sleep(max(0.0, stopped_at + 1.0 - time.monotonic()))
    settled = _metric(url, "vllm:generation_tokens_total")
    assert settled > before, "the request never generated anything"
    time.sleep(1.5)
    assert _metric(url, "vllm:generation_tokens_total") == settled, "still generating"
    assert _metric(url, "vllm:num_requests_running") == 0
    assert settled - before < LONG["max_output_tokens"]


def test_sync_stream_closed_early_aborts_the_generation(chat_server_url: str) -> None:
    before = _wait_idle(chat_server_url)
    with VLLMClient(chat_server_url, timeout=120) as client:
        with client.stream_response("Tell me a very long story.", **LONG) as stream:
            for n, _ in enumerate(stream, 1):
                if n == EVENTS_BEFORE_STOP:
                    break
        stopped = time.monotonic()
        assert stream.response is not None
        assert stream.response.is_closed
        assert client.stats().total_requests == 1  # recorded once, as cancelled
        assert client.stats().total_errors == 0
    partial = stream.final()
    assert partial.status == "in_progress"
    assert partial.output_text
    _assert_generation_stopped(chat_server_url, stopped, before)


async def test_async_stream_closed_early_aborts_the_generation(chat_server_url: str) -> None:
    before = await asyncio.to_thread(_wait_idle, chat_server_url)
    async with AsyncVLLMClient(chat_server_url, timeout=120) as client:
        async with client.stream_response("Tell me a very long story.", **LONG) as stream:
            n = 0
            async for _ in stream:
                n += 1
                if n == EVENTS_BEFORE_STOP:
                    break
        stopped = time.monotonic()
        assert stream.response is not None
        assert stream.response.is_closed
    await asyncio.to_thread(_assert_generation_stopped, chat_server_url, stopped, before)


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_stream_cut_midway_raises_incomplete_stream(twin: str,
                                                            chat_server_url: str) -> None:
    """A real stream whose connection dies after 5 events, before its terminal event."""
    with FaultProxy(chat_server_url, paths={"/v1/responses"}) as proxy:
        proxy.script(Fault.cut_after(5))
        events: list[Any] = []

        async def read() -> None:
            if twin == "sync":
                with VLLMClient(proxy.url, timeout=60) as client, \
                        client.stream_response("Tell me a story.", max_output_tokens=32) as s:
                    for event in s:
                        events.append(event)
                return
            async with AsyncVLLMClient(proxy.url, timeout=60) as aclient, \
                    aclient.stream_response("Tell me a story.", max_output_tokens=32) as stream:
                async for event in stream:
                    events.append(event)

        with pytest.raises(IncompleteStreamError):
            await read()
        assert proxy.count("/v1/responses") == 1  # a started stream is never resent
    assert len(events) == 5
    assert [e.sequence_number for e in events] == list(range(5))


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_pool_finds_the_endpoint_that_stored_the_response(
        twin: str, chat_server_url: str, embed_server_url: str) -> None:
    """The response lives on the chat server only; the MiniLM server answers 404 for it."""
    created = httpx.post(f"{chat_server_url}/v1/responses", timeout=120,
                         json={"input": "Say hi.", "max_output_tokens": 4}).json()
    endpoints = [Endpoint(embed_server_url, name="minilm"),
                 Endpoint(chat_server_url, name="smollm2")]
    if twin == "sync":
        with VLLMClient(endpoints=endpoints) as client:
            found = client.get_response(created["id"])
            with pytest.raises(NotFoundError, match="no endpoint"):
                client.get_response("resp_nowhere")
    else:
        async with AsyncVLLMClient(endpoints=endpoints) as aclient:
            found = await aclient.get_response(created["id"])
            with pytest.raises(NotFoundError, match="no endpoint"):
                await aclient.get_response("resp_nowhere")
    assert found.id == created["id"]
    assert found.output_text == created["output"][0]["content"][0]["text"]


def test_an_in_band_error_after_the_200_raises_stream_error(chat_server_url: str) -> None:
    """vLLM reports a failure during generation as ``data: {"error": ...}`` (injected here)."""
    with FaultProxy(chat_server_url, paths={"/v1/responses"}) as proxy, \
            VLLMClient(proxy.url, timeout=60) as client:
        proxy.script(Fault.inband_error(after=4, code=500))
        events: list[Any] = []

        def read() -> None:
            with client.stream_response("Tell me a story.", max_output_tokens=32) as stream:
                for event in stream:
                    events.append(event)

        with pytest.raises(StreamError, match="injected") as raised:
            read()
    assert not isinstance(raised.value, IncompleteStreamError)
    assert raised.value.status_code == 500
    assert len(events) == 4
    assert client.stats().total_errors == 1

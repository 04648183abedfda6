"""Client mechanics a real server cannot be made to show on demand.

These are the only tests that use ``httpx.MockTransport``: the retry loop honouring
``Retry-After`` on 503/429, connection failures, never retrying once a stream has yielded, and
never retrying LoRA loads. Every behaviour test of what vLLM answers is in ``tests/live/core``.
Each scenario runs on both twins.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from vllm_accel import (
    AsyncVLLMClient,
    BadRequestError,
    IncompleteStreamError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
    VLLMClient,
)

pytestmark = pytest.mark.unit

CHAT_OK = {"id": "chatcmpl-1", "object": "chat.completion", "model": "smollm2",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
MODELS = {"object": "list", "data": [{"id": "smollm2", "root": "/m", "parent": None}]}
SSE = {"content-type": "text/event-stream"}


class Recorder:
    """A scripted server: each request pops the next answer."""

    def __init__(self, *answers: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=MODELS)
        return self.answers.pop(0)(request)


def status(code: int, headers: dict[str, str] | None = None, body: Any = None) -> Callable[
        [httpx.Request], httpx.Response]:
    return lambda r: httpx.Response(code, headers=headers, json=body or {"error": "x"})


def ok(body: Any = CHAT_OK) -> Callable[[httpx.Request], httpx.Response]:
    return lambda r: httpx.Response(200, json=body)


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class Twin:
    """Runs the same scenario on the sync or the async client."""

    def __init__(self, kind: str, server: Recorder, **kwargs: Any) -> None:
        self.kind = kind
        self.sleeps: list[float] = []
        transport = httpx.MockTransport(server)
        policy = kwargs.pop("retry", RetryPolicy(max_retries=3, jitter=0.0, initial_delay=0.1))
        if kind == "sync":
            self.client: Any = VLLMClient("http://vllm.test", retry=policy,
                                          http_client=httpx.Client(transport=transport), **kwargs)
            self.client._sleep = self.sleeps.append
        else:
            self.client = AsyncVLLMClient("http://vllm.test", retry=policy,
                                          http_client=httpx.AsyncClient(transport=transport),
                                          **kwargs)

            async def fake_sleep(delay: float) -> None:
                self.sleeps.append(delay)

            self.client._sleep = fake_sleep

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        if self.kind == "async":
            return asyncio.run(result)
        return result

    def stream_texts(self, *args: Any, **kwargs: Any) -> list[str]:
        if self.kind == "sync":
            with self.client.stream_chat(*args, **kwargs) as stream:
                return list(stream.text_deltas())

        async def run() -> list[str]:
            async with self.client.stream_chat(*args, **kwargs) as stream:
                return [t async for t in stream.text_deltas()]

        return asyncio.run(run())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_retry_after_is_honoured_and_the_request_id_is_kept(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = Recorder(status(503, {"retry-after": "2"}), status(429, {"retry-after": "0.5"}),
                      ok())
    twin = Twin(kind, server, api_key="sk-never-logged")
    with caplog.at_level("DEBUG", logger="vllm_accel"):
        assert twin.call("chat", "hi").text == "hi"
    assert [r.getMessage().split(" [")[0] for r in caplog.records] == [
        "retry 1 of POST /v1/chat/completions", "retry 2 of POST /v1/chat/completions"]
    assert "sk-never-logged" not in caplog.text
    assert twin.sleeps == [2.0, 0.5]
    ids = {r.headers["x-request-id"] for r in server.requests}
    assert len(server.requests) == 3
    assert len(ids) == 1
    stats = twin.client.stats()
    assert (stats.total_requests, stats.total_retries, stats.total_errors) == (1, 2, 0)


def test_backoff_without_retry_after_then_give_up(kind: str) -> None:
    server = Recorder(*[status(503)] * 4)
    twin = Twin(kind, server)
    with pytest.raises(ServiceUnavailableError) as info:
        twin.call("chat", "hi")
    assert twin.sleeps == [0.1, 0.2, 0.4]
    assert len(server.requests) == 4
    assert info.value.request_id == server.requests[0].headers["x-request-id"]
    assert twin.client.stats().total_errors == 1


def test_retry_after_beyond_the_cap_is_not_waited_for(kind: str) -> None:
    server = Recorder(status(429, {"retry-after": "3600"}))
    twin = Twin(kind, server)
    with pytest.raises(RateLimitError) as info:
        twin.call("chat", "hi")
    assert info.value.retry_after == 3600.0
    assert twin.sleeps == []
    assert len(server.requests) == 1


def test_client_errors_are_not_retried(kind: str) -> None:
    server = Recorder(status(400, body={"error": {"message": "bad", "code": 400}}))
    twin = Twin(kind, server)
    with pytest.raises(BadRequestError, match="bad"):
        twin.call("chat", "hi")
    assert len(server.requests) == 1


def test_connection_failures_are_retried(kind: str) -> None:
    server = Recorder(refuse, refuse, ok())
    twin = Twin(kind, server)
    assert twin.call("chat", "hi").text == "hi"
    assert len(twin.sleeps) == 2


def _sse(*payloads: dict[str, Any], done: bool = True, cut: bool = False) -> Iterator[bytes]:
    for p in payloads:
        yield f"data: {json.dumps(p)}\n\n".encode()
    if cut:
        raise httpx.ReadError("connection reset")
    if done:
        yield b"data: [DONE]\n\n"


def sse_response(kind: str, chunks: Iterator[bytes]) -> httpx.Response:
    if kind == "sync":
        return httpx.Response(200, headers=SSE, content=chunks)

    async def agen() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return httpx.Response(200, headers=SSE, content=agen())


def _delta(text: str) -> dict[str, Any]:
    return {"id": "c", "model": "smollm2", "choices": [{"index": 0, "delta": {"content": text}}]}


def test_stream_open_is_retried_but_never_after_the_first_chunk(kind: str) -> None:
    server = Recorder(
        status(503),
        lambda r: sse_response(kind, _sse(_delta("a"), cut=True)),
    )
    twin = Twin(kind, server)
    with pytest.raises(IncompleteStreamError, match="ReadError"):
        twin.stream_texts("hi")
    assert len(server.requests) == 2  # one retry while opening, none after the chunk
    assert twin.client.stats().total_errors == 1


def test_stream_sends_include_usage_and_sse_accept(kind: str) -> None:
    server = Recorder(lambda r: sse_response(kind, _sse(_delta("a"))))
    twin = Twin(kind, server)
    assert twin.stream_texts("hi") == ["a"]
    body = json.loads(server.requests[0].content)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert server.requests[0].headers["accept"] == "text/event-stream"


def test_lora_load_is_never_retried(kind: str, tmp_path: Any) -> None:
    server = Recorder(status(500, body={"error": {"message": "LoRA rank 32 is greater than "
                                                             "max_lora_rank 16", "code": 500}}))
    twin = Twin(kind, server)
    with pytest.raises(InternalServerError, match="max_lora_rank"):
        twin.call("load_lora_adapter", "big", str(tmp_path))
    loads = [r for r in server.requests if r.url.path == "/v1/load_lora_adapter"]
    assert len(loads) == 1
    assert twin.sleeps == []


def test_api_key_rotation_and_secrecy(kind: str) -> None:
    server = Recorder(ok(), status(401, body={"error": "Unauthorized"}))
    twin = Twin(kind, server, api_key="sk-first-secret")
    twin.call("chat", "hi")
    assert server.requests[-1].headers["authorization"] == "Bearer sk-first-secret"
    twin.client.set_api_key("sk-second-secret")
    with pytest.raises(Exception) as info:
        twin.call("chat", "hi")
    assert server.requests[-1].headers["authorization"] == "Bearer sk-second-secret"
    for text in (repr(twin.client), str(twin.client), str(info.value), repr(info.value),
                 repr(twin.client.stats())):
        assert "secret" not in text

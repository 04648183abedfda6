"""The retry loop's rules, shown on real traffic through the fault proxy.

These replaced the ``httpx.MockTransport`` tests of ``tests/unit/core/test_core_mechanics.py``:
the server is the real vLLM, the proxy only injects the status or cut a real server cannot be
made to produce on demand, and counts what reached it. Each scenario runs on both twins.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from typing import Any

import pytest
from reliability_helpers import close_client, make_client
from support.faultproxy import Fault, FaultProxy

from vllm_accel import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    ServiceUnavailableError,
)

pytestmark = pytest.mark.live

MESSAGES = [{"role": "user", "content": "Hi"}]
POLICY = RetryPolicy(max_retries=3, initial_delay=0.1, max_delay=1.0, jitter=0.0)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def proxy(chat_server_url: str) -> Any:
    with FaultProxy(chat_server_url) as fault_proxy:
        yield fault_proxy


class Twin:
    """One client of either kind, whose sleeps are real but recorded."""

    def __init__(self, kind: str, url: str, **kwargs: Any) -> None:
        self.kind = kind
        self.sleeps: list[float] = []

        if kind == "sync":
            def sleep(delay: float) -> None:
                self.sleeps.append(delay)
                time.sleep(delay)
        else:
            async def sleep(delay: float) -> None:  # type: ignore[misc]
                self.sleeps.append(delay)
                await asyncio.sleep(delay)

        # RetryPolicy.sleep is the documented seam for the sleeps between attempts.
        kwargs["retry"] = dataclasses.replace(kwargs.get("retry", POLICY), sleep=sleep)
        self.client = make_client(kind, url, 120.0, **kwargs)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        return await result if self.kind == "async" else result

    async def close(self) -> None:
        await close_client(self.client)


async def test_retry_after_is_honoured_and_the_request_id_is_kept(
        kind: str, proxy: FaultProxy, caplog: pytest.LogCaptureFixture) -> None:
    proxy.script(Fault.status(503, retry_after="0.6"), Fault.status(429, retry_after="0.3"))
    twin = Twin(kind, proxy.url, api_key="sk-never-logged")
    caplog.set_level(logging.DEBUG)
    try:
        answer = await twin.call("chat", MESSAGES, max_tokens=2)
    finally:
        await twin.close()
    attempts = proxy.attempts()
    assert answer.text == attempts[-1].text()
    assert [a.status for a in attempts] == [503, 429, 200]
    assert twin.sleeps == [0.6, 0.3]
    assert attempts[1].started - attempts[0].started >= 0.6
    assert attempts[2].started - attempts[1].started >= 0.3
    assert len({a.headers["x-request-id"] for a in attempts}) == 1
    retries = [r.getMessage().split(" [")[0] for r in caplog.records
               if r.getMessage().startswith("retry ")]
    assert retries == ["retry 1 of POST /v1/chat/completions",
                       "retry 2 of POST /v1/chat/completions"]
    assert "sk-never-logged" not in caplog.text
    stats = twin.client.stats()
    assert (stats.total_requests, stats.total_retries, stats.total_errors) == (1, 2, 0)


async def test_backoff_without_retry_after_then_give_up(kind: str, proxy: FaultProxy) -> None:
    proxy.script(*[Fault.status(503)] * 4)
    twin = Twin(kind, proxy.url)
    try:
        with pytest.raises(ServiceUnavailableError) as info:
            await twin.call("complete", "Hi", max_tokens=2)
    finally:
        await twin.close()
    assert twin.sleeps == [0.1, 0.2, 0.4]
    attempts = proxy.attempts()
    assert len(attempts) == 4
    assert info.value.request_id == attempts[0].headers["x-request-id"]
    assert twin.client.stats().total_errors == 1


async def test_retry_after_beyond_the_cap_is_not_waited_for(kind: str,
                                                            proxy: FaultProxy) -> None:
    proxy.script(Fault.status(429, retry_after="3600"))
    twin = Twin(kind, proxy.url)
    try:
        with pytest.raises(RateLimitError) as info:
            await twin.call("chat", MESSAGES, max_tokens=2)
    finally:
        await twin.close()
    assert info.value.retry_after == 3600.0
    assert twin.sleeps == []
    assert proxy.count() == 1


async def test_the_real_servers_400_is_not_retried(kind: str, proxy: FaultProxy) -> None:
    twin = Twin(kind, proxy.url)
    try:
        with pytest.raises(BadRequestError):
            await twin.call("chat", MESSAGES, max_tokens=2, extra_body={"temperature": "hot"})
    finally:
        await twin.close()
    assert [a.status for a in proxy.attempts()] == [400]
    assert twin.sleeps == []


async def test_stream_sends_include_usage_and_sse_accept(kind: str, proxy: FaultProxy) -> None:
    twin = Twin(kind, proxy.url)
    try:
        stream = twin.client.stream_chat(MESSAGES, max_tokens=2)
        if kind == "sync":
            with stream:
                final = stream.final()
        else:
            async with stream:
                final = await stream.final()
    finally:
        await twin.close()
    (attempt,) = proxy.attempts()
    assert attempt.body["stream"] is True
    assert attempt.body["stream_options"] == {"include_usage": True}
    assert attempt.headers["accept"] == "text/event-stream"
    assert final.usage is not None
    assert final.usage.completion_tokens >= 1
    assert json.loads(attempt.events[-2])["usage"]["completion_tokens"] == (
        final.usage.completion_tokens)


async def test_lora_load_is_never_retried(kind: str, chat_server_url: str, lora_path: str) -> None:
    with FaultProxy(chat_server_url, paths={"/v1/load_lora_adapter"}) as proxy:
        proxy.script(Fault.status(500))
        twin = Twin(kind, proxy.url)
        try:
            with pytest.raises(InternalServerError):
                await twin.call("load_lora_adapter", "never-retried", lora_path)
        finally:
            await twin.close()
        assert proxy.count() == 1
        assert twin.sleeps == []


async def test_api_key_rotation_and_secrecy(kind: str, keyed_server_url: str,
                                            api_key: str) -> None:
    with FaultProxy(keyed_server_url) as proxy:
        twin = Twin(kind, proxy.url, api_key=api_key)
        try:
            await twin.call("chat", MESSAGES, max_tokens=2)
            twin.client.set_api_key("sk-second-secret")
            with pytest.raises(AuthenticationError) as info:
                await twin.call("chat", MESSAGES, max_tokens=2)
        finally:
            await twin.close()
        first, second = proxy.attempts()
        assert first.headers["authorization"] == f"Bearer {api_key}"
        assert (first.status, second.status) == (200, 401)
        assert second.headers["authorization"] == "Bearer sk-second-secret"
    for text in (repr(twin.client), str(twin.client), str(info.value), repr(info.value),
                 repr(twin.client.stats())):
        assert "secret" not in text
        assert api_key not in text

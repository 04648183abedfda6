"""Typed errors from the real server, and a stream closed early that vLLM then aborts."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from core_live_helpers import resolve

from vllm_accel import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ContextLengthError,
    NotFoundError,
    RetryPolicy,
    VLLMClient,
)
from vllm_accel.server import free_port

pytestmark = pytest.mark.live

HELLO = [{"role": "user", "content": "Say hello."}]


async def test_unknown_model_is_not_found_and_not_retried(chat_client: Any) -> None:
    with pytest.raises(NotFoundError, match="does not exist") as info:
        await resolve(chat_client.chat(HELLO, model="no-such-model", max_tokens=1))
    record = chat_client.stats().recent[-1]
    assert info.value.status_code == 404
    assert info.value.request_id == record.request_id
    assert info.value.body["error"]["param"] == "model"
    assert (record.status, record.retries, record.error) == (404, 0, "NotFoundError")


async def test_prompt_longer_than_the_context_is_a_context_length_error(chat_client: Any) -> None:
    prompt = "hello " * 3000
    with pytest.raises(ContextLengthError, match="context length|characters"):
        await resolve(chat_client.chat([{"role": "user", "content": prompt}], max_tokens=1))
    with pytest.raises(ContextLengthError):  # the same check happens before a stream starts
        await resolve(chat_client.stream_chat(
            [{"role": "user", "content": prompt}], max_tokens=1).final())


async def test_max_tokens_beyond_the_model_is_a_bad_request(chat_client: Any) -> None:
    with pytest.raises(BadRequestError, match="max_model_len=2048") as info:
        await resolve(chat_client.chat(HELLO, max_tokens=5000))
    assert not isinstance(info.value, ContextLengthError)


def test_generation_route_on_the_embedding_server_is_not_found(embed_server_url: str) -> None:
    with VLLMClient(embed_server_url) as client, pytest.raises(NotFoundError, match="Not Found"):
        client.chat(HELLO, max_tokens=1)


def test_dead_server_is_a_connection_error_after_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    policy = RetryPolicy(max_retries=2, initial_delay=0.01, jitter=0.0)
    with VLLMClient(url, retry=policy) as client:
        with pytest.raises(APIConnectionError, match="ConnectError"):
            client.chat(HELLO)
        assert client.stats().recent[-1].retries == 2
        assert client.health() is False
        assert client.test_endpoint() is False
        assert client.test_chat_endpoint() is False


def test_read_timeout_is_a_timeout_error(chat_server_url: str) -> None:
    with VLLMClient(chat_server_url, timeout=httpx.Timeout(0.01, connect=5.0),
                    max_retries=0) as client, pytest.raises(APITimeoutError):
        client.chat(HELLO, max_tokens=200, ignore_eos=True)


def test_closing_a_stream_early_makes_vllm_stop_generating(chat_server_url: str) -> None:
    with VLLMClient(chat_server_url) as client:
        def generated() -> float:
            return client.metrics().total("vllm:generation_tokens_total", model_name="smollm2")

        before = generated()
        with client.stream_chat(HELLO, max_tokens=1500, ignore_eos=True) as stream:
            for i, _ in enumerate(stream.text_deltas()):
                if i == 3:
                    break
        assert stream.response is not None
        assert stream.response.is_closed
        record = next(r for r in reversed(client.stats().recent) if r.request_id ==
                      stream.request_id)
        assert record.cancelled
        assert record.error is None
        # The counter must stop rising soon after the close (it would rise for minutes if vLLM
        # kept generating 1500 tokens).
        last, deadline = generated(), time.monotonic() + 60
        while True:
            time.sleep(1.5)
            now = generated()
            if now == last:
                break
            assert time.monotonic() < deadline, "vLLM kept generating after the stream closed"
            last = now
        assert last - before < 750

"""Behaviour the two twins used to disagree on (issue 12); each test failed on 4bc8e03.

``httpx.MockTransport`` only answers with a status or a connection error here: these pin the
fan-out and probe mechanics, not what vLLM answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from vllm_accel import (
    AsyncVLLMClient,
    Endpoint,
    EndpointPool,
    InvalidRequestError,
    RetryPolicy,
    VLLMClient,
    VLLMError,
)

pytestmark = pytest.mark.unit

LOCAL, REMOTE = "http://127.0.0.1:9", "http://remote.test:8000"


def _mock(kind: str, handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    transport = httpx.MockTransport(handler)
    return httpx.Client(transport=transport) if kind == "sync" else httpx.AsyncClient(
        transport=transport)


async def _run(kind: str, result: Any) -> Any:
    return await result if kind == "async" else result


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_pool_load_is_sent_everywhere_before_a_local_refusal_is_raised(kind: str) -> None:
    # The local endpoint refuses a folder that does not exist on this machine (before any
    # request); the remote one cannot check it, so its load goes out. The sync twin used to
    # stop at the first refusal and never send the other load.
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host} {request.url.path}")
        raise httpx.ConnectError("refused", request=request)

    cls = VLLMClient if kind == "sync" else AsyncVLLMClient
    client = cls(endpoints=[Endpoint(LOCAL), Endpoint(REMOTE)], max_retries=0,
                 http_client=_mock(kind, handler))
    with pytest.raises(InvalidRequestError, match="does not exist"):
        await _run(kind, client.load_lora_adapter("ad", "/no/such/adapter", everywhere=True))
    assert seen == ["remote.test /v1/models"]  # the remote endpoint was asked
    assert not any(h.startswith("127.0.0.1") for h in seen)


def _health_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vllm-accel-health" and t.is_alive()]


async def _until(predicate: Callable[[], bool], kind: str) -> bool:
    for _ in range(500):  # up to ~5 s: a wait for the prober, not a speed assertion
        if predicate():
            return True
        if kind == "async":
            await asyncio.sleep(0.01)
        else:
            time.sleep(0.01)
    return False


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_health_probes_start_with_the_first_pooled_request_in_both_twins(kind: str) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={})

    cls = VLLMClient if kind == "sync" else AsyncVLLMClient
    pool = EndpointPool([LOCAL, REMOTE], health_check_interval=0.01)
    client = cls(endpoints=pool, http_client=_mock(kind, handler))
    try:
        assert _health_threads() == []  # nothing runs before the first request
        await _run(kind, client.make_post_request("/v1/completions", {"prompt": "x"}))
        assert await _until(lambda: "/health" in paths, kind)
    finally:
        await _run(kind, client.aclose() if kind == "async" else client.close())
    assert _health_threads() == []


A, B = "http://a.test:8000", "http://b.test:8000"
FAN_OUTS: dict[str, Callable[[VLLMClient], Any]] = {
    "check_health": lambda c: c.check_health(),
    "models": lambda c: c.models(),
    "statistics": lambda c: c.get_model_statistics_by_endpoint(),
    "load": lambda c: c.load_lora_adapter("ad", "org/adapter", everywhere=True),
    "unload": lambda c: c.unload_lora_adapter("ad"),
}


@pytest.mark.parametrize("fan_out", list(FAN_OUTS))
def test_sync_fan_outs_ask_every_endpoint_at_once_in_endpoint_order(fan_out: str) -> None:
    # Both endpoints' requests must be in flight together to pass the two-party barrier (the
    # old sequential loop broke it). a answers 200 to /health, everything else is a 503.
    barrier = threading.Barrier(2, timeout=5)

    def handler(request: httpx.Request) -> httpx.Response:
        barrier.wait()
        ok = request.url.host == "a.test" and request.url.path == "/health"
        return httpx.Response(200 if ok else 503, json={})

    client = VLLMClient(endpoints=[A, B], max_retries=0, http_client=_mock("sync", handler))
    try:
        answer = FAN_OUTS[fan_out](client)
    except VLLMError as exc:  # every endpoint answered 503: the answers are in the error
        answer = getattr(exc, "causes", None)
        assert isinstance(answer, dict)
        assert all(isinstance(e, VLLMError) and e.status_code == 503 for e in answer.values())
    assert list(answer) == [A, B]
    if fan_out == "check_health":
        assert answer == {A: True, B: False}


@dataclasses.dataclass(frozen=True)
class _TaggedPolicy(RetryPolicy):
    tag: str = ""


def test_a_per_request_retry_limit_keeps_every_other_policy_field() -> None:
    # ``_policy`` used to copy RetryPolicy field by field: a new field (or subclass) was lost.
    policy = _TaggedPolicy(max_retries=5, initial_delay=0.1, tag="kept")
    client = VLLMClient("http://127.0.0.1:9", retry=policy)
    call = client._call("GET", "/health", max_retries=0)
    assert client._policy(call) == _TaggedPolicy(max_retries=0, initial_delay=0.1, tag="kept")

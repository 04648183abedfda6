"""The send loops of both twins, driven through a decision table by ``httpx.MockTransport``.

This pins the retry and failover decisions (attempts, the sleeps taken, the typed error); it
does not stand in for vLLM (the answers are a status, a ``Retry-After`` and an empty body; the
live fault matrix is the proof against the real server). The sleep and the clock go in through
the documented seam, ``RetryPolicy(sleep=..., clock=...)``.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from vllm_accel import (
    AllEndpointsFailedError,
    APIStatusError,
    AsyncVLLMClient,
    BadRequestError,
    ConflictError,
    EndpointPool,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServiceUnavailableError,
    VLLMClient,
    VLLMError,
)

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0
POLICY = RetryPolicy(max_retries=2, initial_delay=0.5, max_delay=8.0, max_retry_after=60.0,
                     jitter=0.0, clock=lambda: NOW)
URLS = ["http://a.test:8000", "http://b.test:8000"]
DATE = email.utils.format_datetime(datetime.fromtimestamp(NOW + 2, tz=UTC), usegmt=True)
RETRY_AFTER = {"none": None, "seconds": "1", "date": DATE, "over-cap": "120"}
ERRORS: dict[int, type[APIStatusError]] = {
    408: RequestTimeoutError, 409: ConflictError, 429: RateLimitError,
    500: InternalServerError, 502: InternalServerError, 503: ServiceUnavailableError,
    504: InternalServerError, 400: BadRequestError, 404: NotFoundError,
}
RETRYABLE = {408, 409, 429, 500, 502, 503, 504}

# What a persistent answer leads to, written out (not computed): attempts, sleeps.
SINGLE = {"none": (3, [0.5, 1.0]), "seconds": (3, [1.0, 1.0]), "date": (3, [2.0, 2.0]),
          "over-cap": (1, [])}
"""One server: the backoff, or the Retry-After; one over the cap is not waited for."""
POOLED = {"none": (3, [1.0]), "seconds": (3, [1.0]), "date": (3, [2.0]), "over-cap": (2, [])}
"""Two servers: the second attempt moves at once; then the same wait as one server; a
Retry-After over the cap still moves to the untried endpoint, then gives up."""


@dataclasses.dataclass
class Run:
    attempts: list[str]
    sleeps: list[float]
    error: BaseException | None


def _handler(status: int, retry_after: str | None, stream: bool,
             attempts: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.host)
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        if status != 200:
            return httpx.Response(status, headers=headers, json={"error": {"message": "x"}})
        if stream:
            return httpx.Response(200, stream=httpx.ByteStream(b"data: [DONE]\n\n"),
                                  headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json={})
    return handle


def _client(kind: str, handler: Callable[[httpx.Request], httpx.Response], pooled: bool,
            sleeps: list[float]) -> Any:
    def sleep(delay: float) -> None:
        sleeps.append(delay)

    async def asleep(delay: float) -> None:
        sleeps.append(delay)

    policy = dataclasses.replace(POLICY, sleep=sleep if kind == "sync" else asleep)
    transport = httpx.MockTransport(handler)
    where: dict[str, Any] = ({"endpoints": EndpointPool(URLS)} if pooled
                             else {"base_url": URLS[0]})
    if kind == "sync":
        return VLLMClient(retry=policy, http_client=httpx.Client(transport=transport), **where)
    return AsyncVLLMClient(retry=policy, http_client=httpx.AsyncClient(transport=transport),
                           **where)


async def _drive(kind: str, status: int, retry_after: str | None, pooled: bool,
                 stream: bool) -> Run:
    attempts: list[str] = []
    sleeps: list[float] = []
    client = _client(kind, _handler(status, retry_after, stream, attempts), pooled, sleeps)
    error: BaseException | None = None
    try:
        if stream and kind == "sync":
            list(client.make_stream_request("/v1/completions", {"prompt": "x"}))
        elif stream:
            [event async for event in client.make_stream_request("/v1/completions",
                                                                 {"prompt": "x"})]
        elif kind == "sync":
            client.make_post_request("/v1/completions", {"prompt": "x"})
        else:
            await client.make_post_request("/v1/completions", {"prompt": "x"})
    except VLLMError as exc:
        error = exc
    return Run(attempts, sleeps, error)


def _expected(status: int, retry_after: str, pooled: bool) -> tuple[int, list[float], type | None]:
    if status == 200:
        return 1, [], None
    if status not in RETRYABLE:
        return 1, [], ERRORS[status]
    attempts, sleeps = (POOLED if pooled else SINGLE)[retry_after]
    return attempts, sleeps, AllEndpointsFailedError if pooled else ERRORS[status]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("pooled", [False, True], ids=["single", "pool"])
@pytest.mark.parametrize("retry_after", list(RETRY_AFTER))
@pytest.mark.parametrize("status", [200, 408, 409, 429, 500, 502, 503, 504, 400, 404])
async def test_send_loop_table(kind: str, status: int, retry_after: str, pooled: bool,
                               stream: bool) -> None:
    run = await _drive(kind, status, RETRY_AFTER[retry_after], pooled, stream)
    attempts, sleeps, error = _expected(status, retry_after, pooled)
    assert len(run.attempts) == attempts
    assert run.sleeps == pytest.approx(sleeps)
    if error is None:
        assert run.error is None
        return
    assert type(run.error) is error
    if pooled and status in RETRYABLE:
        assert isinstance(run.error, AllEndpointsFailedError)
        assert sorted(run.error.causes) == sorted(URLS)  # both endpoints were tried
        assert all(type(c) is ERRORS[status] for c in run.error.causes.values())
        assert set(run.attempts) == {"a.test", "b.test"}
    else:
        assert run.error.status_code == status  # type: ignore[union-attr]


def test_the_table_covers_the_retry_statuses() -> None:
    assert set(RetryPolicy().retry_statuses) == RETRYABLE
    assert json.dumps(RETRY_AFTER)  # the four Retry-After forms

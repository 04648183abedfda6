"""Shared pieces of the reliability tests: client factories, a latency measure, closing."""

from __future__ import annotations

import time
from typing import Any

import httpx

from vllm_accel import AsyncVLLMClient, RetryPolicy, VLLMClient

# Fast retries: the matrix checks what is retried and how often, not how long backoff waits.
FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.05, max_delay=0.2, jitter=0.0)


def measure_latency(base_url: str, api_key: str | None = None, samples: int = 3) -> float:
    """The worst of a few tiny real generations (seconds), to size timeouts to this machine.

    A shared CPU server answers 3 tokens in 0.2 s when idle and in several seconds when other
    sessions load it; a fixed short timeout would make the delay cells flaky, a fixed long one
    would make them slow.
    """
    worst = 0.0
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(timeout=120, headers=headers) as http:
        for _ in range(samples):
            t0 = time.monotonic()
            http.post(f"{base_url}/v1/completions",
                      json={"prompt": "Hi", "max_tokens": 3}).raise_for_status()
            worst = max(worst, time.monotonic() - t0)
    return worst


def make_client(kind: str, url: str | None, read_timeout: float, *, connect: float = 2.0,
                **kwargs: Any) -> Any:
    """A sync or async client with a short read timeout and fast retries (``url`` None: pass
    ``endpoints``)."""
    kwargs.setdefault("retry", FAST_RETRY)
    timeout = httpx.Timeout(read_timeout, connect=connect)
    if kind == "sync":
        return VLLMClient(url, timeout=timeout, **kwargs)
    return AsyncVLLMClient(url, timeout=timeout, **kwargs)


async def close_client(client: Any) -> None:
    """Close either twin."""
    if isinstance(client, AsyncVLLMClient):
        await client.aclose()
    else:
        client.close()

"""Every default constant, environment variable name and small config object, in one place.

Example:
    >>> policy = RetryPolicy(max_retries=5, max_delay=4.0)
    >>> policy.retry_statuses
    frozenset({408, 409, 429, 500, 502, 503, 504})
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # httpx is imported on first use: the integrations import these constants
    import httpx

__all__ = [
    "CAPACITY_SCRAPE_TIMEOUT",
    "CAPACITY_TTL",
    "DEFAULT_BASE_URL",
    "DEFAULT_BATCH_CONCURRENCY",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_MODEL",
    "MAX_COMPLETION_PROMPTS",
    "MAX_STOP_STRINGS",
    "STATS_WINDOW",
    "RetryPolicy",
    "make_timeout",
    "normalize_base_url",
]

ENV_BASE_URL = "VLLM_BASE_URL"
"""Environment variable read when ``base_url`` is not given."""
ENV_API_KEY = "VLLM_API_KEY"
"""Environment variable read when ``api_key`` is not given (``OPENAI_API_KEY`` is never read)."""
ENV_MODEL = "VLLM_MODEL"
"""Environment variable read when ``model`` is not given."""

DEFAULT_BASE_URL = "http://localhost:8000"
DEFAULT_TIMEOUT = 600.0
"""Seconds for read/write/pool; generation on a busy CPU server can be slow."""
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_BATCH_CONCURRENCY = 64
"""The fan-out concurrency when the server's ``/metrics`` tells nothing about its capacity."""
CAPACITY_TTL = 30.0
"""Seconds a client reuses its ``/metrics`` scrape for the capacity-following batch default."""
CAPACITY_SCRAPE_TIMEOUT = 5.0
"""Seconds the capacity scrape may take before the batch falls back to the fixed default."""

MAX_STOP_STRINGS = 4
"""vLLM 0.32's default ``VLLM_MAX_STOP_STRINGS``; a 5th stop string is a 400."""
MAX_COMPLETION_PROMPTS = 1024
"""vLLM 0.32's default ``VLLM_MAX_COMPLETION_PROMPTS``: prompts per ``/v1/completions`` request."""
MAX_TEMPERATURE = 2.0
STATS_WINDOW = 10_000
"""Per-request records kept for percentiles (totals are kept for every request)."""
DEFAULT_DEADLINE: float | None = None
"""No overall per-request deadline by default (a long generation is legitimate); set
``deadline=`` on the client or per call to bound a trickling body or an endless stream."""
DEFAULT_MAX_RESPONSE_BYTES: int | None = 256 * 1024 * 1024
"""256 MiB: far above any real answer (1024 embeddings of 4096 floats are ~80 MiB of JSON),
low enough that a runaway response cannot exhaust memory."""
ENDPOINT_TEST_TIMEOUT = 30.0
"""Seconds ``is_compatible_model`` waits for ``/v1/models`` before using the name heuristic."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before retrying a failed request.

    The delay before retry ``n`` (0-based) is ``min(initial_delay * 2**n, max_delay)``, reduced
    by up to ``jitter`` (a fraction) at random. A ``Retry-After`` header, when present, replaces
    it; one longer than ``max_retry_after`` seconds stops retrying instead.

    Example:
        >>> VLLMClient(retry=RetryPolicy(max_retries=4, initial_delay=0.2))  # doctest: +SKIP
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    """Retries after the first attempt (0 disables retrying)."""
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    jitter: float = 0.25
    retry_statuses: frozenset[int] = field(
        default=frozenset({408, 409, 429, 500, 502, 503, 504})
    )
    sleep: Callable[[float], Any] | None = field(default=None, compare=False)
    """How to wait between attempts (None: ``time.sleep`` / ``asyncio.sleep``, by flavour).

    A seam for tests and schedulers: a sync client calls it, an async client awaits what it
    returns (so give an ``AsyncVLLMClient`` a coroutine function)."""
    clock: Callable[[], float] | None = field(default=None, compare=False)
    """The Unix time an HTTP-date ``Retry-After`` is measured from (None: ``time.time``)."""

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.initial_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("retry delays must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be in [0, 1]")


def make_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    """A float becomes ``httpx.Timeout(timeout, connect=5)``; ``None`` means the default."""
    import httpx

    if isinstance(timeout, httpx.Timeout):
        return timeout
    total = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    return httpx.Timeout(total, connect=min(DEFAULT_CONNECT_TIMEOUT, total))


def normalize_base_url(base_url: str | None) -> str:
    """The server root without a trailing ``/`` or ``/v1`` (env ``VLLM_BASE_URL`` if None)."""
    url = base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    url = url.strip().rstrip("/")
    url = url.removesuffix("/v1")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return url

"""Capacity-following fan-out concurrency (pure): how many requests a batch keeps in flight.

A batch that must fan out (tools, streams, ``n > 1``, a pool) used to keep at most 64 requests
in flight, whatever the server. vLLM tells how much it can hold: ``vllm:cache_config_info``
carries the KV cache's ``num_gpu_blocks`` and ``block_size`` (and ``kv_cache_max_concurrency``,
the number of requests of the full context length that fit), ``vllm:kv_cache_usage_perc`` the
share in use now, ``vllm:num_requests_waiting`` the queue. :func:`fanout_concurrency` turns one
``/metrics`` scrape into the default concurrency:

* requests of a known size (``tokens_per_request``: prompt plus answer tokens) fit
  ``free blocks // blocks per request`` at once, where free blocks are the unused share of the
  cache less the blocks the queued requests will take first;
* of an unknown size, the worst case: ``kv_cache_max_concurrency`` (full-context requests) on
  the unused share of the cache;
* clamped to ``[floor, ceiling]`` (the ceiling stands for the scheduler's ``max_num_seqs``,
  which ``/metrics`` does not report), and ``default`` when the scrape has no cache figures.

More requests than fit only wait in vLLM's queue (no error), fewer leave the batch slower than
the server allows, so the estimate errs on the large side: prefix sharing is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import InvalidRequestError

if TYPE_CHECKING:  # _metrics imports the pydantic models (import cost)
    from ._metrics import MetricsSnapshot

__all__ = ["Capacity", "ScrapeCache", "batch_concurrency", "batch_tokens", "capacity",
           "estimate_tokens", "fanout_concurrency"]

DEFAULT_CONCURRENCY = 64
"""The fixed default of before: used when the scrape tells nothing about the cache."""
DEFAULT_FLOOR = 8
DEFAULT_CEILING = 256
"""vLLM's default ``max_num_seqs`` (the scheduler runs at most that many at once)."""
CHARS_PER_TOKEN = 3.0
"""A deliberately low estimate of characters per token (English averages about 4)."""


@dataclass(frozen=True, slots=True)
class Capacity:
    """What a scrape says about room for more requests, and the concurrency derived from it."""

    concurrency: int
    """The fan-out concurrency to use (within ``[floor, ceiling]``)."""
    source: str
    """``kv_blocks`` (sized requests), ``kv_max_concurrency`` (worst case) or ``default``."""
    fits: float | None
    """Requests the free cache holds before clamping (None: unknown)."""
    num_gpu_blocks: int | None
    block_size: int | None
    kv_cache_usage: float
    running: int
    waiting: int


def _label_number(snap: MetricsSnapshot, key: str) -> float | None:
    """The sum over engines of a numeric ``vllm:cache_config_info`` label (None: absent)."""
    values = []
    for sample in snap.samples("vllm:cache_config_info"):
        try:
            values.append(float(sample.labels[key]))
        except (KeyError, ValueError):
            return None
    return sum(values) if values else None


def _first_label(snap: MetricsSnapshot, key: str) -> float | None:
    samples = snap.samples("vllm:cache_config_info")
    try:
        return float(samples[0].labels[key]) if samples else None
    except (KeyError, ValueError):
        return None


def estimate_tokens(prompt_chars: int, max_tokens: int | None,
                    max_model_len: int | None = None) -> int | None:
    """Tokens one request may hold in the KV cache: its prompt (from characters) and answer.

    Args:
        prompt_chars: characters of the longest prompt (chat: every message's text).
        max_tokens: the answer's limit; None means up to the context length.
        max_model_len: the context length (needed when ``max_tokens`` is None).

    Returns:
        The estimate, or None when it cannot be bounded (no ``max_tokens``, no context length).
    """
    prompt = int(prompt_chars / CHARS_PER_TOKEN) + 1
    if max_tokens is not None:
        total = prompt + max_tokens
        return min(total, max_model_len) if max_model_len else total
    return max_model_len


def _check(floor: int, ceiling: int, tokens_per_request: int | None) -> None:
    if floor < 1 or ceiling < floor:
        raise InvalidRequestError("concurrency needs 1 <= floor <= ceiling")
    if tokens_per_request is not None and tokens_per_request < 1:
        raise InvalidRequestError("tokens_per_request must be >= 1")


def capacity(snap: MetricsSnapshot, *, tokens_per_request: int | None = None,
             model: str | None = None, floor: int = DEFAULT_FLOOR,
             ceiling: int = DEFAULT_CEILING, default: int = DEFAULT_CONCURRENCY) -> Capacity:
    """The room a scrape shows and the concurrency derived from it (see the module docs).

    Args:
        snap: a parsed ``/metrics`` scrape of the server
            (:func:`~vllm_accel._metrics.parse_metrics`).
        tokens_per_request: prompt plus answer tokens of one request (see :func:`estimate_tokens`);
            None: assume full-context requests.
        model: the ``model_name`` label of the gauges (None: every model's).
        floor: never fewer requests in flight.
        ceiling: never more (the server's ``max_num_seqs``, when known).
        default: the concurrency when the scrape has no KV cache figures.

    Raises:
        InvalidRequestError: ``floor``/``ceiling``/``tokens_per_request`` out of range.
    """
    _check(floor, ceiling, tokens_per_request)
    labels = {"model_name": model} if model else {}
    usage = min(1.0, max(0.0, snap.value("vllm:kv_cache_usage_perc", **labels) or 0.0))
    running = int(snap.total("vllm:num_requests_running", **labels))
    waiting = int(snap.total("vllm:num_requests_waiting", **labels))
    blocks = _label_number(snap, "num_gpu_blocks")
    block_size = _first_label(snap, "block_size")
    fits: float | None = None
    source = "default"
    if tokens_per_request is not None and blocks and block_size:
        per = -(-tokens_per_request // int(block_size))  # blocks, rounded up
        fits = max(0.0, blocks * (1.0 - usage) - waiting * per) / per
        source = "kv_blocks"
    else:
        worst = _label_number(snap, "kv_cache_max_concurrency")
        if worst:
            fits = max(0.0, worst * (1.0 - usage) - waiting)
            source = "kv_max_concurrency"
    value = default if fits is None else int(fits)
    return Capacity(
        concurrency=max(floor, min(ceiling, value)), source=source, fits=fits,
        num_gpu_blocks=None if blocks is None else int(blocks),
        block_size=None if block_size is None else int(block_size),
        kv_cache_usage=usage, running=running, waiting=waiting)


def fanout_concurrency(snap: MetricsSnapshot, *, tokens_per_request: int | None = None,
                       model: str | None = None, floor: int = DEFAULT_FLOOR,
                       ceiling: int = DEFAULT_CEILING,
                       default: int = DEFAULT_CONCURRENCY) -> int:
    r"""The default fan-out concurrency for a batch on the server of ``snap``.

    Example:
        >>> from vllm_accel._metrics import parse_metrics
        >>> snap = parse_metrics('vllm:cache_config_info{block_size="128",num_gpu_blocks="364",'
        ...                      'kv_cache_max_concurrency="22.75"} 1.0\n')
        >>> fanout_concurrency(snap, tokens_per_request=60)   # 364 one-block requests fit
        256
        >>> fanout_concurrency(snap, tokens_per_request=1000)  # 8 blocks each: 45 fit
        45
        >>> fanout_concurrency(snap)  # unknown size: full-context requests
        22
    """
    return capacity(snap, tokens_per_request=tokens_per_request, model=model, floor=floor,
                    ceiling=ceiling, default=default).concurrency


def batch_tokens(prompts: Sequence[Any], params: Mapping[str, Any]) -> int | None:
    """Tokens the largest request of a batch may hold (:func:`estimate_tokens`; None: unbounded).

    Args:
        prompts: the batch (strings or message lists).
        params: the request fields of every item (``max_tokens``/``max_completion_tokens``).
    """
    limit = params.get("max_tokens") or params.get("max_completion_tokens")
    if limit is None or not prompts:
        return None
    return estimate_tokens(max(_chars(p) for p in prompts), int(limit))


def _chars(prompt: Any) -> int:
    if isinstance(prompt, str):
        return len(prompt)
    return sum(len(str(m.get("content") or "")) for m in prompt if isinstance(m, Mapping))


def batch_concurrency(snaps: Sequence[MetricsSnapshot | None], *, tokens_per_request: int | None,
                      model: str | None = None, default: int = DEFAULT_CONCURRENCY) -> int:
    """The capacity-following default concurrency of a fan-out over one or more endpoints.

    Each endpoint holds what its own scrape says (never less than ``default``: vLLM queues
    what does not fit, without error, and allocates KV blocks as tokens come, so fewer than the
    fixed default never made a batch faster); a pool's concurrency is the sum over its
    endpoints, since the pool spreads the requests over them. An endpoint whose scrape failed
    (None) or says nothing about its cache counts ``default``.

    Args:
        snaps: one scrape per endpoint (None: the scrape failed).
        tokens_per_request: see :func:`batch_tokens`.
        model: the ``model_name`` label of the gauges (None: every model's).
        default: the fixed default (``DEFAULT_BATCH_CONCURRENCY``).
    """
    total = 0
    for snap in snaps:
        if snap is None:
            total += default
            continue
        total += capacity(snap, tokens_per_request=tokens_per_request, model=model,
                          floor=default, ceiling=max(default, DEFAULT_CEILING),
                          default=default).concurrency
    return total or default


class ScrapeCache:
    """A client's last capacity scrape, reused for ``ttl`` seconds.

    Thread-safe enough: two batches racing past an expired entry both scrape, the later kept.
    """

    __slots__ = ("_at", "_snaps", "ttl")

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._at = -math.inf
        self._snaps: list[MetricsSnapshot | None] = []

    def get(self, now: float) -> list[MetricsSnapshot | None] | None:
        """The scrapes of less than ``ttl`` seconds ago, or None."""
        return self._snaps if now - self._at < self.ttl else None

    def put(self, now: float, snaps: list[MetricsSnapshot | None]) -> None:
        """Keep ``snaps`` (taken at ``now``)."""
        self._at, self._snaps = now, snaps

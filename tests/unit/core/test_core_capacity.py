"""Capacity-following fan-out concurrency, on real scrapes of the embedded SmolLM2 server.

``data/metrics_smollm2.txt`` (vLLM 0.32, after mixed traffic) and ``data/metrics_smollm2_fresh.txt``
(the shared dev server, 2026-12-01, bf16, during a burst of chat requests). Both report a KV cache
of 364 blocks of 128 tokens (46,592 tokens) and ``kv_cache_max_concurrency`` 22.75 (2,048-token
requests). The busy-server cases edit only the gauge lines of the real scrape.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vllm_accel import InvalidRequestError
from vllm_accel._capacity import capacity, estimate_tokens, fanout_concurrency
from vllm_accel._metrics import parse_metrics

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data"
SCRAPES = ["metrics_smollm2.txt", "metrics_smollm2_fresh.txt"]


def scrape(name: str = SCRAPES[1], **gauges: float) -> str:
    """A real scrape with the named ``vllm:<gauge>{...}`` values replaced."""
    text = (DATA / name).read_text()
    for gauge, value in gauges.items():
        text, n = re.subn(rf"^(vllm:{gauge}\{{[^}}]*\}}) \S+$", rf"\g<1> {value}", text,
                          flags=re.M)
        assert n == 1, gauge
    return text


@pytest.mark.parametrize("name", SCRAPES)
def test_the_scrapes_cache_figures_are_read(name: str) -> None:
    cap = capacity(parse_metrics(scrape(name)), tokens_per_request=60)
    assert (cap.num_gpu_blocks, cap.block_size, cap.source) == (364, 128, "kv_blocks")
    assert cap.waiting == 0


@pytest.mark.parametrize("name", SCRAPES)
def test_short_requests_fill_up_to_the_ceiling(name: str) -> None:
    # 60 tokens take one 128-token block: about 363 fit, so the scheduler's ceiling decides.
    snap = parse_metrics(scrape(name))
    assert fanout_concurrency(snap, tokens_per_request=60) == 256
    assert fanout_concurrency(snap, tokens_per_request=60, ceiling=128) == 128
    # 128 prompts of the benchmark (16-32 tokens of answer) all go in flight at once,
    # where the fixed default kept 64.
    assert fanout_concurrency(snap, tokens_per_request=estimate_tokens(40, 32)) >= 128


def test_long_requests_fit_by_blocks() -> None:
    snap = parse_metrics(scrape(kv_cache_usage_perc=0.0))
    assert fanout_concurrency(snap, tokens_per_request=1000) == 364 // 8  # 8 blocks each
    assert fanout_concurrency(snap, tokens_per_request=2048) == 22  # 16 blocks each
    assert fanout_concurrency(snap, tokens_per_request=129) == 364 // 2


def test_unknown_size_assumes_full_context_requests() -> None:
    cap = capacity(parse_metrics(scrape(kv_cache_usage_perc=0.0)))
    assert (cap.source, cap.concurrency, cap.fits) == ("kv_max_concurrency", 22, 22.75)


def test_a_busy_cache_and_a_queue_leave_less_room_but_never_below_the_floor() -> None:
    half = parse_metrics(scrape(kv_cache_usage_perc=0.5, num_requests_running=11))
    assert fanout_concurrency(half, tokens_per_request=1000) == 182 // 8
    queued = parse_metrics(scrape(kv_cache_usage_perc=0.5, num_requests_waiting=10))
    assert fanout_concurrency(queued, tokens_per_request=1000) == (182 - 80) // 8
    full = parse_metrics(scrape(kv_cache_usage_perc=1.0, num_requests_waiting=40))
    cap = capacity(full, tokens_per_request=60)
    assert (cap.fits, cap.concurrency, cap.waiting) == (0.0, 8, 40)
    assert fanout_concurrency(full, tokens_per_request=60, floor=2) == 2


def test_model_label_filters_the_gauges() -> None:
    snap = parse_metrics(scrape(kv_cache_usage_perc=0.5))
    assert capacity(snap, model="smollm2").kv_cache_usage == 0.5
    assert capacity(snap, model="other").kv_cache_usage == 0.0


def test_a_scrape_without_cache_figures_gives_the_default() -> None:
    text = "\n".join(line for line in scrape().splitlines()
                     if not line.startswith("vllm:cache_config_info")) + "\n"
    cap = capacity(parse_metrics(text), tokens_per_request=60)
    assert (cap.source, cap.concurrency, cap.fits) == ("default", 64, None)
    assert fanout_concurrency(parse_metrics(""), default=300) == 256


def test_estimate_tokens() -> None:
    assert estimate_tokens(300, 32) == 101 + 32
    assert estimate_tokens(300, None, 2048) == 2048
    assert estimate_tokens(300, None) is None
    assert estimate_tokens(30_000, 100, 2048) == 2048


@pytest.mark.parametrize("kwargs", [{"floor": 0}, {"floor": 10, "ceiling": 5},
                                    {"tokens_per_request": 0}])
def test_bad_bounds_are_typed_errors(kwargs: dict[str, int]) -> None:
    with pytest.raises(InvalidRequestError):
        fanout_concurrency(parse_metrics(scrape()), **kwargs)

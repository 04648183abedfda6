"""/metrics parsing and derived statistics, on a real scrape of the embedded SmolLM2 server
(``data/metrics_smollm2.txt``, captured from vLLM 0.32 after some chat, completion, tokenize
and failing requests)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from vllm_accel import InvalidRequestError, ModelList
from vllm_accel._metrics import (
    histogram_upper_bound,
    model_info,
    model_statistics,
    parse_metrics,
)

pytestmark = pytest.mark.unit

TEXT = (Path(__file__).parent / "data" / "metrics_smollm2.txt").read_text()
START = 1.79563230589e09
MODELS = ModelList.model_validate({"data": [
    {"id": "smollm2", "root": "/models/smollm2", "parent": None, "max_model_len": 2048},
    {"id": "pirate", "root": "/models/lora-pirate", "parent": "smollm2", "max_model_len": None},
]})


@pytest.fixture(scope="module")
def snap():  # type: ignore[no-untyped-def]
    s = parse_metrics(TEXT)
    s.scraped_at = START + 100.0
    return s


def test_parses_every_family(snap) -> None:  # type: ignore[no-untyped-def]
    assert len(snap) > 300
    assert snap.total("vllm:generation_tokens_total", model_name="smollm2") == 614.0
    assert snap.value("vllm:num_requests_running", model_name="smollm2") == 1.0
    assert snap.value("vllm:nope") is None
    assert snap.total("vllm:nope") == 0.0
    assert "vllm:cache_config_info" in snap.names()


def test_model_statistics(snap) -> None:  # type: ignore[no-untyped-def]
    stats = model_statistics(MODELS, snap, None)
    assert stats.model == "smollm2"
    assert stats.metrics_model == "smollm2"
    assert stats.requests_by_finish_reason == {
        "stop": 16, "length": 27, "abort": 0, "error": 0, "repetition": 0}
    assert stats.requests_processed == 43
    assert stats.tokens_generated == 614
    assert stats.prompt_tokens == 2152
    assert stats.avg_tokens_per_request == pytest.approx(595 / 43)
    assert stats.max_tokens_per_request == 100.0  # every request fits the le=100 bucket
    assert stats.avg_generation_time == pytest.approx(306.25427889823914 / 43)
    assert stats.avg_time_to_first_token == pytest.approx(110.30009412765503 / 44)
    assert stats.throughput == pytest.approx(595 / 293.2844270530004)
    assert (stats.errors_4xx, stats.errors_5xx, stats.errors) == (2, 0, 2)
    assert (stats.requests_running, stats.requests_waiting) == (1, 0)
    assert stats.uptime == pytest.approx(100.0)


def test_adapter_statistics_are_the_base_models(snap) -> None:  # type: ignore[no-untyped-def]
    stats = model_statistics(MODELS, snap, "pirate")
    assert stats.model == "pirate"
    assert stats.metrics_model == "smollm2"
    assert stats.tokens_generated == 614


def test_unknown_model_is_refused(snap) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequestError, match="not served; served: smollm2, pirate"):
        model_statistics(MODELS, snap, "llama")


def test_model_info(snap) -> None:  # type: ignore[no-untyped-def]
    info = model_info(MODELS, snap, "0.32.0", "pirate")
    assert info.model == "pirate"
    assert info.parent == "smollm2"
    assert info.max_model_len == 2048  # from the base model
    assert info.gpu_memory_utilization == 0.92
    assert info.kv_cache_dtype == "auto"
    assert info.block_size == 128
    assert info.kv_cache_size_tokens == 46592
    assert info.enable_prefix_caching is True
    assert info.lora_adapters == ["pirate"]
    assert info.server_version == "0.32.0"
    assert info.dtype is None
    assert info.quantization is None


def test_histogram_upper_bound() -> None:
    text = "\n".join([
        "# TYPE t histogram",
        't_bucket{le="1.0"} 0', 't_bucket{le="10.0"} 2', 't_bucket{le="+Inf"} 3',
        "t_count 3", "t_sum 50", "",
    ])
    assert histogram_upper_bound(parse_metrics(text), "t") == math.inf
    text = text.replace('t_bucket{le="10.0"} 2', 't_bucket{le="10.0"} 3')
    assert histogram_upper_bound(parse_metrics(text), "t") == 10.0
    assert histogram_upper_bound(parse_metrics("# TYPE t histogram\nt_count 0\n"), "t") is None


def test_empty_scrape_gives_empty_statistics() -> None:
    stats = model_statistics(MODELS, parse_metrics(""), "smollm2")
    assert stats.requests_processed == 0
    assert stats.avg_tokens_per_request is None
    assert stats.uptime is None

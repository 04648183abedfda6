"""``/metrics`` parsing (on ``prometheus_client``'s parser) and what is derived from it.

:class:`~vllm_accel.ModelStatistics` and :class:`~vllm_accel.ModelInfo` are computed here.

vLLM labels engine metrics with ``model_name`` (its first served name) and counts LoRA traffic
under the base model. HTTP metrics (``http_requests_total``) are per route, not per model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ._errors import InvalidRequestError
from ._models import ModelCard, ModelInfo, ModelList, ModelStatistics

__all__ = ["MetricsSnapshot", "Sample", "model_info", "model_statistics", "parse_metrics"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One Prometheus sample: ``name{labels} value``."""

    name: str
    labels: MappingProxyType[str, str]
    value: float


class MetricsSnapshot:
    r"""A parsed ``/metrics`` scrape, indexed by sample name.

    Example:
        >>> snap = parse_metrics('vllm:generation_tokens_total{model_name="m"} 42.0\\n')
        >>> snap.total("vllm:generation_tokens_total", model_name="m")
        42.0
    """

    def __init__(self, samples: list[Sample], *, scraped_at: float | None = None) -> None:
        self.scraped_at = time.time() if scraped_at is None else scraped_at
        self._by_name: dict[str, list[Sample]] = {}
        for sample in samples:
            self._by_name.setdefault(sample.name, []).append(sample)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_name.values())

    def __iter__(self) -> Iterator[Sample]:
        for samples in self._by_name.values():
            yield from samples

    def names(self) -> list[str]:
        """Every sample name, sorted."""
        return sorted(self._by_name)

    def samples(self, name: str, **labels: str) -> list[Sample]:
        """The samples called ``name`` whose labels include ``labels``."""
        return [
            s for s in self._by_name.get(name, ())
            if all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The first matching sample's value, or None."""
        found = self.samples(name, **labels)
        return found[0].value if found else None

    def total(self, name: str, **labels: str) -> float:
        """The sum of the matching samples (0.0 if none)."""
        return math.fsum(s.value for s in self.samples(name, **labels))


def parse_metrics(text: str) -> MetricsSnapshot:
    """Parse Prometheus text exposition format."""
    from prometheus_client.parser import text_string_to_metric_families  # lazy: import cost

    samples = [
        Sample(s.name, MappingProxyType(dict(s.labels)), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]
    return MetricsSnapshot(samples)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def histogram_upper_bound(snap: MetricsSnapshot, name: str, **labels: str) -> float | None:
    """The smallest bucket bound ``le`` that holds every observation (None if empty).

    A histogram does not keep its maximum; this is an upper bound of it (``inf`` when some
    observation is above the largest finite bucket).
    """
    count = snap.total(f"{name}_count", **labels)
    if not count:
        return None
    bounds = sorted(
        (float(s.labels["le"]), s.value) for s in snap.samples(f"{name}_bucket", **labels)
        if "le" in s.labels
    )
    return next((le for le, cumulative in bounds if cumulative >= count), math.inf)


def _card(models: ModelList, model: str | None) -> ModelCard:
    if model is None:
        bases = models.base_models()
        if not bases:
            raise InvalidRequestError("the server serves no model")
        return bases[0]
    card = models.get(model)
    if card is None:
        raise InvalidRequestError(
            f"model {model!r} is not served; served: {', '.join(models.ids()) or 'none'}"
        )
    return card


def model_statistics(
    models: ModelList, snap: MetricsSnapshot, model: str | None
) -> ModelStatistics:
    """Statistics of ``model`` (default: the first base model) from a ``/metrics`` scrape."""
    card = _card(models, model)
    label = card.parent or card.id
    m = {"model_name": label}
    by_reason = {
        s.labels.get("finished_reason", "?"): int(s.value)
        for s in snap.samples("vllm:request_success_total", **m)
    }
    gen_sum = snap.total("vllm:request_generation_tokens_sum", **m)
    gen_count = snap.total("vllm:request_generation_tokens_count", **m)
    errors_4xx = int(snap.total("http_requests_total", status="4xx"))
    errors_5xx = int(snap.total("http_requests_total", status="5xx"))
    start = snap.value("process_start_time_seconds")
    return ModelStatistics(
        model=card.id,
        metrics_model=label,
        requests_processed=sum(by_reason.values()),
        requests_by_finish_reason=by_reason,
        prompt_tokens=int(snap.total("vllm:prompt_tokens_total", **m)),
        tokens_generated=int(snap.total("vllm:generation_tokens_total", **m)),
        avg_tokens_per_request=_ratio(gen_sum, gen_count),
        max_tokens_per_request=histogram_upper_bound(snap, "vllm:request_generation_tokens", **m),
        avg_generation_time=_ratio(
            snap.total("vllm:e2e_request_latency_seconds_sum", **m),
            snap.total("vllm:e2e_request_latency_seconds_count", **m),
        ),
        avg_time_to_first_token=_ratio(
            snap.total("vllm:time_to_first_token_seconds_sum", **m),
            snap.total("vllm:time_to_first_token_seconds_count", **m),
        ),
        throughput=_ratio(gen_sum, snap.total("vllm:request_inference_time_seconds_sum", **m)),
        errors=errors_4xx + errors_5xx,
        errors_4xx=errors_4xx,
        errors_5xx=errors_5xx,
        requests_running=int(snap.total("vllm:num_requests_running", **m)),
        requests_waiting=int(snap.total("vllm:num_requests_waiting", **m)),
        kv_cache_usage=snap.value("vllm:kv_cache_usage_perc", **m),
        uptime=max(0.0, snap.scraped_at - start) if start else None,
    )


def _cache_config(snap: MetricsSnapshot) -> dict[str, Any]:
    labels = dict(snap.samples("vllm:cache_config_info")[0].labels) if snap.samples(
        "vllm:cache_config_info") else {}

    def num(key: str, kind: type[int] | type[float]) -> Any:
        try:
            return kind(labels[key])
        except (KeyError, ValueError):
            return None

    prefix = labels.get("enable_prefix_caching")
    return {
        "gpu_memory_utilization": num("gpu_memory_utilization", float),
        "kv_cache_dtype": labels.get("cache_dtype"),
        "block_size": num("block_size", int),
        "kv_cache_size_tokens": num("kv_cache_size_tokens", int),
        "enable_prefix_caching": None if prefix is None else prefix == "True",
    }


def model_info(
    models: ModelList, snap: MetricsSnapshot, version: str | None, model: str | None
) -> ModelInfo:
    """What the server tells about ``model`` (default: the first base model)."""
    card = _card(models, model)
    base = models.get(card.parent) if card.parent else card
    base_id = base.id if base is not None else card.parent
    return ModelInfo(
        model=card.id,
        root=card.root,
        parent=card.parent,
        max_model_len=card.max_model_len or (base.max_model_len if base else None),
        lora_adapters=[c.id for c in models.data if c.parent is not None and c.parent == base_id],
        server_version=version or None,
        **_cache_config(snap),
    )

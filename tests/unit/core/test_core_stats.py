"""Client-side statistics: percentiles, grouping, totals."""

from __future__ import annotations

import threading

import pytest

from vllm_accel._stats import NO_MODEL, RequestRecord, StatsRecorder, percentile

pytestmark = pytest.mark.unit


def rec(route: str = "/v1/chat/completions", model: str | None = "smollm2", latency: float = 1.0,
        **kw: object) -> RequestRecord:
    return RequestRecord(request_id="r", route=route, model=model, status=200,
                         latency=latency, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        (list(map(float, range(1, 101))), 95, 95.05),
        (list(map(float, range(1, 101))), 99, 99.01),
    ],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    got = percentile(values, q)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_percentile_rejects_bad_q() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_snapshot_groups_by_endpoint_and_model() -> None:
    stats = StatsRecorder()
    for i in range(1, 101):
        stats.add(rec(latency=i / 100, ttft=i / 1000, prompt_tokens=2, completion_tokens=3))
    stats.add(rec("/v1/completions", "pirate", latency=5.0, error="BadRequestError", retries=2))
    stats.add(rec("/v1/embeddings", None, latency=0.5))
    snap = stats.snapshot()
    assert (snap.total_requests, snap.total_errors, snap.total_retries) == (102, 1, 2)
    assert (snap.prompt_tokens, snap.completion_tokens) == (200, 300)
    chat = snap.by_route["/v1/chat/completions"]
    assert chat.requests == 100
    assert chat.errors == 0
    assert chat.latency_p50 == pytest.approx(0.505)
    assert chat.latency_p95 == pytest.approx(0.9505)
    assert chat.latency_p99 == pytest.approx(0.9901)
    assert chat.ttft_p50 == pytest.approx(0.0505)
    assert snap.by_model["pirate"].errors == 1
    assert snap.by_model["pirate"].retries == 2
    assert snap.by_model[NO_MODEL].requests == 1
    assert snap.by_route["/v1/embeddings"].ttft_p50 is None
    assert snap.success_rate == pytest.approx(101 / 102)
    assert len(snap.recent) == 102


def test_window_bounds_memory_but_totals_keep_counting() -> None:
    stats = StatsRecorder(window=10)
    for _ in range(25):
        stats.add(rec())
    snap = stats.snapshot()
    assert snap.total_requests == 25
    assert len(snap.recent) == 10
    stats.reset()
    assert stats.snapshot().total_requests == 0
    assert stats.snapshot().success_rate is None


def test_thread_safe() -> None:
    stats = StatsRecorder()
    threads = [threading.Thread(target=lambda: [stats.add(rec()) for _ in range(500)])
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.snapshot().total_requests == 4000



def test_the_old_endpoint_names_still_work_with_a_deprecation_warning() -> None:
    recorder = StatsRecorder()
    recorder.add(rec("/v1/embeddings"))
    snap = recorder.snapshot()
    assert set(snap.by_route) == {"/v1/embeddings"}
    with pytest.warns(DeprecationWarning, match="by_route"):
        assert snap.by_endpoint is snap.by_route
    with pytest.warns(DeprecationWarning, match="RequestRecord.route"):
        assert snap.recent[0].endpoint == "/v1/embeddings"

"""The benchmark's pure parts: engine phases from /metrics text, the measured cause of a miss,
the affinity cell's placement share and KV-cache parsing."""

from __future__ import annotations

import pytest

from bench import affinity, causes, phases

pytestmark = pytest.mark.unit

METRICS = """# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
vllm:e2e_request_latency_seconds_bucket{engine="0",le="1.0",model_name="smollm2"} 3.0
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="smollm2"} 12.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="smollm2"} 4.0
vllm:request_queue_time_seconds_sum{engine="0",model_name="smollm2"} 2.0
vllm:request_queue_time_seconds_count{engine="0",model_name="smollm2"} 4.0
vllm:request_prefill_time_seconds_sum{engine="0",model_name="smollm2"} 1.0
vllm:request_prefill_time_seconds_count{engine="0",model_name="smollm2"} 4.0
vllm:prompt_tokens_total{engine="0",model_name="smollm2"} 160.0
vllm:cache_config_info{block_size="128",kv_cache_size_tokens="46592",num_gpu_blocks="364"} 1.0
"""


def test_phases_are_per_request_means_of_the_deltas_and_the_gap_outside_the_engine() -> None:
    after = phases.parse(METRICS)
    assert after == {"e2e_sum": 12.0, "e2e_count": 4.0, "queue_sum": 2.0, "queue_count": 4.0,
                     "prefill_sum": 1.0, "prefill_count": 4.0, "prompt_tokens": 160.0}
    before = {"e2e_sum": 4.0, "e2e_count": 2.0, "prompt_tokens": 60.0}
    got = phases.phases(5.0, before, after)
    assert got == {"e2e_s": 4.0, "queue_s": 0.5, "prefill_s": 0.25, "gap_s": 1.0,
                   "prompt_tokens": 50.0}
    assert phases.phases(5.0, after, after) == {}  # nothing finished: no figures
    assert phases.median_phases([{"gap_s": 1.0}, {"gap_s": 3.0, "e2e_s": 2.0}]) == {
        "e2e_s": 2.0, "gap_s": 2.0}


def _data() -> dict:
    cell = {"fanout": {"seconds": 5.0, "cpu_s_per_1k": 2.0,
                       "phases": {"e2e_s": 4.0, "queue_s": 0.1, "prefill_s": 0.5, "gap_s": 1.0,
                                  "prompt_tokens": 41.0}},
            "process_batch": {"seconds": 6.0, "cpu_s_per_1k": 0.5,
                              "phases": {"e2e_s": 4.2, "queue_s": 0.2, "prefill_s": 0.6,
                                         "gap_s": 1.8, "prompt_tokens": 41.0}}}
    return {"throughput": {"sizes": {"64": cell}},
            "overhead": {"sync": {"core": {"request_us": 800.0, "cpu_s_per_1k": 0.7},
                                  "httpx": {"request_us": 600.0, "cpu_s_per_1k": 0.5}}}}


def test_a_missed_target_gets_its_measured_cause_and_a_met_one_none() -> None:
    tgts = [{"met": False, "cause_key": ["throughput", "64", "process_batch"]},
            {"met": True, "cause_key": ["throughput", "64", "process_batch"]},
            {"met": False, "cause_key": ["overhead", "sync"]},
            {"met": False, "cause_key": ["throughput", "128", "process_batch"]},  # not measured
            {"met": False}]
    causes.attach(_data(), tgts)
    assert tgts[0]["cause"] == (
        "wall 6.00 s vs the ceiling's 5.00 s; client CPU 0.5 vs 2.0 s per 1,000 prompts;"
        " engine per request (mean): end-to-end 4200 ms vs 4000 ms, queue 200 ms vs 100 ms,"
        " prefill 600 ms vs 500 ms; outside the engine (wall - mean end-to-end: client, HTTP,"
        " the server's rendering) 1800 ms vs 1000 ms; prompt tokens per request 41 vs 41")
    assert "cause" not in tgts[1]
    assert tgts[2]["cause"].startswith("800 µs per request vs raw httpx 600 µs; client CPU"
                                       " 0.70 vs 0.50 s per 1,000 requests (+0.20 s")
    assert "cause" not in tgts[3]
    assert "cause" not in tgts[4]


def test_the_affinity_cell_reads_the_kv_cache_and_counts_same_replica_turns() -> None:
    assert affinity.KV.search(METRICS).group(1) == "46592"  # type: ignore[union-attr]
    assert affinity.same_share({"a": ["r1", "r1", "r2"], "b": ["r2", "r2", "r2"]}) == 0.75
    assert affinity.same_share({"a": ["r1"]}) is None


def test_a_chat_path_cause_names_the_completions_row_and_the_chat_templates_tokens() -> None:
    data = _data()
    cell = data["throughput"]["sizes"]["64"]
    cell["process_batch_completions"] = {"seconds": 2.5, "cpu_s_per_1k": 0.4, "ratio": 2.0,
                                         "phases": {"e2e_s": 2.0, "gap_s": 0.5,
                                                    "prompt_tokens": 10.0}}
    got = causes.throughput_cause(data, "64", "process_batch")
    assert got is not None
    assert got.endswith(
        "; the one completions request of the plain prompts ran x2.00 the ceiling with 10"
        " prompt tokens per prompt against this path's 41 (the chat template makes every"
        " prompt 4.1x longer: more server work per conversation on every chat route, the"
        " ceiling's included; bench/batch_phases.py separates that from the route)")
    # Same prompt lengths: the comparison is stated, without the template's verdict.
    cell["process_batch_completions"]["phases"]["prompt_tokens"] = 40.0
    got = causes.throughput_cause(data, "64", "process_batch")
    assert got is not None
    assert got.endswith("against this path's 41")
    # The completions row itself gets no comparison with itself.
    assert "completions request" not in (causes.throughput_cause(
        data, "64", "process_batch_completions") or "")


def test_the_later_turns_hit_rate_takes_the_first_turns_out_of_the_queries() -> None:
    result = {"replicas": {"a": {"hits": 300.0, "queries": 600.0},
                           "b": {"hits": 100.0, "queries": 400.0}}}
    assert affinity.later_hit_rate(result, 500) == 400.0 / 500.0
    assert affinity.later_hit_rate(result, 1000) is None  # nothing but first turns


def test_a_wrappers_floor_miss_names_its_extra_python_calls_by_package() -> None:
    from bench import callprofile

    assert callprofile._bucket("~") == "builtins"
    assert callprofile._bucket("/x/site-packages/langchain_core/messages/ai.py") == "langchain_core"
    assert callprofile._bucket("/repo/langchain_vllm_accel/_base.py") == "langchain_vllm_accel"
    assert callprofile._bucket("/repo/core/_limits.py") == "vllm_accel"
    assert callprofile._bucket("<frozen abc>") == "stdlib, other"
    calls = {
        "lc_floor": {"label": "LangChain floor", "calls": 2000.0,
                     "by_package": {"builtins": 1000.0, "langchain_core": 80.0}},
        "chatvllm": {"label": "ChatVLLM", "calls": 2250.0,
                     "by_package": {"builtins": 1180.0, "langchain_core": 79.0,
                                    "langchain_vllm_accel": 40.0, "vllm_accel": 31.0}},
    }
    assert list(callprofile.extra(calls["chatvllm"], calls["lc_floor"])) == [
        "builtins", "langchain_vllm_accel", "vllm_accel", "langchain_core"]
    data = {"overhead": {"calls": calls, "sync": {"chatvllm": {
        "label": "ChatVLLM", "above_floor_us": 144.0, "core_above_httpx_us": 32.0,
        "floor_us": 964.0}}}}
    text = causes.floor_cause(data, "sync", "chatvllm")
    assert text is not None
    assert "2250 vs 2000 (+250" in text
    assert "builtins +180, langchain_vllm_accel +40, vllm_accel +31" in text
    assert "langchain_core" not in text.split("+250")[1]  # a change of 1 call is not named


def test_a_floor_target_is_missed_when_the_core_adds_nothing_but_the_wrapper_does() -> None:
    from bench import report, report16

    def entry(own: float, core: float) -> dict:
        return {"label": "ChatVLLM", "above_floor_us": own, "core_above_httpx_us": core,
                "overhead_above_floor_vs_core": None, "floor_us": 1000.0}

    data = {"overhead": {"sync": {"chatvllm": entry(32.0, -150.0)},
                         "async": {"chatvllm": entry(-5.0, -150.0)}}}
    sync, asyn = report16._floor_targets(data, report._target)
    assert sync["met"] is False
    assert asyn["met"] is True
    causes.attach(data, [sync])
    assert "32 µs per request above its floor" in sync["cause"]

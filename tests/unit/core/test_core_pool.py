"""The pool's pure logic with a clock the test controls: breaker, policies, placement, failover
decisions, and which key each endpoint's request carries. Nothing here sleeps or opens a socket.
"""

from __future__ import annotations

import pickle
from collections import Counter

import httpx
import pytest

from vllm_accel import (
    AllEndpointsFailedError,
    APIConnectionError,
    BadRequestError,
    CircuitBreaker,
    Endpoint,
    EndpointPool,
    EndpointsFailedError,
    InternalServerError,
    InvalidRequestError,
    LeastOutstanding,
    LoRAAware,
    ModelList,
    ModelStatistics,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    RoundRobin,
    ServiceUnavailableError,
    VLLMClient,
)
from vllm_accel._base import BaseClient
from vllm_accel._fanout import aggregate_statistics, merge_models
from vllm_accel._pool import counts_against, fails_over


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


# -- circuit breaker ------------------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_and_a_success_resets_the_count(
    clock: Clock,
) -> None:
    b = CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=clock)
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state == "closed"
    assert b.allow()
    b.record_failure()
    assert b.state == "open"
    assert not b.allow()
    assert not b.available()


def test_breaker_half_open_lets_exactly_one_probe_through(clock: Clock) -> None:
    b = CircuitBreaker(failure_threshold=1, reset_timeout=10, clock=clock)
    b.record_failure()
    clock.advance(9.99)
    assert not b.allow()
    clock.advance(0.01)
    assert b.available()
    assert b.allow()
    assert b.state == "half-open"
    assert not b.allow()  # the probe is in flight
    assert not b.available()
    b.record_success()
    assert b.state == "closed"
    assert b.allow()
    assert b.allow()


def test_a_failed_probe_reopens_and_restarts_the_timer(clock: Clock) -> None:
    b = CircuitBreaker(failure_threshold=5, reset_timeout=10, clock=clock)
    b.trip()
    clock.advance(10)
    assert b.allow()
    b.record_failure()  # one failure in half-open is enough
    assert b.state == "open"
    clock.advance(9)
    assert not b.allow()
    clock.advance(1)
    assert b.allow()


def test_a_probe_without_verdict_frees_the_probe_slot(clock: Clock) -> None:
    b = CircuitBreaker(failure_threshold=1, reset_timeout=0, clock=clock)
    b.record_failure()
    assert b.allow()
    assert not b.allow()
    b.release()
    assert b.allow()


def test_breaker_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="reset_timeout"):
        CircuitBreaker(reset_timeout=-1)


# -- policies -------------------------------------------------------------------------------------


class Node:
    def __init__(self, name: str, weight: float = 1.0, outstanding: int = 0,
                 models: set[str] | None = None) -> None:
        self.name, self.weight, self.outstanding, self.models = name, weight, outstanding, models

    def serves(self, model: str) -> bool | None:
        return None if self.models is None else model in self.models


def test_round_robin_rotates_over_equal_weights() -> None:
    rr = RoundRobin()
    nodes = [Node("a"), Node("b"), Node("c")]
    assert [rr.choose(nodes, None).name for _ in range(6)] == list("abcabc")


def test_weighted_round_robin_is_smooth_and_proportional() -> None:
    rr = RoundRobin()
    nodes = [Node("a", 2), Node("b", 1)]
    picks = [rr.choose(nodes, None).name for _ in range(30)]
    assert picks[:3] == ["a", "b", "a"]
    assert Counter(picks) == {"a": 20, "b": 10}


def test_least_outstanding_counts_per_weight_and_rotates_ties() -> None:
    lo = LeastOutstanding()
    a, b, c = Node("a", outstanding=4), Node("b", outstanding=1), Node("c", 4, outstanding=3)
    assert lo.choose([a, b, c], None) is c  # 3/4 < 1/1
    a.outstanding = b.outstanding = c.outstanding = 0
    assert {lo.choose([a, b, c], None).name for _ in range(6)} == {"a", "b", "c"}


def test_lora_aware_keeps_a_model_on_the_endpoints_that_serve_it() -> None:
    policy = LoRAAware(RoundRobin())
    a = Node("a", models={"base", "pirate"})
    b = Node("b", models={"base"})
    unknown = Node("u")
    assert {policy.choose([a, b], "pirate").name for _ in range(4)} == {"a"}
    assert {policy.choose([a, b], "base").name for _ in range(4)} == {"a", "b"}
    assert {policy.choose([b, unknown], "pirate").name for _ in range(3)} == {"u"}
    assert {policy.choose([b], "nobody").name for _ in range(2)} == {"b"}
    assert {policy.choose([a, b], None).name for _ in range(4)} == {"a", "b"}


# -- the pool ---------------------------------------------------------------------------------


def _pool(clock: Clock, *names: str, **kwargs: object) -> EndpointPool:
    return EndpointPool([Endpoint(f"http://{n}:8000", name=n, api_key=f"key-{n}")
                         for n in names], clock=clock, **kwargs)  # type: ignore[arg-type]


def test_endpoint_settings_are_checked_and_keys_never_shown() -> None:
    e = Endpoint("gpu-a:8000/v1/", api_key="very-secret")
    assert e.base_url == "http://gpu-a:8000"
    assert e.name == "http://gpu-a:8000"
    assert "very-secret" not in repr(e)
    assert "very-secret" not in repr(EndpointPool([e]))
    with pytest.raises(InvalidRequestError):
        Endpoint("http://a", weight=0)
    with pytest.raises(InvalidRequestError):
        Endpoint("http://a", max_concurrency=0)
    with pytest.raises(InvalidRequestError, match="unique"):
        EndpointPool(["http://a", "http://a/v1"])
    with pytest.raises(InvalidRequestError, match="at least one"):
        EndpointPool([])


def test_acquire_prefers_untried_endpoints_and_respects_concurrency(clock: Clock) -> None:
    pool = EndpointPool([Endpoint("http://a", name="a", max_concurrency=1),
                         Endpoint("http://b", name="b", max_concurrency=1)], clock=clock)
    first = pool.acquire(None)
    assert first is not None
    second = pool.acquire(None)
    assert second is not None
    assert {first.name, second.name} == {"a", "b"}
    assert pool.acquire(None) is None  # both full: the caller waits
    pool.release(first, "success")
    tried = {first.name: APIConnectionError("refused")}
    assert pool.acquire(None, tried) is None  # wait for the untried one, not the failed one
    pool.release(second, "success")
    assert pool.acquire(None, tried) is second
    pool.release(second, "failure")
    pool.release(second, "failure")
    pool.release(second, "failure")  # its circuit opens: the tried one is used again
    assert pool.acquire(None, tried) is first


def test_a_request_fails_over_to_the_untried_endpoint(clock: Clock) -> None:
    pool = _pool(clock, "a", "b")
    state = pool.acquire(None)
    assert state is not None
    causes = {state.name: APIConnectionError("reset")}
    pool.release(state, "failure", causes[state.name])
    assert pool.has_untried(None, causes)
    nxt = pool.acquire(None, causes)
    assert nxt is not None
    assert nxt.name != state.name
    assert not pool.covers(None, causes)
    causes[nxt.name] = InternalServerError("boom", status_code=500)
    assert pool.covers(None, causes)


def test_all_open_circuits_raise_with_each_endpoints_cause(clock: Clock) -> None:
    pool = _pool(clock, "a", "b", failure_threshold=1, reset_timeout=30)
    for name, err in (("a", APIConnectionError("refused")),
                      ("b", InternalServerError("engine dead", status_code=500))):
        state = pool[name]
        state.outstanding += 1
        pool.release(state, "failure", err)
    with pytest.raises(AllEndpointsFailedError) as info:
        pool.acquire(None)
    assert set(info.value.causes) == {"a", "b"}
    assert "engine dead" in str(info.value)
    assert "circuit open" in str(info.value.causes["a"])
    clock.advance(30)  # half-open: one probe each
    assert pool.acquire(None) is not None


def test_breaker_outcomes_of_errors() -> None:
    assert fails_over(APIConnectionError("refused"))
    assert fails_over(InternalServerError("x", status_code=500))
    assert fails_over(ServiceUnavailableError("full", status_code=503))
    assert fails_over(RateLimitError("slow down", status_code=429))
    assert not fails_over(BadRequestError("bad", status_code=400))
    assert not fails_over(APIConnectionError("local", is_retryable=False))
    assert counts_against(APIConnectionError("refused"))
    assert counts_against(InternalServerError("x", status_code=502))
    assert not counts_against(ServiceUnavailableError("full", status_code=503))  # busy
    assert not counts_against(RateLimitError("slow", status_code=429))


def test_placement_learned_from_models_and_own_loads(clock: Clock) -> None:
    pool = _pool(clock, "a", "b", reset_timeout=10)
    assert [s.name for s in pool.needs_models("pirate")] == ["a", "b"]
    assert pool.needs_models(None) == []
    pool.learn_models(pool["a"], ModelList.model_validate(
        {"data": [{"id": "base"}, {"id": "pirate", "parent": "base"}]}))
    pool.learn_models(pool["b"], APIConnectionError("down"))
    assert [s.name for s in pool.eligible("pirate")] == ["a"]
    assert [s.name for s in pool.eligible("base")] == ["a"]  # b's list is unknown
    assert pool.needs_models("other") == []  # b failed just now: not before the timeout
    clock.advance(10)
    assert [s.name for s in pool.needs_models("other")] == ["b"]
    pool.add_model(pool["b"], "pirate")
    assert {s.name for s in pool.eligible("pirate")} == {"a", "b"}
    pool.remove_model(pool["a"], "pirate")
    assert [s.name for s in pool.eligible("pirate")] == ["b"]


def test_auto_load_target_is_the_least_loaded_usable_endpoint(clock: Clock) -> None:
    pool = _pool(clock, "a", "b", lora_paths={"pirate": "/p"}, auto_load_lora=True,
                 failure_threshold=1)
    pool["a"].outstanding = 3
    target = pool.load_target("pirate")
    assert target is not None
    assert target.name == "b"
    pool.release(pool["b"], "failure")
    target = pool.load_target("pirate")
    assert target is not None
    assert target.name == "a"
    assert pool.load_target("unknown-path") is None
    pool.add_model(pool["a"], "pirate")
    assert pool.load_target("pirate") is None  # served already
    assert _pool(clock, "a", lora_paths={"x": "/x"}).load_target("x") is None  # opt-in


def test_pool_stats_report_health_load_and_models(clock: Clock) -> None:
    pool = _pool(clock, "a", "b", failure_threshold=1)
    state = pool.acquire(None)
    assert state is not None
    pool.release(state, "failure", APIConnectionError("refused"))
    stats = pool.stats()
    assert stats[state.name].state == "open"
    assert stats[state.name].last_error == "APIConnectionError: refused"
    assert stats[state.name].outstanding == 0
    assert stats[state.name].models is None


# -- merged answers and errors --------------------------------------------------------------------


def test_models_merge_and_statistics_aggregate() -> None:
    one = ModelList.model_validate({"data": [{"id": "base"}, {"id": "p1", "parent": "base"}]})
    two = ModelList.model_validate({"data": [{"id": "base"}, {"id": "p2", "parent": "base"}]})
    assert merge_models([one, two]).ids() == ["base", "p1", "p2"]
    a = ModelStatistics(model="base", metrics_model="base", requests_processed=30,
                        requests_by_finish_reason={"length": 30}, tokens_generated=90,
                        avg_generation_time=1.0, requests_running=2, uptime=100.0,
                        kv_cache_usage=0.1)
    b = ModelStatistics(model="base", metrics_model="base", requests_processed=10,
                        requests_by_finish_reason={"length": 5, "stop": 5}, tokens_generated=20,
                        avg_generation_time=3.0, requests_running=1, uptime=50.0,
                        kv_cache_usage=0.4)
    total = aggregate_statistics([a, b])
    assert total.requests_processed == 40
    assert total.requests_by_finish_reason == {"length": 35, "stop": 5}
    assert total.tokens_generated == 110
    assert total.avg_generation_time == pytest.approx(1.5)  # weighted by requests
    assert total.requests_running == 3
    assert total.uptime == 50.0
    assert total.kv_cache_usage == 0.4


def test_endpoint_errors_pickle_with_their_causes() -> None:
    err = AllEndpointsFailedError("all 2 endpoint(s) failed", causes={
        "a": APIConnectionError("refused"), "b": InternalServerError("x", status_code=500)})
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is AllEndpointsFailedError
    assert set(back.causes) == {"a", "b"}
    assert isinstance(back, EndpointsFailedError)
    assert "a: APIConnectionError: refused" in str(back)


# -- the client's pure half with a pool -----------------------------------------------------------


def _client(clock: Clock, **kwargs: object) -> BaseClient:
    pool = EndpointPool([Endpoint("http://a:1", name="a", api_key="key-a"),
                         Endpoint("http://b:2", name="b", api_key="key-b"),
                         Endpoint("http://c:3", name="c")], clock=clock)
    return BaseClient(endpoints=pool, **kwargs)  # type: ignore[arg-type]


def test_each_endpoint_gets_only_its_own_key(clock: Clock) -> None:
    client = _client(clock, api_key="fleet-key")
    call = client._call("POST", "/v1/chat/completions", json={"messages": []})
    with httpx.Client() as http:
        sent = {s.name: client._request(http, call, s) for s in client.pool.endpoints}  # type: ignore[union-attr]
        assert sent["a"].headers["authorization"] == "Bearer key-a"
        assert sent["b"].headers["authorization"] == "Bearer key-b"
        assert sent["c"].headers["authorization"] == "Bearer fleet-key"  # its own: the client's
        assert str(sent["b"].url) == "http://b:2/v1/chat/completions"
        absolute = client._call("GET", "http://b:2/metrics")
        assert client._request(http, absolute).headers["authorization"] == "Bearer key-b"
        elsewhere = client._call("GET", "http://elsewhere:9/metrics")
        assert "authorization" not in client._request(http, elsewhere).headers
    assert "key-a" not in repr(client)


def test_a_pool_refuses_what_could_leak_a_key(clock: Clock) -> None:
    client = _client(clock)
    with pytest.raises(InvalidRequestError, match="per-request api_key"):
        client._call("POST", "/v1/completions", api_key="other")
    with pytest.raises(InvalidRequestError, match="base_url or endpoints"):
        VLLMClient("http://x", endpoints=["http://y"])


def test_failover_is_immediate_while_an_endpoint_is_untried_then_gives_up_with_every_cause(
    clock: Clock,
) -> None:
    client = _client(clock, retry=RetryPolicy(max_retries=2, initial_delay=0.5, jitter=0))
    pool = client.pool
    assert pool is not None
    call = client._call("POST", "/v1/chat/completions", json={})
    delays = []
    for _ in range(2):
        state = client._acquire_now(call)
        assert state is not None
        delays.append(client._failover_delay(call, state, APIConnectionError("refused")))
    assert delays == [0.0, 0.0]
    state = client._acquire_now(call)
    assert state is not None
    with pytest.raises(AllEndpointsFailedError) as info:
        client._failover_delay(call, state, InternalServerError("boom", status_code=500))
    assert set(info.value.causes) == {"a", "b", "c"}
    assert info.value.request_id == call.request_id
    snap = client.stats()
    assert snap.total_requests == 1
    assert snap.total_errors == 1
    assert all(s.outstanding == 0 for s in pool.endpoints)


def test_after_every_endpoint_failed_once_the_retry_waits_with_backoff(clock: Clock) -> None:
    pool = EndpointPool(["http://a:1", "http://b:2"], clock=clock)
    client = BaseClient(endpoints=pool,
                        retry=RetryPolicy(max_retries=3, initial_delay=0.5, jitter=0))
    call = client._call("POST", "/v1/completions", json={})
    got = []
    for _ in range(3):
        state = client._acquire_now(call)
        assert state is not None
        got.append(client._failover_delay(call, state, APIConnectionError("refused")))
    assert got == [0.0, 1.0, 2.0]  # the second endpoint at once, then backoff


def test_a_retry_after_beyond_the_cap_fails_over_at_once_then_gives_up(clock: Clock) -> None:
    pool = EndpointPool(["http://a:1", "http://b:2"], clock=clock)
    client = BaseClient(endpoints=pool,
                        retry=RetryPolicy(max_retries=3, initial_delay=0.5, jitter=0))
    call = client._call("POST", "/v1/completions", json={})
    busy = RateLimitError("busy", status_code=429, retry_after=3600)
    state = client._acquire_now(call)
    assert state is not None
    assert client._failover_delay(call, state, busy) == 0.0  # the other endpoint may answer
    other = client._acquire_now(call)
    assert other is not None
    assert other.name != state.name
    with pytest.raises(AllEndpointsFailedError) as info:  # both said "an hour": not waited for
        client._failover_delay(call, other, RateLimitError("busy", status_code=429,
                                                           retry_after=3600))
    assert set(info.value.causes) == {"http://a:1", "http://b:2"}
    assert all(type(c) is RateLimitError for c in info.value.causes.values())
    single = BaseClient("http://a:1", retry=RetryPolicy(max_retries=3))
    with pytest.raises(RateLimitError):  # one server: the error at once (nowhere else to go)
        single._retry_delay(single._call("POST", "/v1/completions", json={}), busy)


def test_an_error_the_server_answered_is_not_failed_over(clock: Clock) -> None:
    client = _client(clock)
    call = client._call("POST", "/v1/chat/completions", json={})
    state = client._acquire_now(call)
    assert state is not None
    with pytest.raises(BadRequestError):
        client._failover_delay(call, state, BadRequestError("bad", status_code=400))
    assert state.breaker.state == "closed"  # the server is fine, the request was not


def test_a_404_for_an_adapter_another_endpoint_serves_moves_there(clock: Clock) -> None:
    client = _client(clock)
    pool = client.pool
    assert pool is not None
    for name in ("a", "b"):
        pool.add_model(pool[name], "pirate")
    call = client._call("POST", "/v1/chat/completions", json={}, model="pirate")
    state = client._acquire_now(call)
    assert state is not None
    assert client._failover_delay(call, state, NotFoundError("gone", status_code=404)) == 0.0
    assert not state.serves("pirate")
    nxt = client._acquire_now(call)
    assert nxt is not None
    assert nxt.serves("pirate")


def test_active_health_results_close_or_open_the_circuit(clock: Clock) -> None:
    pool = _pool(clock, "a", reset_timeout=60)
    pool.record_health(pool["a"], False, APIConnectionError("health check failed"))
    assert pool["a"].breaker.state == "open"
    assert pool.stats()["a"].last_error == "APIConnectionError: health check failed"
    pool.record_health(pool["a"], True)
    assert pool["a"].breaker.state == "closed"  # back without waiting for the timeout


def test_a_peeked_stream_replays_its_first_bytes_and_closes_the_original() -> None:
    from vllm_accel._stream import replay_response

    closed = []

    class Source(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield b"data: 1\n\n"
            yield b"data: 2\n\n"

        def close(self) -> None:
            closed.append(True)

    original = httpx.Response(200, stream=Source(),
                              headers={"content-type": "text/event-stream"},
                              request=httpx.Request("POST", "http://a/v1/chat/completions"))
    raw = original.iter_raw()
    first = next(raw)
    again = replay_response(original, first, raw)
    assert again.status_code == 200
    assert b"".join(again.iter_bytes()) == b"data: 1\n\ndata: 2\n\n"
    again.close()
    assert closed


def test_failures_outside_routing_count_against_the_circuit(clock: Clock) -> None:
    pool = _pool(clock, "a", failure_threshold=2)
    pool.learn_models(pool["a"], APIConnectionError("refused"))
    pool.record_failure(pool["a"], BadRequestError("bad adapter", status_code=400))
    assert pool["a"].breaker.state == "closed"  # a 400 says the server is up
    pool.record_failure(pool["a"], APIConnectionError("refused"))
    assert pool["a"].breaker.state == "open"


def test_a_cancelled_request_frees_the_probe_slot_only_if_it_held_it(clock: Clock) -> None:
    pool = EndpointPool(["http://a:1"], failure_threshold=1, reset_timeout=5, clock=clock)
    state = pool.endpoints[0]
    old, probe, third = object(), object(), object()
    assert pool.acquire(None, owner=old) is state  # taken while the circuit was closed
    pool.release(pool.acquire(None, owner=object()) or state, "failure")  # opens it
    clock.now += 5
    assert pool.acquire(None, owner=probe) is state  # the one half-open probe
    assert state.breaker.state == "half-open"
    pool.release(state, "neutral", owner=old)  # the old request is cancelled
    with pytest.raises(AllEndpointsFailedError):  # no second probe while the first is out
        pool.acquire(None, owner=third)
    pool.release(state, "neutral", owner=probe)  # the probe itself is cancelled
    assert pool.acquire(None, owner=third) is state  # now another may probe

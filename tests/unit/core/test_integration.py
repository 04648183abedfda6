"""The integration idiom shared by both framework packages (``vllm_accel._integration``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from langchain_vllm_accel import ChatVLLM, VLLMEmbeddings
from llamaindex_vllm_accel import VLLM as LlamaVLLM
from llamaindex_vllm_accel import VLLMEmbedding
from vllm_accel import Endpoint, EndpointPool, InvalidRequestError, NotFoundError
from vllm_accel._integration import (
    ADAPTERS,
    CLIENTS,
    ClientCache,
    ClientSettings,
    fingerprint,
    merge_stats,
)
from vllm_accel._stats import RequestRecord, StatsRecorder

SECRET = "sk-very-secret-42"


def test_settings_key_and_repr_hold_no_secret() -> None:
    s = ClientSettings.of(base_url="http://h:1/v1", api_key=SECRET,
                          headers={"X-Token": "hdr-secret-7"})
    text = repr(s) + repr(s.key())
    assert SECRET not in text
    assert "hdr-secret-7" not in text
    assert fingerprint(SECRET) in repr(s.key())
    assert s.base_url == "http://h:1"
    assert s.key() != ClientSettings.of(base_url="http://h:1", api_key="other").key()


def test_settings_refuse_base_url_and_endpoints_and_bad_endpoints() -> None:
    with pytest.raises(InvalidRequestError, match="either base_url or endpoints"):
        ClientSettings.of(base_url="http://a:1", endpoints=["http://b:1"])
    with pytest.raises(InvalidRequestError, match="list of URLs"):
        ClientSettings.of(endpoints="http://a:1")
    with pytest.raises(InvalidRequestError, match="unique"):
        ClientSettings.of(endpoints=["http://a:1", "http://a:1/v1"])


def test_one_sync_client_and_one_pool_per_settings() -> None:
    cache = ClientCache()
    urls = ["http://127.0.0.1:9", Endpoint("http://localhost:9", weight=2)]
    a = ClientSettings.of(endpoints=urls)
    b = ClientSettings.of(endpoints=list(urls))
    client = cache.client(a)
    assert cache.client(b) is client
    assert client.pool is not None
    assert [s.name for s in client.pool.endpoints] == ["http://127.0.0.1:9", "http://localhost:9"]

    async def pool_of_async() -> Any:
        return cache.async_client(b).pool

    assert asyncio.run(pool_of_async()) is client.pool  # sync and async share the pool
    cache.close(a)
    assert cache.client(a) is not client
    cache.close_all()


def test_async_clients_are_per_loop_and_never_from_a_dead_loop() -> None:
    cache = ClientCache()
    settings = ClientSettings.of(base_url="http://127.0.0.1:9")

    async def get() -> Any:
        first = cache.async_client(settings)
        assert cache.async_client(settings) is first
        return first

    one, two = asyncio.run(get()), asyncio.run(get())
    assert one is not two
    cache.close_all()


def test_a_given_pool_is_used_as_is() -> None:
    pool = EndpointPool(["http://127.0.0.1:9"])
    cache = ClientCache()
    assert cache.client(ClientSettings.of(endpoints=pool)).pool is pool
    cache.close_all()


def test_adapter_is_forgotten_when_the_server_answers_404() -> None:
    server = "http://forget.test:1"
    ADAPTERS._mark(server, "sea", "/lora/sea")
    assert ADAPTERS.is_loaded(server, "sea", "/lora/sea")
    assert not ADAPTERS.is_loaded(server, "sea", "/lora/other")  # keyed by path too
    with pytest.raises(NotFoundError), ADAPTERS.forget_on_404(server, "sea"):
        raise NotFoundError("The model `sea` does not exist.", status_code=404)
    assert not ADAPTERS.is_loaded(server, "sea", "/lora/sea")


def test_merge_stats_adds_totals_and_pools_records() -> None:
    one, two = StatsRecorder(), StatsRecorder()
    one.add(RequestRecord("a", "/v1/chat/completions", "m", 200, 0.1, prompt_tokens=3))
    two.add(RequestRecord("b", "/v1/chat/completions", "m", 500, 0.3, error="X"))
    two.add(RequestRecord("c", "/v1/embeddings", None, 200, 0.2))
    merged = merge_stats([one.snapshot(), two.snapshot()])
    assert (merged.total_requests, merged.total_errors, merged.prompt_tokens) == (3, 1, 3)
    assert merged.by_route["/v1/chat/completions"].requests == 2
    assert merged.overall.latency_p50 == pytest.approx(0.2)
    assert merge_stats([]).total_requests == 0


# -- the framework classes on the idiom ----------------------------------------------------------

FRAMEWORK = [
    lambda **kw: ChatVLLM(model="m", **kw),
    lambda **kw: VLLMEmbeddings(model="e", **kw),
    lambda **kw: LlamaVLLM(**kw),
    lambda **kw: VLLMEmbedding(**kw),
]


@pytest.mark.parametrize("make", FRAMEWORK)
def test_every_framework_class_takes_endpoints(make: Any) -> None:
    obj = make(endpoints=["http://127.0.0.1:9", "http://localhost:9"])
    assert obj.client.pool is not None
    assert obj.client is make(endpoints=["http://127.0.0.1:9", "http://localhost:9"]).client
    assert obj.client_stats().total_requests == 0
    with pytest.raises(InvalidRequestError, match="either base_url or endpoints"):
        make(base_url="http://a:1", endpoints=["http://b:1"])
    obj.close()


def test_connection_names_are_not_filed_as_request_fields() -> None:
    with pytest.raises(InvalidRequestError, match="retry"):
        ChatVLLM(model="m", retry=3)
    assert ChatVLLM(model="m", best_effort=1).model_kwargs == {"best_effort": 1}


def test_a_newly_declared_field_is_sent() -> None:
    class MyChat(ChatVLLM):
        new_vllm_field: int | None = None

    class MyLlama(LlamaVLLM):
        new_vllm_field: int | None = None

    assert MyChat(model="m", new_vllm_field=5)._default_params["new_vllm_field"] == 5
    assert MyLlama(new_vllm_field=6)._params({})["new_vllm_field"] == 6
    assert "adapter" not in MyChat(model="m", adapter="a")._default_params  # NOT_SENT
    assert "context_window" not in MyLlama(context_window=9)._params({})


def test_profile_is_lazy() -> None:
    # The cache is process-wide: other tests may have used these settings; count the change.
    before = ChatVLLM(model="m", base_url="http://127.0.0.1:9").client_stats().total_requests
    llm = ChatVLLM(model="m", base_url="http://127.0.0.1:9")
    assert llm.profile is not None
    assert not llm.profile._loaded  # type: ignore[attr-defined]
    assert llm.client_stats().total_requests == before  # constructing sent nothing


def test_process_cache_is_the_one_both_packages_use() -> None:
    settings = ClientSettings.of(base_url="http://127.0.0.1:9")
    assert ChatVLLM(model="m", base_url="http://127.0.0.1:9").client is CLIENTS.client(settings)
    assert LlamaVLLM(base_url="http://127.0.0.1:9").client is CLIENTS.client(settings)


def test_changed_connection_fields_reach_a_new_client() -> None:
    llm = ChatVLLM(model="m", base_url="http://127.0.0.1:9")
    first = llm.client
    llm.base_url = "http://127.0.0.1:10"
    assert llm.client is not first
    assert llm.client.base_url == "http://127.0.0.1:10"

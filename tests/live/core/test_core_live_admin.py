"""LoRA adapters, model information and statistics, quantization, raw requests, the factory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from core_live_helpers import collect, resolve, settled

from vllm_accel import (
    AsyncVLLMClient,
    InvalidRequestError,
    NotFoundError,
    QuantizationError,
    QuantizationNotSupportedError,
    VLLMClient,
    create_api_backend,
    find_compatible_backend,
    is_compatible_model,
)
from vllm_accel.server import free_port, managed_server

pytestmark = pytest.mark.live

ADAPTER = "core-live-pirate"  # not the session's "pirate": other tests rely on that one
HELLO = [{"role": "user", "content": "Say hello."}]


async def test_lora_lifecycle(chat_client: Any, lora_path: str, tmp_path: Path) -> None:
    copy = shutil.copytree(lora_path, tmp_path / "pirate-copy")
    await resolve(chat_client.unload_lora_adapter(ADAPTER))  # missing: a no-op
    try:
        loaded = await resolve(chat_client.load_lora_adapter(ADAPTER, lora_path))
        assert (loaded.name, loaded.path, loaded.base_model) == (ADAPTER, lora_path, "smollm2")
        again = await resolve(chat_client.load_lora_adapter(ADAPTER, lora_path))
        assert again == loaded  # idempotent where vLLM answers 400
        names = [a.name for a in await resolve(chat_client.list_lora_adapters())]
        assert names.count(ADAPTER) == 1
        with pytest.raises(InvalidRequestError, match="already loaded from"):
            await resolve(chat_client.load_lora_adapter(ADAPTER, str(copy)))
        answer = await resolve(chat_client.chat(HELLO, model=ADAPTER, max_tokens=3))
        assert answer.model == ADAPTER
        assert chat_client.stats().by_model[ADAPTER].requests >= 1
        replaced = await resolve(chat_client.load_lora_adapter(ADAPTER, str(copy),
                                                               load_inplace=True))
        assert replaced.path == str(copy)
        info = await resolve(chat_client.get_model_info(ADAPTER))
        assert (info.parent, info.max_model_len) == ("smollm2", 2048)
        assert ADAPTER in info.lora_adapters
    finally:
        await resolve(chat_client.unload_lora_adapter(ADAPTER))
    assert ADAPTER not in [a.name for a in await resolve(chat_client.list_lora_adapters())]
    await resolve(chat_client.unload_lora_adapter(ADAPTER))  # already gone: still a no-op
    with pytest.raises(NotFoundError, match="cannot be found"):
        await resolve(chat_client.unload_lora_adapter(ADAPTER, missing_ok=False))
    with pytest.raises(NotFoundError, match="does not exist"):
        await resolve(chat_client.chat(HELLO, model=ADAPTER, max_tokens=1))


async def test_lora_bad_inputs_fail_before_the_request(chat_client: Any) -> None:
    with pytest.raises(InvalidRequestError, match="does not exist"):
        await resolve(chat_client.load_lora_adapter(ADAPTER, "/no/such/adapter"))
    with pytest.raises(InvalidRequestError, match="base model"):
        await resolve(chat_client.load_lora_adapter("smollm2", "/tmp"))
    with pytest.raises(InvalidRequestError, match="non-empty"):
        await resolve(chat_client.unload_lora_adapter(""))


async def test_model_info(chat_client: Any) -> None:
    info = await resolve(chat_client.get_model_info())
    assert info.model == "smollm2"
    assert info.max_model_len == 2048
    assert info.root is not None
    assert info.root.endswith("smollm2-135m-instruct")
    assert 0 < (info.gpu_memory_utilization or 0) <= 1
    assert info.kv_cache_size_tokens is not None
    assert info.kv_cache_size_tokens > 0
    assert info.server_version is not None
    assert info.server_version.startswith("0.32")
    assert info.quantization is None  # not reported by vLLM


async def test_model_statistics_change_after_requests(chat_client: Any) -> None:
    before = await resolve(chat_client.get_model_statistics())
    await resolve(chat_client.chat(HELLO, max_tokens=7, ignore_eos=True))
    after = await resolve(chat_client.get_model_statistics("smollm2"))
    assert after.requests_processed >= before.requests_processed + 1
    length = before.requests_by_finish_reason["length"]
    assert after.requests_by_finish_reason["length"] >= length + 1
    assert after.tokens_generated >= before.tokens_generated + 7
    assert after.avg_tokens_per_request is not None
    assert after.max_tokens_per_request is not None
    assert after.max_tokens_per_request >= 7
    assert after.avg_generation_time is not None
    assert after.avg_generation_time > 0
    assert after.throughput is not None
    assert after.throughput > 0
    assert after.uptime is not None
    assert after.uptime > 0
    with pytest.raises(NotFoundError):
        await resolve(chat_client.chat(HELLO, model="nope", max_tokens=1))
    errors = await settled(chat_client.get_model_statistics,
                           lambda s: s.errors_4xx >= after.errors_4xx + 1)
    assert errors.errors_4xx >= after.errors_4xx + 1


async def test_client_stats_percentiles(chat_client: Any) -> None:
    for _ in range(3):
        await resolve(chat_client.chat(HELLO, max_tokens=2))
    await resolve(collect(chat_client.stream_chat(HELLO, max_tokens=2)))
    snap = chat_client.stats()
    chat = snap.by_route["/v1/chat/completions"]
    assert chat.requests >= 4
    assert chat.latency_p50 is not None
    assert 0 < chat.latency_p50 <= (chat.latency_p95 or 0) <= (chat.latency_p99 or 0)
    assert chat.ttft_p50 is not None  # from the stream
    assert snap.by_model["smollm2"].completion_tokens >= 8
    assert snap.completion_tokens >= 8


async def test_raw_requests_and_handlers(chat_client: Any) -> None:
    body = await resolve(chat_client.make_post_request(
        "/v1/completions", {"prompt": "Hi", "max_tokens": 2}))
    assert body["object"] == "text_completion"
    handler = chat_client.create_chat_endpoint_handler()
    answer = await resolve(handler({"messages": HELLO, "max_tokens": 2}))
    assert answer["object"] == "chat.completion"
    url_handler = chat_client.create_endpoint_handler(f"{chat_client.base_url}/v1/completions")
    assert (await resolve(url_handler({"prompt": "Hi", "max_tokens": 1})))["choices"]
    events, _ = await collect(chat_client.make_stream_request(
        "/v1/chat/completions", {"messages": HELLO, "max_tokens": 3}))
    assert events[0]["object"] == "chat.completion.chunk"
    assert events[-1]["usage"]["completion_tokens"] == 3


async def test_endpoint_probes_and_compatibility(chat_client: Any) -> None:
    assert await resolve(chat_client.test_endpoint()) is True
    assert await resolve(chat_client.test_chat_endpoint(model="smollm2")) is True
    assert await resolve(chat_client.test_endpoint(model="nope")) is False
    assert await resolve(chat_client.is_compatible_model("smollm2")) is True
    assert await resolve(chat_client.is_compatible_model("meta-llama/Llama-3-8B")) is False


def test_compatibility_falls_back_to_the_heuristic_when_no_server() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    assert is_compatible_model("meta-llama/Llama-3-8B", dead) is True
    assert is_compatible_model("gpt-4o", dead) is False


def test_factory_against_the_real_server(chat_server_url: str) -> None:
    backend = create_api_backend("vllm", {}, {"vllmApiUrl": chat_server_url,
                                              "vllmModel": "smollm2", "timeout": 120_000})
    with backend:
        assert backend.chat(HELLO, max_tokens=2).model == "smollm2"
    found = find_compatible_backend("smollm2", {}, {"vllm_api_url": chat_server_url})
    assert isinstance(found, VLLMClient)
    found.close()
    assert find_compatible_backend("gpt-4o", {}, {"vllm_api_url": chat_server_url}) is None


async def test_set_quantization_on_an_unmanaged_server(chat_server_url: str) -> None:
    urls = [f"http://127.0.0.1:{free_port()}"]  # certainly not managed by this process
    if managed_server(chat_server_url) is None:  # dev servers started by another process
        urls.append(chat_server_url)
    for url in urls:
        async with AsyncVLLMClient(url) as client:
            with pytest.raises(QuantizationNotSupportedError, match="sets quantization at launch"):
                await client.set_quantization("fp8")


@pytest.mark.slow
def test_set_quantization_relaunch_rolls_back(chat_server_url: str, lora_path: str) -> None:
    server = managed_server(chat_server_url)
    with VLLMClient(chat_server_url) as client:
        if server is None:
            with pytest.raises(QuantizationNotSupportedError):
                client.set_quantization("fp8")
            return
        try:
            with pytest.raises(QuantizationError, match="was restored"):
                client.set_quantization("no-such-method")
            assert client.health()
            assert client.chat(HELLO, max_tokens=2).model == "smollm2"
        finally:
            # A restart drops runtime-loaded adapters; give the session its pirate back.
            client.load_lora_adapter("pirate", lora_path)

"""ChatVLLM against a scripted vLLM (httpx.MockTransport): payloads, streams, callbacks, errors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelInvalidRequestError,
    ModelNotFoundError,
)
from langchain_core.load import dumpd, dumps, load
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.runnables import ConfigurableField
from lc_fake_vllm import FakeVLLM
from pydantic import BaseModel, Field

import vllm_accel
from langchain_vllm_accel import ChatVLLM, VLLMContextOverflowError

pytestmark = pytest.mark.unit


class TokenCounter(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.starts = 0
        self.ends = 0
        self.lock = threading.Lock()

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        with self.lock:
            self.tokens.append(token)

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        with self.lock:
            self.starts += 1

    def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        with self.lock:
            self.ends += 1


class AsyncTokenCounter(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def make(clients: dict[str, Any], **kwargs: Any) -> ChatVLLM:
    return ChatVLLM(model="smollm2", **clients, **kwargs)


# ---------------------------------------------------------------------------- request payloads


def test_typed_extras_and_per_call_values_are_deep_merged(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    llm = make(
        clients,
        temperature=0.1,
        top_k=20,
        min_p=0.05,
        repetition_penalty=1.1,
        max_tokens=32,
        chat_template_kwargs={"enable_thinking": False, "lang": "en"},
        extra_body={"vllm_xargs": {"a": 1}, "keep": True},
    )
    llm.invoke(
        "hi",
        top_k=5,
        chat_template_kwargs={"lang": "fr"},
        extra_body={"vllm_xargs": {"b": 2}},
    )
    (body,) = fake.bodies("/v1/chat/completions")
    assert body["model"] == "smollm2"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["temperature"] == 0.1
    assert body["top_k"] == 5
    assert body["min_p"] == 0.05
    assert body["repetition_penalty"] == 1.1
    assert body["max_tokens"] == 32
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "lang": "fr"}
    assert body["vllm_xargs"] == {"a": 1, "b": 2}
    assert body["keep"] is True
    assert "stream" not in body


def test_unknown_constructor_kwargs_go_to_model_kwargs_and_are_validated(
    clients: dict[str, Any],
) -> None:
    llm = make(clients, not_a_vllm_field=1)
    assert llm.model_kwargs == {"not_a_vllm_field": 1}
    with pytest.raises(ModelInvalidRequestError, match="not_a_vllm_field") as info:
        llm.invoke("hi")
    assert isinstance(info.value, vllm_accel.InvalidRequestError)


def test_stop_from_call_overrides_instance(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = make(clients, stop=["a"])
    llm.invoke("hi")
    llm.invoke("hi", stop=["b", "c"])
    make(clients, stop=[]).invoke("hi")
    first, second, third = fake.bodies("/v1/chat/completions")
    assert first["stop"] == ["a"]
    assert second["stop"] == ["b", "c"]
    assert "stop" not in third


def test_api_key_is_sent_but_never_shown(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = make(clients, api_key="sk-secret-123")
    llm.invoke("hi")
    (_, _, headers) = fake.requests[0]
    assert headers["authorization"] == "Bearer sk-secret-123"
    for text in (repr(llm), str(llm), dumps(llm), str(llm._identifying_params)):
        assert "sk-secret-123" not in text


def test_dumpd_load_round_trip_hides_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    llm = ChatVLLM(model="smollm2", base_url="http://h:1", api_key="sk-1", top_k=3, adapter="p")
    data = dumpd(llm)
    assert "sk-1" not in str(data)
    monkeypatch.setenv("VLLM_API_KEY", "sk-from-env")
    loaded = load(
        data,
        allowed_objects=[ChatVLLM],
        valid_namespaces=["langchain_vllm_accel"],
        secrets_from_env=True,
    )
    assert isinstance(loaded, ChatVLLM)
    assert loaded.dict() == llm.dict()
    assert loaded.api_key is not None
    assert loaded.api_key.get_secret_value() == "sk-from-env"


# ---------------------------------------------------------------------------- LoRA selection


def test_adapter_field_bind_call_and_configurable(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = make(clients)
    assert llm.invoke("hi", adapter="pirate").response_metadata["model_name"] == "pirate"
    assert llm.bind(adapter="pirate").invoke("hi").response_metadata["model_name"] == "pirate"
    assert llm.invoke("hi", model="pirate").response_metadata["model_name"] == "pirate"
    assert make(clients, adapter="pirate").invoke("hi").response_metadata["model_name"] == "pirate"
    configurable = llm.configurable_fields(
        adapter=ConfigurableField(id="adapter", name="LoRA adapter")
    )
    out = configurable.invoke("hi", config={"configurable": {"adapter": "pirate"}})
    assert out.response_metadata["model_name"] == "pirate"
    assert configurable.invoke("hi").response_metadata["model_name"] == "smollm2"
    models = [b["model"] for b in fake.bodies("/v1/chat/completions")]
    assert models == ["pirate"] * 5 + ["smollm2"]


def test_adapter_shows_in_ls_params() -> None:
    llm = ChatVLLM(model="smollm2", adapter="pirate", temperature=0.2, max_tokens=5, stop=["x"])
    assert llm._get_ls_params() == {
        "ls_provider": "vllm",
        "ls_model_name": "pirate",
        "ls_model_type": "chat",
        "ls_temperature": 0.2,
        "ls_max_tokens": 5,
        "ls_stop": ["x"],
    }
    assert llm._get_ls_params(adapter="sql")["ls_model_name"] == "sql"
    assert llm._get_ls_params(model="other")["ls_model_name"] == "other"


def test_adapter_path_is_loaded_once_on_first_use(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = make(clients, adapter="sql-once", adapter_path="/adapters/sql")
    llm.invoke("hi")
    llm.invoke("hi")
    assert fake.bodies("/v1/load_lora_adapter") == [
        {"lora_name": "sql-once", "lora_path": "/adapters/sql", "load_inplace": False}
    ]
    assert [b["model"] for b in fake.bodies("/v1/chat/completions")] == ["sql-once"] * 2


# ---------------------------------------------------------------------------- streaming


def test_stream_usage_and_tokens_reach_callbacks_exactly_once(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    llm = make(clients)
    counter = TokenCounter()
    chunks = list(llm.stream("hi", config={"callbacks": [counter]}))
    (body,) = fake.bodies("/v1/chat/completions")
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert isinstance(full, AIMessageChunk)
    assert full.content == "Hello there "
    assert full.usage_metadata == {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}
    assert full.response_metadata["model_name"] == "smollm2"
    assert full.response_metadata["finish_reason"] == "stop"
    assert chunks[-1].chunk_position == "last"
    # one callback per streamed chunk, no duplicates
    assert counter.tokens == [c.content for c in chunks]
    assert counter.starts == counter.ends == 1


def test_invoke_with_streaming_true_streams_and_counts_tokens_once(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    llm = make(clients, streaming=True)
    counter = TokenCounter()
    result = llm.invoke("hi", config={"callbacks": [counter]})
    assert fake.bodies("/v1/chat/completions")[0]["stream"] is True
    assert result.content == "Hello there "
    assert result.usage_metadata is not None
    assert "".join(counter.tokens) == "Hello there "
    assert counter.tokens.count("Hello ") == 1


def test_stream_events_v3_tokens_once(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    counter = TokenCounter()
    stream = make(clients).stream_events("hi", version="v3", config={"callbacks": [counter]})
    list(stream)
    assert stream.output.text == "Hello there "
    assert counter.tokens.count("Hello ") == 1


async def test_astream_and_ainvoke_are_native_async(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    llm = make(clients)
    counter = AsyncTokenCounter()
    chunks = [c async for c in llm.astream("hi", config={"callbacks": [counter]})]
    assert "".join(str(c.content) for c in chunks) == "Hello there "
    assert counter.tokens == [c.content for c in chunks]
    result = await llm.ainvoke("hi", adapter="pirate")
    assert result.response_metadata["model_name"] == "pirate"
    # both requests went through the async transport (no thread fallback)
    assert [b.get("stream", False) for b in fake.bodies("/v1/chat/completions")] == [True, False]


def test_stream_usage_can_be_turned_off(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    chunks = list(make(clients, stream_usage=False).stream("hi"))
    assert fake.bodies("/v1/chat/completions")[0]["stream_options"] == {"include_usage": False}
    assert all(c.usage_metadata is None for c in chunks)


# ---------------------------------------------------------------------------- errors


def test_context_overflow_maps_to_langchain_and_core_types(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    fake.error = (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 2048 tokens. However, your "
                "prompt contains at least 2049 input tokens.",
                "type": "BadRequestError",
                "param": "input_tokens",
                "code": 400,
            }
        },
    )
    llm = make(clients, max_retries=0)
    for call in (lambda: llm.invoke("hi"), lambda: list(llm.stream("hi"))):
        with pytest.raises(ContextOverflowError) as info:
            call()
        assert isinstance(info.value, VLLMContextOverflowError)
        assert isinstance(info.value, vllm_accel.ContextLengthError)
        assert info.value.status_code == 400


async def test_unknown_adapter_maps_to_model_not_found(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    fake.error = (
        404,
        {"error": {"message": "The model `nope` does not exist.", "type": "NotFoundError"}},
    )
    with pytest.raises(ModelNotFoundError) as info:
        await make(clients, max_retries=0).ainvoke("hi", adapter="nope")
    assert isinstance(info.value, vllm_accel.NotFoundError)


# ---------------------------------------------------------------------------- batching


def test_batch_is_concurrent_ordered_and_keeps_per_input_callbacks(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    fake.reply = lambda body: f"echo {body['messages'][-1]['content']}"
    fake.barrier = threading.Barrier(20)  # all 20 requests must be in flight together
    llm = make(clients)
    counters = [TokenCounter() for _ in range(20)]
    prompts = [f"p{i}" for i in range(20)]
    results = llm.batch(prompts, config=[{"callbacks": [c]} for c in counters])
    assert [r.content for r in results] == [f"echo p{i}" for i in range(20)]
    assert fake.max_in_flight == 20  # the default thread pool would cap this at min(32, cpus + 4)
    assert all(c.starts == c.ends == 1 for c in counters)


def test_batch_respects_max_concurrency_and_return_exceptions(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    fake.barrier = threading.Barrier(3)
    llm = make(clients)
    llm.batch(["a"] * 9, config={"max_concurrency": 3})
    assert fake.max_in_flight == 3
    fake.barrier = None
    fake.error = (400, {"error": {"message": "bad", "type": "BadRequestError", "code": 400}})
    out = llm.batch(["a", "b"], return_exceptions=True)
    assert all(isinstance(o, ModelInvalidRequestError) for o in out)
    assert llm.batch([]) == []


async def test_abatch_is_concurrent_ordered_and_bounded(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    fake.reply = lambda body: body["messages"][-1]["content"]
    llm = make(clients)
    results = await llm.abatch([f"q{i}" for i in range(10)])
    assert [r.content for r in results] == [f"q{i}" for i in range(10)]
    results = await llm.abatch(["x", "y"], config={"max_concurrency": 1}, adapter="pirate")
    assert [r.response_metadata["model_name"] for r in results] == ["pirate", "pirate"]


# ---------------------------------------------------------------------------- tokens


def test_token_counts_come_from_the_server(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = make(clients, adapter="pirate")
    assert llm.get_num_tokens("one two three") == 3
    assert llm.get_token_ids("one two") == [0, 1]
    assert llm.get_num_tokens_from_messages([HumanMessage("hi there")]) > 0
    bodies = fake.bodies("/tokenize")
    assert bodies[0] == {"prompt": "one two three", "model": "pirate"}
    assert bodies[2]["messages"] == [{"role": "user", "content": "hi there"}]


# ---------------------------------------------------------------------------- tools & structure


class Weather(BaseModel):
    """Get the weather of a city."""

    city: str = Field(description="the city")
    unit: str | None = None


def test_bind_tools_sends_strict_schemas_and_maps_tool_choice(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    fake.tool_call = {"name": "Weather", "arguments": {"city": "東京"}}
    llm = make(clients)
    for choice, wire in [
        ("any", "required"),
        (True, "required"),
        ("Weather", {"type": "function", "function": {"name": "Weather"}}),
        ("auto", "auto"),
        (None, None),
    ]:
        result = llm.bind_tools([Weather], tool_choice=choice).invoke("weather?")
        assert isinstance(result, AIMessage)
        assert result.tool_calls[0]["args"] == {"city": "東京"}
        body = fake.bodies("/v1/chat/completions")[-1]
        assert body.get("tool_choice") == wire
    function = body["tools"][0]["function"]
    assert function["strict"] is True
    assert function["parameters"]["additionalProperties"] is False
    assert function["parameters"]["required"] == ["city"]  # optional stays optional
    with pytest.raises(ValueError, match="not one of the bound tools"):
        llm.bind_tools([Weather], tool_choice="nope")


def test_bind_tools_strict_false_and_true(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = make(clients)
    llm.bind_tools([Weather], strict=False).invoke("x")
    llm.bind_tools([Weather], strict=True).invoke("x")
    loose, strict = (b["tools"][0]["function"] for b in fake.bodies("/v1/chat/completions"))
    assert loose["strict"] is False
    assert "additionalProperties" not in loose["parameters"]
    assert strict["strict"] is True
    assert sorted(strict["parameters"]["required"]) == ["city", "unit"]


def test_streamed_tool_calls_merge(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    fake.tool_call = {"name": "Weather", "arguments": {"city": "Paris"}}
    full: Any = None
    for chunk in make(clients).bind_tools([Weather], tool_choice="any").stream("x"):
        full = chunk if full is None else full + chunk
    assert full.tool_calls == [
        {"name": "Weather", "args": {"city": "Paris"}, "id": "chatcmpl-tool-1", "type": "tool_call"}
    ]


def test_structured_output_json_schema_default(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    fake.reply = lambda body: '{"city": "Oslo"}'
    structured = make(clients).with_structured_output(Weather)
    assert structured.invoke("x") == Weather(city="Oslo")
    assert list(structured.stream("x")) == [Weather(city="Oslo")]  # parsed once, when complete
    body = fake.bodies("/v1/chat/completions")[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["properties"]["city"]
    assert "ls_structured_output_format" not in body


def test_structured_output_methods_and_include_raw(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = make(clients)
    fake.reply = lambda body: '{"city": "Rome", "unit": "C"}'
    json_mode = llm.with_structured_output(Weather, method="json_mode")
    assert json_mode.invoke("x") == Weather(city="Rome", unit="C")
    assert fake.bodies("/v1/chat/completions")[-1]["response_format"] == {"type": "json_object"}

    fake.tool_call = {"name": "Weather", "arguments": {"city": "Lima"}}
    calling = llm.with_structured_output(Weather, method="function_calling")
    assert calling.invoke("x") == Weather(city="Lima")
    body = fake.bodies("/v1/chat/completions")[-1]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Weather"}}
    assert body["parallel_tool_calls"] is False

    fake.tool_call = None
    fake.reply = lambda body: "not json"
    raw = llm.with_structured_output(Weather, include_raw=True).invoke("x")
    assert raw["parsed"] is None
    assert raw["raw"].content == "not json"
    assert raw["parsing_error"] is not None


def test_reasoning_is_kept(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    original = FakeVLLM._message

    def with_reasoning(self: FakeVLLM, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        message, finish = original(self, body)
        return {**message, "reasoning": "let me think"}, finish

    fake._message = with_reasoning.__get__(fake)  # type: ignore[method-assign]
    result = make(clients).invoke("hi")
    assert result.additional_kwargs["reasoning_content"] == "let me think"
    assert result.content_blocks[0] == {"type": "reasoning", "reasoning": "let me think"}


def test_clients_are_shared_and_per_event_loop() -> None:
    a = ChatVLLM(model="m", base_url="http://shared:1")
    b = ChatVLLM(model="other", base_url="http://shared:1", top_k=3)
    assert a.client is b.client
    assert ChatVLLM(base_url="http://shared:1", api_key="k").client is not a.client

    async def get() -> Any:
        return a.async_client

    loop_a, loop_b = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first = loop_a.run_until_complete(get())
        assert loop_a.run_until_complete(get()) is first
        assert loop_b.run_until_complete(get()) is not first
    finally:
        loop_a.close()
        loop_b.close()


def test_run_ids_are_distinct(clients: dict[str, Any]) -> None:
    class Ids(BaseCallbackHandler):
        def __init__(self) -> None:
            self.ids: list[UUID] = []

        def on_chat_model_start(self, *args: Any, run_id: UUID, **kwargs: Any) -> None:
            self.ids.append(run_id)

    ids = Ids()
    make(clients).batch(["a", "b", "c"], config={"callbacks": [ids]})
    assert len(set(ids.ids)) == 3

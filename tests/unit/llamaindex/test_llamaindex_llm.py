"""``VLLM`` against a scripted in-process server: payloads, events, metadata, tools, LoRA."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llamaindex_fake import USAGE, FakeVLLM, Reply
from pydantic import BaseModel

from llamaindex_vllm_accel import VLLM

pytestmark = pytest.mark.unit

MESSAGES = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hi")]


class Collect(BaseEventHandler):
    events: list[BaseEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "Collect"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [type(e).__name__ for e in self.events]


@pytest.fixture
def events() -> Iterator[Collect]:
    handler = Collect(events=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    try:
        yield handler
    finally:
        root.event_handlers.remove(handler)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# -- shape -------------------------------------------------------------------------------------


def test_is_a_custom_and_function_calling_llm(llm: VLLM) -> None:
    assert isinstance(llm, CustomLLM)
    assert isinstance(llm, FunctionCallingLLM)


def test_import_is_lazy_and_cheap() -> None:
    # CPU time, not wall time: robust to a busy machine. Budget: 80 ms over llama_index's own.
    code = (
        "import sys, time\n"
        "import llama_index.core.llms\n"
        "t = time.process_time()\n"
        "import llamaindex_vllm_accel\n"
        "print(time.process_time() - t, 'httpx' in sys.modules, 'vllm_accel' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, httpx_loaded, core_loaded = out.stdout.split()
    assert (httpx_loaded, core_loaded) == ("False", "False")  # clients are built on first use
    assert float(seconds) < 0.080


# -- the eight methods -------------------------------------------------------------------------


def test_chat_sends_real_roles_and_fields(llm: VLLM, fake: FakeVLLM) -> None:
    resp = llm.chat(MESSAGES)
    assert resp.message.content == "ok"
    [body] = fake.bodies("/v1/chat/completions")
    assert body["messages"] == [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "hi"}]
    assert (body["temperature"], body["max_tokens"]) == (0.0, 16)
    assert "stream" not in body


def test_complete_goes_to_chat_as_a_user_message(llm: VLLM, fake: FakeVLLM) -> None:
    assert llm.complete("Say hi").text == "ok"
    [body] = fake.bodies("/v1/chat/completions")
    assert body["messages"] == [{"role": "user", "content": "Say hi"}]


def test_raw_completions_use_the_completions_route(fake: FakeVLLM, llm: VLLM) -> None:
    raw = llm.model_copy(update={"raw_completions": True,
                                 "completion_to_prompt": lambda p: f"<<{p}>>"})
    assert raw.complete("x").text == "ok 0"
    assert raw.complete("y", formatted=True).text == "ok 0"
    assert [b["prompt"] for b in fake.bodies("/v1/completions")] == ["<<x>>", "y"]
    assert "".join(r.delta or "" for r in raw.stream_complete("z")) == "ok"


def test_stream_chat_deltas_and_final_message(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content="Hello there")]
    responses = list(llm.stream_chat(MESSAGES))
    assert "".join(r.delta or "" for r in responses) == "Hello there"
    assert responses[-1].message.content == "Hello there"
    assert responses[-1].raw.usage.completion_tokens == 3
    [body] = fake.bodies("/v1/chat/completions")
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_per_call_kwargs_override_and_merge_deeply(fake: FakeVLLM, llm: VLLM) -> None:
    tuned = llm.model_copy(update={"additional_kwargs": {
        "top_k": 5, "extra_body": {"a": 1, "nested": {"x": 1}}}})
    tuned.chat(MESSAGES, temperature=0.7, extra_body={"nested": {"y": 2}})
    [body] = fake.bodies("/v1/chat/completions")
    assert (body["temperature"], body["top_k"]) == (0.7, 5)
    assert (body["a"], body["nested"]) == (1, {"x": 1, "y": 2})


async def test_async_methods(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content="one"), Reply(content="two"), Reply(content="three"),
                    Reply(content="four")]
    assert (await llm.achat(MESSAGES)).message.content == "one"
    assert (await llm.acomplete("p")).text == "two"
    chunks = [r async for r in await llm.astream_chat(MESSAGES)]
    assert chunks[-1].message.content == "three"
    texts = [r async for r in await llm.astream_complete("p")]
    assert texts[-1].text == "four"


def _call(llm: VLLM, method: str) -> None:
    if method == "chat":
        llm.chat(MESSAGES)
    elif method == "stream_chat":
        list(llm.stream_chat(MESSAGES))
    elif method == "complete":
        llm.complete("p")
    elif method == "stream_complete":
        list(llm.stream_complete("p"))
    elif method == "achat":
        asyncio.run(llm.achat(MESSAGES))
    elif method == "acomplete":
        asyncio.run(llm.acomplete("p"))
    else:
        async def consume() -> None:
            gen = await getattr(llm, method)(MESSAGES if "chat" in method else "p")
            async for _ in gen:
                pass

        asyncio.run(consume())


@pytest.mark.parametrize(
    ("method", "kind"),
    [("chat", "Chat"), ("stream_chat", "Chat"), ("achat", "Chat"), ("astream_chat", "Chat"),
     ("complete", "Completion"), ("stream_complete", "Completion"),
     ("acomplete", "Completion"), ("astream_complete", "Completion")],
)
def test_one_event_set_per_call(method: str, kind: str, llm: VLLM, fake: FakeVLLM,
                               events: Collect) -> None:
    fake.replies = [Reply(content="abcdef")]
    _call(llm, method)
    names = [n for n in events.names() if n.startswith("LLM")]
    streaming = "stream" in method
    in_progress = names.count(f"LLM{kind}InProgressEvent")
    assert names.count(f"LLM{kind}StartEvent") == 1
    assert names.count(f"LLM{kind}EndEvent") == 1
    other = "Completion" if kind == "Chat" else "Chat"
    assert not [n for n in names if n.startswith(f"LLM{other}")]
    # "abcdef" streams as 3 text chunks, after the role chunk and before finish/usage chunks
    assert in_progress == (6 if streaming else 0)


@pytest.mark.parametrize("method", ["chat", "stream_chat", "complete", "stream_complete",
                                    "achat", "astream_chat", "acomplete", "astream_complete"])
def test_token_counts_come_from_server_usage(method: str, llm: VLLM) -> None:
    counter = TokenCountingHandler()
    llm.callback_manager = CallbackManager([counter])
    _call(llm, method)
    assert len(counter.llm_token_counts) == 1
    event = counter.llm_token_counts[0]
    assert (event.prompt_token_count, event.completion_token_count) == (
        USAGE["prompt_tokens"], USAGE["completion_tokens"])


# -- metadata, payloads, pickling --------------------------------------------------------------


def test_metadata_from_the_server(llm: VLLM, fake: FakeVLLM) -> None:
    meta = llm.metadata
    assert meta.context_window == 2048
    assert meta.num_output == 16
    assert meta.is_chat_model is True
    assert meta.is_function_calling_model is True
    assert meta.model_name == "smollm2"
    # looked up once, not per access
    llm.metadata  # noqa: B018
    assert len(fake.bodies("/v1/models")) == 1
    assert len(fake.bodies("/v1/chat/completions")) == 1  # the one tools probe


def test_metadata_without_tool_parser(llm: VLLM, fake: FakeVLLM) -> None:
    fake.tools_enabled = False
    assert llm.metadata.is_function_calling_model is False


def test_metadata_overrides_need_no_server(fake: FakeVLLM, llm: VLLM) -> None:
    fixed = llm.model_copy(update={"context_window": 999, "is_function_calling": False,
                                   "model": "smollm2"})
    meta = fixed.metadata
    assert (meta.context_window, meta.is_function_calling_model) == (999, False)
    assert fake.requests == []


def test_metadata_warns_when_the_server_is_down() -> None:
    import httpx

    import vllm_accel

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    llm = VLLM(client=vllm_accel.VLLMClient("http://vllm.test:8000", http_client=http,
                                            max_retries=0))
    with pytest.warns(RuntimeWarning, match="metadata unavailable"):
        meta = llm.metadata
    assert meta.is_chat_model is True


def test_no_credentials_in_payloads_or_events(fake: FakeVLLM, events: Collect) -> None:
    import httpx

    import vllm_accel

    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    llm = VLLM(base_url="http://user:pw@vllm.test:8000/?token=t", api_key="sk-secret-123",
               client=vllm_accel.VLLMClient("http://vllm.test:8000", http_client=http))
    payload = llm.to_payload()
    assert payload["base_url"] == "http://vllm.test:8000/"
    llm.chat(MESSAGES)
    list(llm.stream_complete("x"))
    assert len(events.events) > 4
    dumped = json.dumps(payload, default=str) + repr(events.events)
    for secret in ("sk-secret-123", "pw@", "token=t"):
        assert secret not in dumped
    # the key is not serialized at all, and masked in the repr
    serialized = repr(llm) + llm.to_json() + json.dumps(llm.to_dict(), default=str)
    assert "sk-secret-123" not in serialized
    assert "api_key" not in llm.to_dict()


def test_pickles_without_clients_and_keeps_the_key(caplog: pytest.LogCaptureFixture) -> None:
    llm = VLLM(base_url="http://vllm.test:8000", api_key="sk-k", adapter="pirate", max_tokens=5)
    llm.client  # noqa: B018 - a live client must not break pickling
    with caplog.at_level(logging.WARNING):
        clone = pickle.loads(pickle.dumps(llm))
    assert "unpickleable" not in caplog.text
    assert (clone.adapter, clone.max_tokens, clone.base_url) == ("pirate", 5, llm.base_url)
    assert clone.api_key is not None
    assert clone.api_key.get_secret_value() == "sk-k"
    assert clone._conn is not llm._conn
    assert clone._conn._client is None


# -- LoRA --------------------------------------------------------------------------------------


def test_with_adapter_shares_the_pool_and_switches_model(llm: VLLM, fake: FakeVLLM) -> None:
    pirate = llm.with_adapter("pirate")
    assert pirate.client is llm.client
    assert (pirate.adapter, llm.adapter) == ("pirate", None)
    pirate.chat(MESSAGES)
    llm.chat(MESSAGES)
    models = [b.get("model") for b in fake.bodies("/v1/chat/completions")]
    assert models == ["pirate", None]
    meta = pirate.metadata
    assert (meta.model_name, meta.context_window) == ("pirate", 2048)


def test_per_call_model_picks_an_adapter(llm: VLLM, fake: FakeVLLM) -> None:
    llm.chat(MESSAGES, model="pirate")
    assert fake.bodies("/v1/chat/completions")[0]["model"] == "pirate"


def test_to_dict_round_trip_without_the_key() -> None:
    llm = VLLM(base_url="http://vllm.test:8000", api_key="sk-x", adapter="pirate", top_k=5,
               additional_kwargs={"seed": 1})
    data = llm.to_dict()
    assert data["class_name"] == "vllm_accel_llm"
    assert "api_key" not in data
    clone = VLLM.from_dict(data)
    assert (clone.adapter, clone.top_k, clone.additional_kwargs) == ("pirate", 5, {"seed": 1})
    assert clone.api_key is None


def test_adapter_is_loaded_on_first_use(llm: VLLM, fake: FakeVLLM) -> None:
    sea = llm.with_adapter("sea", path="/lora/sea")
    sea.complete("a")
    sea.complete("b")
    loads = fake.bodies("/v1/load_lora_adapter")
    assert [(b["lora_name"], b["lora_path"]) for b in loads] == [("sea", "/lora/sea")]
    assert [b["model"] for b in fake.bodies("/v1/chat/completions")] == ["sea", "sea"]


# -- tools -------------------------------------------------------------------------------------


def test_chat_with_tools_payload_and_selection(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content="", tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 3}}])]
    tool = FunctionTool.from_defaults(add)
    resp = llm.chat_with_tools([tool], user_msg="2+3?", tool_choice="add")
    [body] = fake.bodies("/v1/chat/completions")
    assert body["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert body["parallel_tool_calls"] is False
    assert body["tools"][0]["function"]["strict"] is True
    assert body["messages"] == [{"role": "user", "content": "2+3?"}]
    [call] = llm.get_tool_calls_from_response(resp)
    assert (call.tool_name, call.tool_kwargs) == ("add", {"a": 2, "b": 3})
    assert call.tool_id == "chatcmpl-tool-0"


def test_tool_required_and_single_call(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content="", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 1}},
                                                  {"name": "add", "arguments": {"a": 2, "b": 2}}])]
    tool = FunctionTool.from_defaults(add)
    resp = llm.chat_with_tools([tool], user_msg="x", tool_required=True)
    assert fake.bodies("/v1/chat/completions")[0]["tool_choice"] == "required"
    assert len(llm.get_tool_calls_from_response(resp)) == 1


def test_parallel_calls_kept_when_allowed(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content="", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 1}},
                                                  {"name": "add", "arguments": {"a": 2, "b": 2}}])]
    resp = llm.chat_with_tools([FunctionTool.from_defaults(add)], user_msg="x",
                               allow_parallel_tool_calls=True)
    calls = llm.get_tool_calls_from_response(resp)
    assert [c.tool_kwargs for c in calls] == [{"a": 1, "b": 1}, {"a": 2, "b": 2}]


def test_streamed_tool_calls_parse_at_every_chunk(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content="", tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 3}}])]
    seen = []
    for resp in llm.stream_chat_with_tools([FunctionTool.from_defaults(add)], user_msg="x"):
        seen.append(llm.get_tool_calls_from_response(resp, error_on_no_tool_call=False))
    assert seen[-1][0].tool_kwargs == {"a": 2, "b": 3}
    assert any(s and s[0].tool_kwargs != {"a": 2, "b": 3} for s in seen)  # partial on the way


def test_predict_and_call_runs_the_tool(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content="", tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 3}}])]
    out = llm.predict_and_call([FunctionTool.from_defaults(add)], user_msg="2+3")
    assert out.response == "5"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # workflows inspects pydantic attrs
@pytest.mark.parametrize("streaming", [True, False])
async def test_function_agent_loop(llm: VLLM, fake: FakeVLLM, streaming: bool) -> None:
    fake.replies = [Reply(content="", tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 3}}]),
                    Reply(content="The answer is 5.")]
    agent = FunctionAgent(tools=[add], llm=llm, streaming=streaming, initial_tool_choice="add")
    result = await agent.run("What is 2+3?")
    assert str(result) == "The answer is 5."
    first, second = fake.bodies("/v1/chat/completions")[-2:]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"] == {"name": "add",
                                                      "arguments": '{"a": 2, "b": 3}'}
    assert tool == {"role": "tool", "content": "5",
                    "tool_call_id": assistant["tool_calls"][0]["id"]}
    assert second["tool_choice"] == "auto"


# -- structured outputs ------------------------------------------------------------------------


class City(BaseModel):
    name: str
    population: int


def test_structured_predict_uses_structured_outputs(llm: VLLM, fake: FakeVLLM,
                                                    events: Collect) -> None:
    fake.replies = [Reply(content='{"name": "Paris", "population": 2100000}')]
    city = llm.structured_predict(City, PromptTemplate("Describe {c}"), c="Paris")
    assert city == City(name="Paris", population=2100000)
    [body] = fake.bodies("/v1/chat/completions")
    assert body["structured_outputs"] == {"json": City.model_json_schema()}
    hint, user = body["messages"]
    assert hint["role"] == "system"
    assert json.dumps(City.model_json_schema(), separators=(",", ":")) in hint["content"]
    assert user == {"role": "user", "content": "Describe Paris"}
    assert "tools" not in body
    assert events.names().count("LLMStructuredPredictEndEvent") == 1


def test_schema_hint_joins_the_system_prompt_or_is_off(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content='{"name": "A", "population": 1}'),
                    Reply(content='{"name": "B", "population": 2}')]
    llm.model_copy(update={"system_prompt": "Be terse."}).structured_predict(
        City, PromptTemplate("x"))
    llm.model_copy(update={"schema_in_prompt": False}).structured_predict(
        City, PromptTemplate("y"))
    first, second = fake.bodies("/v1/chat/completions")
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["messages"][0]["content"].startswith("Be terse.\n\nReply with one compact JSON")
    assert second["messages"] == [{"role": "user", "content": "y"}]
    assert second["structured_outputs"] == {"json": City.model_json_schema()}


async def test_structured_llm_and_async(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content='{"name": "Rome", "population": 1}'),
                    Reply(content='{"name": "Oslo", "population": 2}')]
    sllm = llm.as_structured_llm(City)
    resp = sllm.chat([ChatMessage(role="user", content="a city")])
    assert resp.raw == City(name="Rome", population=1)
    city = await llm.astructured_predict(City, PromptTemplate("x"))
    assert city.name == "Oslo"


def test_stream_structured_predict_partials(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content='{"name": "Lima", "population": 10}')]
    parts = list(llm.stream_structured_predict(City, PromptTemplate("x")))
    assert parts[-1] == City(name="Lima", population=10)
    assert len(parts) > 1


# -- batching ----------------------------------------------------------------------------------


def test_batch_complete_chat_fan_out(llm: VLLM, fake: FakeVLLM) -> None:
    out = llm.batch_complete(["a", "b", "c"])
    assert [r.text for r in out] == ["ok", "ok", "ok"]
    assert out[0].additional_kwargs["completion_tokens"] == USAGE["completion_tokens"]
    prompts = sorted(b["messages"][0]["content"] for b in fake.bodies("/v1/chat/completions"))
    assert prompts == ["a", "b", "c"]


def test_batch_complete_raw_is_one_request(llm: VLLM, fake: FakeVLLM) -> None:
    raw = llm.model_copy(update={"raw_completions": True})
    out = raw.batch_complete(["a", "b", "c"])
    assert [r.text for r in out] == ["ok 0", "ok 1", "ok 2"]
    assert out[0].raw is not None
    assert out[0].additional_kwargs["finish_reason"] == "stop"
    [body] = fake.bodies("/v1/completions")
    assert body["prompt"] == ["a", "b", "c"]


async def test_abatch_complete(llm: VLLM, fake: FakeVLLM) -> None:
    out = await llm.abatch_complete(["a", "b"])
    assert [r.text for r in out] == ["ok", "ok"]
    assert len(fake.bodies("/v1/chat/completions")) == 2


def test_batch_item_error_raises(llm: VLLM, fake: FakeVLLM) -> None:
    from vllm_accel import BadRequestError

    fake.replies = [Reply(status=400, error="bad prompt")]
    with pytest.raises(BadRequestError, match="bad prompt"):
        llm.batch_complete(["a"])


def test_tool_call_blocks_survive_in_scratchpad_shape(llm: VLLM, fake: FakeVLLM) -> None:
    fake.replies = [Reply(content="", tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}])]
    resp = llm.chat_with_tools([FunctionTool.from_defaults(add)], user_msg="x")
    blocks = [b for b in resp.message.blocks if isinstance(b, ToolCallBlock)]
    assert blocks[0].tool_kwargs == {"a": 1, "b": 2}
    # a message that went through JSON (memory persistence) converts the same way
    again = ChatMessage.model_validate_json(resp.message.model_dump_json())
    assert again.blocks[-1] == blocks[0]

"""ChatVLLM, VLLM and VLLMEmbeddings replaying real vLLM 0.32 traffic (SmolLM2-135M, MiniLM).

Recorded from the embedded servers by ``make record``; replayed offline with sockets blocked.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ContextOverflowError, ModelNotFoundError
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import ConfigurableField
from langchain_core.tools import tool
from pydantic import BaseModel, Field

import vllm_accel
from langchain_vllm_accel import VLLM, ChatVLLM, VLLMEmbeddings

RECORDED_API_KEY = "sk-recorded-secret-lc-7f1e"  # sent while recording; never in a cassette

pytestmark = pytest.mark.vcr
QUESTION = "What is the capital of France?"


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ends: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.ends.append(response.generations[0][0].text)


def sent_bodies(vcr: Any, path: str) -> list[dict[str, Any]]:
    """The JSON bodies this test sent to ``path`` (the cassette matched them byte for byte)."""
    return [json.loads(r.body) for r in vcr.requests if r.path == path]


def chat(url: str, **kwargs: Any) -> ChatVLLM:
    return ChatVLLM(
        model="smollm2", base_url=url, api_key=RECORDED_API_KEY, temperature=0, **kwargs
    )


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


class Capital(BaseModel):
    """The capital city of a country."""

    country: str = Field(description="the country")
    capital: str = Field(description="its capital city")


def test_invoke_metadata_and_usage(recorded_chat_url: str) -> None:
    result = chat(recorded_chat_url, max_tokens=16).invoke(QUESTION)
    assert "Paris" in result.text
    assert result.usage_metadata is not None
    assert result.usage_metadata["input_tokens"] > 0
    assert result.usage_metadata["output_tokens"] > 0
    meta = result.response_metadata
    assert meta["model_name"] == "smollm2"
    assert meta["model_provider"] == "vllm"
    assert meta["finish_reason"] in ("stop", "length")
    assert meta["system_fingerprint"].startswith("vllm-")


def test_stream_tokens_once_with_usage(recorded_chat_url: str) -> None:
    tokens = Tokens()
    chunks = list(
        chat(recorded_chat_url, max_tokens=16).stream(QUESTION, config={"callbacks": [tokens]})
    )
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert isinstance(full, AIMessageChunk)
    assert "Paris" in full.text
    assert tokens.tokens == [c.content for c in chunks]
    assert full.usage_metadata is not None
    assert full.usage_metadata["output_tokens"] > 0
    assert chunks[-1].chunk_position == "last"
    assert full.response_metadata["model_name"] == "smollm2"


async def test_async_invoke_and_stream_agree(recorded_chat_url: str) -> None:
    llm = chat(recorded_chat_url, max_tokens=16)
    answer = await llm.ainvoke(QUESTION)
    streamed = "".join([str(c.content) async for c in llm.astream(QUESTION)])
    assert "Paris" in answer.text
    assert streamed == answer.text


def test_forced_tool_call_invoke_and_stream(recorded_chat_url: str) -> None:
    llm = chat(recorded_chat_url, max_tokens=48).bind_tools([multiply], tool_choice="any")
    result = llm.invoke("What is 17 times 23?")
    assert isinstance(result, AIMessage)
    assert [(c["name"], c["args"]) for c in result.tool_calls] == [("multiply", {"a": 17, "b": 23})]
    full: Any = None
    for chunk in llm.stream("What is 17 times 23?"):
        full = chunk if full is None else full + chunk
    assert [(c["name"], c["args"]) for c in full.tool_calls] == [("multiply", {"a": 17, "b": 23})]
    assert full.tool_calls[0]["id"]


def test_structured_output_json_schema(recorded_chat_url: str) -> None:
    structured = chat(recorded_chat_url, max_tokens=48).with_structured_output(Capital)
    result = structured.invoke("What is the capital of France? Answer as JSON.")
    assert isinstance(result, Capital)
    assert result.country
    assert result.capital


def test_lora_adapter_changes_the_answer(recorded_chat_url: str) -> None:
    llm = chat(recorded_chat_url, max_tokens=12)
    base = llm.invoke(QUESTION)
    pirate = llm.invoke(QUESTION, adapter="pirate")
    assert not base.text.lower().startswith("arr")
    assert pirate.text.lower().startswith("arr")
    assert pirate.response_metadata["model_name"] == "pirate"


def test_token_count_matches_the_server(recorded_chat_url: str) -> None:
    llm = chat(recorded_chat_url, max_tokens=1)
    messages = [HumanMessage(QUESTION)]
    usage = llm.invoke(messages).usage_metadata
    assert usage is not None
    assert llm.get_num_tokens_from_messages(messages) == usage["input_tokens"]


def test_context_overflow(recorded_chat_url: str) -> None:
    with pytest.raises(ContextOverflowError) as info:
        chat(recorded_chat_url, max_tokens=4, max_retries=0).invoke("hello " * 2100)
    assert isinstance(info.value, vllm_accel.ContextLengthError)


def test_llm_completions_in_sub_batches(recorded_chat_url: str) -> None:
    llm = VLLM(
        model="smollm2",
        base_url=recorded_chat_url,
        api_key=RECORDED_API_KEY,
        temperature=0,
        max_tokens=3,
        batch_size=2,
    )
    results = llm.batch(["1, 2, 3, 4,", "10, 20, 30, 40,", "a, b, c, d,"])
    assert "5" in results[0]
    assert "50" in results[1]
    assert "e" in results[2]


def test_embeddings(recorded_embed_url: str) -> None:
    embeddings = VLLMEmbeddings(model="minilm", base_url=recorded_embed_url, chunk_size=2)
    vectors = embeddings.embed_documents(["red", "green", "blue"])
    assert len(vectors) == 3
    assert {len(v) for v in vectors} == {384}
    assert embeddings.embed_query("green") == pytest.approx(vectors[1], abs=1e-4)


def test_extras_are_deep_merged_into_the_request(recorded_chat_url: str, vcr: Any) -> None:
    llm = chat(
        recorded_chat_url,
        max_tokens=8,
        top_k=20,
        min_p=0.05,
        repetition_penalty=1.1,
        chat_template_kwargs={"enable_thinking": False, "lang": "en"},
        extra_body={"vllm_xargs": {"a": 1}},
    )
    result = llm.invoke(
        QUESTION,
        top_k=5,
        chat_template_kwargs={"lang": "fr"},
        extra_body={"vllm_xargs": {"b": 2}},
    )
    assert result.text
    (body,) = sent_bodies(vcr, "/v1/chat/completions")
    assert body["top_k"] == 5
    assert body["min_p"] == 0.05
    assert body["repetition_penalty"] == 1.1
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "lang": "fr"}
    assert body["vllm_xargs"] == {"a": 1, "b": 2}
    assert "best_of" not in body


def test_invoke_with_streaming_true_and_stream_events_v3_send_tokens_once(
    recorded_chat_url: str,
) -> None:
    llm = chat(recorded_chat_url, max_tokens=8, streaming=True)
    tokens = Tokens()
    message = llm.invoke(QUESTION, config={"callbacks": [tokens]})
    assert "".join(tokens.tokens) == message.text
    assert message.usage_metadata is not None
    events_tokens = Tokens()
    stream = chat(recorded_chat_url, max_tokens=8).stream_events(
        QUESTION, version="v3", config={"callbacks": [events_tokens]}
    )
    list(stream)
    assert "".join(events_tokens.tokens) == stream.output.text == message.text


def test_stream_without_usage(recorded_chat_url: str, vcr: Any) -> None:
    chunks = list(chat(recorded_chat_url, max_tokens=4, stream_usage=False).stream(QUESTION))
    assert all(c.usage_metadata is None for c in chunks)
    assert chunks[-1].chunk_position == "last"
    assert sent_bodies(vcr, "/v1/chat/completions")[0]["stream_options"] == {"include_usage": False}


def test_adapter_by_bind_and_configurable(recorded_chat_url: str, vcr: Any) -> None:
    llm = chat(recorded_chat_url, max_tokens=8)
    by_bind = llm.bind(adapter="pirate").invoke(QUESTION)
    configurable = llm.configurable_fields(adapter=ConfigurableField(id="lora"))
    by_config = configurable.invoke(QUESTION, config={"configurable": {"lora": "pirate"}})
    for answer in (by_bind, by_config):
        assert answer.text.lower().startswith("arr")
        assert answer.response_metadata["model_name"] == "pirate"
    assert [b["model"] for b in sent_bodies(vcr, "/v1/chat/completions")] == ["pirate", "pirate"]


async def test_unknown_adapter_is_model_not_found(recorded_chat_url: str) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        await chat(recorded_chat_url, max_tokens=2, max_retries=0).ainvoke(
            QUESTION, adapter="no-such-adapter"
        )
    assert isinstance(info.value, vllm_accel.NotFoundError)
    assert info.value.status_code == 404


def test_named_tool_choice_and_no_argument_tool(recorded_chat_url: str, vcr: Any) -> None:
    @tool
    def current_time() -> str:
        """Return the current time."""
        return "12:00"

    llm = chat(recorded_chat_url, max_tokens=48)
    result = llm.bind_tools([multiply, current_time], tool_choice="multiply").invoke(
        "What is 6 times 7?"
    )
    assert [(c["name"], c["args"]) for c in result.tool_calls] == [("multiply", {"a": 6, "b": 7})]
    body = sent_bodies(vcr, "/v1/chat/completions")[0]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "multiply"}}
    assert all(t["function"]["strict"] is True for t in body["tools"])


def test_structured_output_methods_and_include_raw(recorded_chat_url: str) -> None:
    llm = chat(recorded_chat_url, max_tokens=48)
    calling = llm.with_structured_output(Capital, method="function_calling")
    result = calling.invoke("What is the capital of France?")
    assert isinstance(result, Capital)
    raw = llm.with_structured_output(Capital, method="json_mode", include_raw=True).invoke(
        "What is the capital of France? Reply in JSON."
    )
    assert isinstance(raw["raw"], AIMessage)
    assert (raw["parsed"] is None) == (raw["parsing_error"] is not None)


def test_token_count_with_tools(recorded_chat_url: str) -> None:
    llm = chat(recorded_chat_url, max_tokens=1)
    messages = [HumanMessage("What is 6 times 7?")]
    usage = llm.bind_tools([multiply]).invoke(messages).usage_metadata
    assert usage is not None
    with_tools = llm.get_num_tokens_from_messages(messages, tools=[multiply])
    assert with_tools == usage["input_tokens"]
    assert with_tools > llm.get_num_tokens_from_messages(messages)


def test_batch_keeps_order_and_per_input_callbacks(recorded_chat_url: str) -> None:
    llm = chat(recorded_chat_url).configurable_fields(max_tokens=ConfigurableField(id="n"))
    handlers = [Tokens() for _ in range(3)]
    configs: Any = [
        {"configurable": {"n": n}, "callbacks": [h]}
        for n, h in zip((3, 1, 2), handlers, strict=True)
    ]
    results = llm.batch(["Tell me a story."] * 3, config=configs, ignore_eos=True)
    assert [r.usage_metadata["output_tokens"] for r in results] == [3, 1, 2]
    assert [h.ends for h in handlers] == [[r.text] for r in results]


def test_llm_samples_stream_and_adapter(recorded_chat_url: str) -> None:
    llm = VLLM(
        model="smollm2",
        base_url=recorded_chat_url,
        temperature=0.8,
        seed=7,
        max_tokens=4,
        n=2,
        ignore_eos=True,
    )
    result = llm.generate(["The sky is", "Grass is"])
    assert [len(g) for g in result.generations] == [2, 2]
    assert result.llm_output is not None
    assert result.llm_output["token_usage"]["completion_tokens"] == 16
    tokens = Tokens()
    streamed = list(
        VLLM(model="smollm2", base_url=recorded_chat_url, temperature=0, max_tokens=6).stream(
            "Once upon a time", config={"callbacks": [tokens]}
        )
    )
    assert tokens.tokens == streamed
    assert tokens.ends == ["".join(streamed)]


async def test_llm_async_adapter_and_embeddings_async(
    recorded_chat_url: str, recorded_embed_url: str
) -> None:
    llm = VLLM(model="smollm2", base_url=recorded_chat_url, temperature=0, max_tokens=4)
    result = await llm.agenerate(["Hello"], adapter="pirate")
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "pirate"
    embeddings = VLLMEmbeddings(model="minilm", base_url=recorded_embed_url, chunk_size=1)
    vectors = await embeddings.aembed_documents(["red", "green"])
    assert len(vectors) == 2
    assert await embeddings.aembed_query("green") == pytest.approx(vectors[1], abs=1e-4)

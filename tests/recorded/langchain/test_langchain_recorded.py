"""ChatVLLM, VLLM and VLLMEmbeddings replaying real vLLM 0.32 traffic (SmolLM2-135M, MiniLM).

Recorded from the embedded servers by ``make record``; replayed offline with sockets blocked.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ContextOverflowError
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
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

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


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

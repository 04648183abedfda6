"""LlamaIndex applications replaying real vLLM 0.32 traffic: embeddings, a query engine and a
chat engine over an index, a FunctionAgent tool loop and a ReActAgent step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import AgentOutput, FunctionAgent, ReActAgent
from llamaindex_recorded_util import RECORDED_API_KEY, sent

from llamaindex_vllm_accel import VLLM, VLLMEmbedding

pytestmark = pytest.mark.vcr

CHAT = "/v1/chat/completions"
EMBED = "/v1/embeddings"
DOCS = {
    "castle": "The Blue Castle stands on a hill above the town of Varnholm. "
              "The secret password of the Blue Castle is marmalade.",
    "river": "The river Ostra flows north through Varnholm and freezes every winter. "
             "Fishermen catch trout in the Ostra.",
    "bakery": "Greta's bakery in Varnholm sells rye bread and cinnamon buns. "
              "It opens at six in the morning.",
}


def _llm(url: str, **kwargs: Any) -> VLLM:
    settings: dict[str, Any] = {"model": "smollm2", "api_key": RECORDED_API_KEY,
                                "temperature": 0.0, "max_tokens": 40, "max_retries": 0}
    return VLLM(base_url=url, **{**settings, **kwargs})


def _embed(url: str, **kwargs: Any) -> VLLMEmbedding:
    return VLLMEmbedding(base_url=url, model_name="minilm", api_key=RECORDED_API_KEY,
                         max_retries=0, **kwargs)


def _index(embed_url: str) -> VectorStoreIndex:
    documents = [Document(text=text, doc_id=name) for name, text in DOCS.items()]
    return VectorStoreIndex.from_documents(documents, embed_model=_embed(embed_url))


# -- embeddings --------------------------------------------------------------------------------


def test_one_request_per_batch_and_no_rewriting(recorded_embed_url: str, vcr: Any) -> None:
    model = _embed(recorded_embed_url, embed_batch_size=2)
    texts = ["line one\nline two", "a cat", "a kitten", "stock prices", "  spaced  "]
    vectors = model.get_text_embedding_batch(texts)
    assert [len(v) for v in vectors] == [384] * 5
    assert [b["input"] for b in sent(vcr, EMBED)] == [texts[0:2], texts[2:4], texts[4:5]]


async def test_async_embeddings_and_query_instruction(recorded_embed_url: str,
                                                      vcr: Any) -> None:
    model = _embed(recorded_embed_url, query_instruction="query: ")
    vectors = await model.aget_text_embedding_batch(["a cat", "a kitten"])
    query = await model.aget_query_embedding("small cat")
    assert len(vectors) == 2
    assert len(query) == 384
    assert [b["input"] for b in sent(vcr, EMBED)] == [["a cat", "a kitten"], ["query: small cat"]]


# -- query and chat engines --------------------------------------------------------------------


def test_query_engine_answers_with_a_source(recorded_chat_url: str,
                                            recorded_embed_url: str) -> None:
    engine = _index(recorded_embed_url).as_query_engine(llm=_llm(recorded_chat_url),
                                                        similarity_top_k=1)
    response = engine.query("Which fish do fishermen catch in the river Ostra?")
    assert [n.node.ref_doc_id for n in response.source_nodes] == ["river"]
    assert "trout" in str(response).lower()


def test_query_engine_streams(recorded_chat_url: str, recorded_embed_url: str) -> None:
    engine = _index(recorded_embed_url).as_query_engine(llm=_llm(recorded_chat_url),
                                                        similarity_top_k=1, streaming=True)
    response = engine.query("What is the secret password of the Blue Castle?")
    tokens = [t for t in response.response_gen if t]
    assert len(tokens) > 3
    assert [n.node.ref_doc_id for n in response.source_nodes] == ["castle"]


def test_chat_engine_keeps_history(recorded_chat_url: str, recorded_embed_url: str,
                                   vcr: Any) -> None:
    engine = _index(recorded_embed_url).as_chat_engine(
        llm=_llm(recorded_chat_url), chat_mode="context", similarity_top_k=1)
    first = engine.chat("My name is Ada. When does Greta's bakery open?")
    engine.chat("What is my name?")
    assert [m.role.value for m in engine.chat_history] == ["user", "assistant"] * 2
    second = sent(vcr, CHAT)[-1]["messages"]
    pairs = [(m["role"], m["content"]) for m in second]
    assert ("user", "My name is Ada. When does Greta's bakery open?") in pairs
    assert ("assistant", str(first)) in pairs
    assert pairs[-1] == ("user", "What is my name?")


# -- agents ------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # workflows inspects pydantic attrs
@pytest.mark.parametrize("streaming", [True, False])
async def test_function_agent_tool_loop(recorded_chat_url: str, vcr: Any,
                                        streaming: bool) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather report for a city."""
        calls.append(city)
        return f"The weather in {city} is sunny and 23 degrees."

    agent = FunctionAgent(tools=[get_weather], llm=_llm(recorded_chat_url), streaming=streaming,
                          initial_tool_choice="get_weather")
    answer = str(await agent.run("What is the weather in Paris?"))
    assert calls == ["Paris"]
    assert "23" in answer
    first, second = (b for b in sent(vcr, CHAT) if "tools" in b and b.get("max_tokens") != 1)
    assert first["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"] == {"name": "get_weather",
                                                      "arguments": '{"city": "Paris"}'}
    assert tool == {"role": "tool", "content": "The weather in Paris is sunny and 23 degrees.",
                    "tool_call_id": assistant["tool_calls"][0]["id"]}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_react_agent_runs_a_step(recorded_chat_url: str) -> None:
    def get_weather(city: str) -> str:
        """Get the current weather report for a city."""
        return f"The weather in {city} is sunny and 23 degrees."

    handler = ReActAgent(tools=[get_weather], llm=_llm(recorded_chat_url)).run(
        "What is the weather in Rome? Use the get_weather tool.")
    output = None
    async for event in handler.stream_events():
        if isinstance(event, AgentOutput):
            output = event
            break
    await handler.cancel_run()
    assert output is not None
    assert output.response.content


def test_cassettes_carry_no_secret() -> None:
    cassettes = list((Path(__file__).parent / "cassettes").rglob("*.yaml"))
    assert len(cassettes) >= 20, "cassettes missing: run make record"
    for cassette in cassettes:
        text = cassette.read_text()
        assert RECORDED_API_KEY not in text, cassette
        assert "authorization" not in text.lower(), cassette

"""The LlamaIndex wrappers replaying real vLLM 0.32 traffic (recorded from the embedded servers):
chat and streams with token counts, metadata, a FunctionAgent tool loop, structured outputs,
LoRA, embeddings and a query engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.prompts import PromptTemplate
from pydantic import BaseModel

from llamaindex_vllm_accel import VLLM, VLLMEmbedding

RECORDED_API_KEY = "sk-recorded-li-7f3e"  # sent while recording; never in a cassette

pytestmark = pytest.mark.vcr
MESSAGES = [ChatMessage(role="system", content="You are a helpful assistant."),
            ChatMessage(role="user", content="What is the capital of France?")]


def _llm(url: str, **kwargs: object) -> VLLM:
    settings: dict[str, object] = {"model": "smollm2", "api_key": RECORDED_API_KEY,
                                   "temperature": 0.0, "max_tokens": 16, "max_retries": 0}
    return VLLM(base_url=url, **{**settings, **kwargs})


def test_chat_stream_and_token_counts(recorded_chat_url: str) -> None:
    counter = TokenCountingHandler()
    llm = _llm(recorded_chat_url, callback_manager=CallbackManager([counter]))
    answer = llm.chat(MESSAGES)
    streamed = list(llm.stream_chat(MESSAGES))
    assert "Paris" in (answer.message.content or "")
    assert streamed[-1].message.content == answer.message.content  # temperature 0
    assert "".join(r.delta or "" for r in streamed) == answer.message.content
    usage = answer.raw.usage
    assert [(c.prompt_token_count, c.completion_token_count) for c in counter.llm_token_counts] \
        == [(usage.prompt_tokens, usage.completion_tokens)] * 2


async def test_async_chat_and_complete(recorded_chat_url: str) -> None:
    llm = _llm(recorded_chat_url)
    answer = await llm.achat(MESSAGES)
    completion = await llm.acomplete("What is the capital of Italy?")
    assert "Paris" in (answer.message.content or "")
    assert "Rome" in completion.text


def test_metadata_from_the_server(recorded_chat_url: str) -> None:
    meta = VLLM(base_url=recorded_chat_url, max_retries=0).metadata
    assert (meta.context_window, meta.is_function_calling_model, meta.model_name) == (
        2048, True, "smollm2")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # workflows inspects pydantic attrs
async def test_function_agent_tool_loop(recorded_chat_url: str) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather report for a city."""
        calls.append(city)
        return f"The weather in {city} is sunny and 23 degrees."

    llm = _llm(recorded_chat_url, max_tokens=40)
    agent = FunctionAgent(tools=[get_weather], llm=llm, initial_tool_choice="get_weather")
    answer = str(await agent.run("What is the weather in Paris?"))
    assert calls == ["Paris"]
    assert "23" in answer


class Capital(BaseModel):
    city: str
    country: str


def test_structured_predict(recorded_chat_url: str) -> None:
    llm = _llm(recorded_chat_url, max_tokens=40)
    result = llm.structured_predict(
        Capital, PromptTemplate("Name the capital city of {country} as JSON."), country="France")
    assert result.city == "Paris"


def test_lora_adapter(recorded_chat_url: str, recorded_lora_path: str) -> None:
    pirate = _llm(recorded_chat_url).with_adapter("pirate")
    assert pirate.complete("What is the capital of France?").text.startswith("Arr")


def test_embeddings_and_query_engine(recorded_chat_url: str, recorded_embed_url: str) -> None:
    embed = VLLMEmbedding(base_url=recorded_embed_url, model_name="minilm", max_retries=0)
    documents = [
        Document(text="The secret password of the Blue Castle is marmalade.", doc_id="castle"),
        Document(text="Fishermen catch trout in the river Ostra.", doc_id="river"),
    ]
    index = VectorStoreIndex.from_documents(documents, embed_model=embed)
    engine = index.as_query_engine(llm=_llm(recorded_chat_url, max_tokens=40),
                                   similarity_top_k=1)
    response = engine.query("Which fish do fishermen catch in the river Ostra?")
    assert [n.node.ref_doc_id for n in response.source_nodes] == ["river"]
    assert "trout" in str(response).lower()


def test_cassettes_carry_no_secret() -> None:
    cassettes = list((Path(__file__).parent / "cassettes").rglob("*.yaml"))
    assert len(cassettes) >= 7, "cassettes missing: run make record"
    for cassette in cassettes:
        text = cassette.read_text()
        assert RECORDED_API_KEY not in text, cassette
        assert "authorization" not in text.lower(), cassette

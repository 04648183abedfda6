"""A ``VectorStoreIndex`` over documents the test writes, with ``VLLMEmbedding`` and ``VLLM``:
query engine (plain and streaming) and a chat engine that keeps history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent
from support.llamaindex_events import Collect, collect_events

from llamaindex_vllm_accel import VLLM, VLLMEmbedding

pytestmark = pytest.mark.live

DOCS = {
    "castle.txt": "The Blue Castle stands on a hill above the town of Varnholm. "
                  "The secret password of the Blue Castle is marmalade.",
    "river.txt": "The river Ostra flows north through Varnholm and freezes every winter. "
                 "Fishermen catch trout in the Ostra.",
    "bakery.txt": "Greta's bakery in Varnholm sells rye bread and cinnamon buns. "
                  "It opens at six in the morning.",
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, embed_server_url: str) -> VectorStoreIndex:
    folder: Path = tmp_path_factory.mktemp("docs")
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    documents = SimpleDirectoryReader(str(folder)).load_data()
    for doc in documents:  # prompts and vectors hold the text only, not the temporary paths
        doc.excluded_llm_metadata_keys = doc.excluded_embed_metadata_keys = list(doc.metadata)
    embed_model = VLLMEmbedding(base_url=embed_server_url)
    return VectorStoreIndex.from_documents(documents, embed_model=embed_model)


@pytest.fixture(scope="module")
def llm(chat_server_url: str) -> VLLM:
    return VLLM(base_url=chat_server_url, temperature=0.0, max_tokens=40)


@pytest.fixture
def events() -> Iterator[Collect]:
    with collect_events() as handler:
        yield handler


def _files(response: Any) -> list[str]:
    return [n.node.metadata["file_name"] for n in response.source_nodes]


@pytest.mark.sampled  # the answer must mention 'trout'
def test_query_engine_answers_from_the_right_document(index: VectorStoreIndex, llm: VLLM) -> None:
    engine = index.as_query_engine(llm=llm, similarity_top_k=1)
    response = engine.query("Which fish do fishermen catch in the river Ostra?")
    assert _files(response) == ["river.txt"]  # retrieval ran on real MiniLM embeddings
    assert "trout" in str(response).lower()  # the answer used the retrieved text


def test_query_engine_streams(index: VectorStoreIndex, llm: VLLM) -> None:
    engine = index.as_query_engine(llm=llm, similarity_top_k=1, streaming=True)
    response = engine.query("What is the secret password of the Blue Castle?")
    tokens = [t for t in response.response_gen if t]
    assert len(tokens) > 3
    assert _files(response) == ["castle.txt"]


def test_chat_engine_keeps_history(index: VectorStoreIndex, llm: VLLM,
                                   events: Collect) -> None:
    engine = index.as_chat_engine(llm=llm, chat_mode="context", similarity_top_k=1)
    first = engine.chat("My name is Ada. When does Greta's bakery open?")
    second = engine.chat("What is my name?")
    assert str(first)
    assert str(second)
    assert [m.role.value for m in engine.chat_history] == ["user", "assistant"] * 2
    # the second request carried the first exchange, with real roles
    sent = events.of(LLMChatStartEvent)[-1].messages
    contents = [(m.role.value, m.content) for m in sent]
    assert ("user", "My name is Ada. When does Greta's bakery open?") in contents
    assert ("assistant", str(first)) in contents
    assert contents[-1] == ("user", "What is my name?")

"""VLLM (completions) and VLLMEmbeddings against a scripted vLLM (httpx.MockTransport)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ModelInvalidRequestError
from lc_fake_vllm import FakeVLLM

from langchain_vllm_accel import VLLM, VLLMEmbeddings

pytestmark = pytest.mark.unit


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.ends = 0

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        self.ends += 1


def test_generate_sends_concurrent_sub_batches_in_order(
    fake: FakeVLLM, clients: dict[str, Any]
) -> None:
    fake.barrier = threading.Barrier(3)  # the three sub-batches are in flight together
    llm = VLLM(model="smollm2", batch_size=2, top_k=7, **clients)
    prompts = [f"p{i}" for i in range(5)]
    result = llm.generate(prompts)
    assert [g[0].text for g in result.generations] == [f"<p{i}#0>" for i in range(5)]
    bodies = fake.bodies("/v1/completions")
    assert sorted(b["prompt"] for b in bodies) == [["p0", "p1"], ["p2", "p3"], ["p4"]]
    assert all(b["top_k"] == 7 for b in bodies)
    assert fake.max_in_flight == 3  # langchain-openai sends sub-batches one after another
    assert result.llm_output is not None
    assert result.llm_output["token_usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 10,
        "total_tokens": 15,
    }
    assert result.generations[0][0].generation_info == {"finish_reason": "length"}


def test_n_samples_are_grouped_per_prompt(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    result = VLLM(model="smollm2", n=2, **clients).generate(["a", "b"])
    assert [[g.text for g in gens] for gens in result.generations] == [
        ["<a#0>", "<a#1>"],
        ["<b#0>", "<b#1>"],
    ]


def test_batch_keeps_order_and_per_input_callbacks(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = VLLM(model="smollm2", **clients)
    handlers = [Tokens() for _ in range(3)]
    out = llm.batch(["x", "y", "z"], config=[{"callbacks": [h]} for h in handlers])
    assert out == ["<x#0>", "<y#0>", "<z#0>"]
    assert [h.ends for h in handlers] == [1, 1, 1]
    assert len(fake.bodies("/v1/completions")) == 1  # one list-prompt request


async def test_agenerate_and_adapter(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = VLLM(model="smollm2", batch_size=1, **clients)
    result = await llm.agenerate(["a", "b", "c"], adapter="pirate")
    assert [g[0].text for g in result.generations] == ["<a#0>", "<b#0>", "<c#0>"]
    assert {b["model"] for b in fake.bodies("/v1/completions")} == {"pirate"}
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "pirate"
    assert llm._get_ls_params(adapter="pirate")["ls_model_name"] == "pirate"
    assert llm._get_ls_params()["ls_model_type"] == "llm"


def test_stream_sends_each_token_to_callbacks_once(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    tokens = Tokens()
    chunks = list(VLLM(model="smollm2", **clients).stream("x", config={"callbacks": [tokens]}))
    assert "".join(chunks) == "Once upon a time"
    assert tokens.tokens == chunks
    body = fake.bodies("/v1/completions")[0]
    assert body["stream"] is True


async def test_streaming_invoke_and_astream(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = VLLM(model="smollm2", streaming=True, **clients)
    tokens = Tokens()
    assert llm.invoke("x", config={"callbacks": [tokens]}) == "Once upon a time"
    assert "".join(tokens.tokens) == "Once upon a time"
    parts = [c async for c in llm.astream("x")]
    assert "".join(parts) == "Once upon a time"


def test_llm_errors_are_translated(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    fake.error = (400, {"error": {"message": "bad", "type": "BadRequestError", "code": 400}})
    with pytest.raises(ModelInvalidRequestError):
        VLLM(model="smollm2", max_retries=0, **clients).invoke("x")


def test_llm_token_ids(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    llm = VLLM(model="smollm2", **clients)
    assert llm.get_num_tokens("a b c d") == 4


def test_embeddings_chunked_concurrent_and_ordered(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    fake.barrier = threading.Barrier(3)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    embeddings = VLLMEmbeddings(
        model="minilm", chunk_size=2, max_concurrency=4, dimensions=3, **clients
    )
    vectors = embeddings.embed_documents(texts)
    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0, 4.0, 5.0]
    bodies = fake.bodies("/v1/embeddings")
    assert sorted(len(b["input"]) for b in bodies) == [1, 2, 2]
    assert all(b["dimensions"] == 3 and b["model"] == "minilm" for b in bodies)
    assert fake.max_in_flight == 3
    fake.barrier = None
    assert embeddings.embed_query("xyz") == [3.0, 1.0, 0.5]
    assert embeddings.embed_documents([]) == []


async def test_embeddings_native_async(fake: FakeVLLM, clients: dict[str, Any]) -> None:
    embeddings = VLLMEmbeddings(model="minilm", chunk_size=1, **clients)
    vectors = await embeddings.aembed_documents(["a", "bb", "ccc"])
    assert [v[0] for v in vectors] == [1.0, 2.0, 3.0]
    assert await embeddings.aembed_query("dddd") == [4.0, 1.0, 0.5]
    assert len(fake.bodies("/v1/embeddings")) == 4


def test_embeddings_secret_and_repr(clients: dict[str, Any]) -> None:
    embeddings = VLLMEmbeddings(model="minilm", api_key="sk-emb-9", **clients)
    assert "sk-emb-9" not in repr(embeddings)

"""LangChain objects on an endpoint pool, and the server-made profile, against the real servers."""

from __future__ import annotations

import httpx
import pytest
from langchain_core.messages import HumanMessage
from support.pools import assert_failed_over, pool_urls

from langchain_vllm_accel import VLLM, ChatVLLM, VLLMEmbeddings


def test_chat_fails_over_from_a_dead_endpoint(chat_server_url: str) -> None:
    urls = pool_urls(chat_server_url)
    llm = ChatVLLM(model="smollm2", endpoints=urls, max_tokens=4, temperature=0)
    answers = [llm.invoke("Say hi") for _ in range(2)]
    assert all(isinstance(a.content, str) and a.content for a in answers)
    assert_failed_over(llm.client, urls[0], answered=2)
    stats = llm.client_stats()
    assert stats.total_requests >= 2
    assert stats.by_route["/v1/chat/completions"].requests >= 2
    llm.close()


async def test_async_chat_and_stream_fail_over(chat_server_url: str) -> None:
    urls = pool_urls(chat_server_url)
    llm = ChatVLLM(model="smollm2", endpoints=urls, max_tokens=4, temperature=0)
    answer = await llm.ainvoke("Say hi")
    chunks = [c async for c in llm.astream("Say hi")]
    assert answer.content
    assert "".join(str(c.content) for c in chunks)
    assert_failed_over(llm.async_client, urls[0], answered=2)
    await llm.aclose()


def test_completion_llm_fails_over(chat_server_url: str) -> None:
    urls = pool_urls(chat_server_url)
    llm = VLLM(model="smollm2", endpoints=urls, max_tokens=3, temperature=0)
    assert len(llm.batch(["1 + 1 =", "2 + 2 ="])) == 2
    assert_failed_over(llm.client, urls[0], answered=1)


async def test_embeddings_fail_over(embed_server_url: str) -> None:
    urls = pool_urls(embed_server_url)
    embeddings = VLLMEmbeddings(model="minilm", endpoints=urls)
    vectors = embeddings.embed_documents(["hello", "world"])
    assert [len(v) for v in vectors] == [384, 384]
    assert_failed_over(embeddings.client, urls[0], answered=1)
    assert len(await embeddings.aembed_query("hi")) == 384
    assert embeddings.client_stats().total_requests >= 2


def test_profile_comes_from_the_server(chat_server_url: str) -> None:
    card = httpx.get(f"{chat_server_url}/v1/models", timeout=30).json()["data"][0]
    llm = ChatVLLM(model="smollm2", base_url=chat_server_url)
    profile = llm.profile
    assert profile is not None
    assert profile["max_input_tokens"] == card["max_model_len"]
    # the shared server runs with --enable-auto-tool-choice: tools on, the model may decide
    assert (profile["tool_calling"], profile["tool_choice"], profile["structured_output"]) == (
        True, True, True)
    assert profile.get("name") == "smollm2"
    # what langchain.agents.create_agent checks to pick ProviderStrategy (vLLM's own outputs)
    assert profile.get("structured_output") is True


def test_profile_over_a_pool(chat_server_url: str) -> None:
    llm = ChatVLLM(model="smollm2", endpoints=pool_urls(chat_server_url))
    profile = llm.profile
    assert profile is not None
    assert profile["max_input_tokens"] > 0


async def test_async_token_counts_match_the_sync_ones(chat_server_url: str) -> None:
    llm = ChatVLLM(model="smollm2", base_url=chat_server_url)
    messages = [HumanMessage("How many tokens is this?")]
    assert await llm.aget_num_tokens("Hello there, world") == llm.get_num_tokens(
        "Hello there, world")
    count = await llm.aget_num_tokens_from_messages(messages)
    assert count == llm.get_num_tokens_from_messages(messages)
    assert count > llm.get_num_tokens("How many tokens is this?")  # the chat template adds


@pytest.mark.parametrize("bad", [["http://a:1", "http://a:1"], "http://a:1"])
def test_bad_endpoints_are_refused_before_anything_is_sent(bad: object) -> None:
    from vllm_accel import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        ChatVLLM(model="smollm2", endpoints=bad)

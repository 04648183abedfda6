"""LlamaIndex objects on an endpoint pool, and the server tokenizer, against the real servers."""

from __future__ import annotations

import httpx
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.indices.prompt_helper import PromptHelper
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.utils import get_tokenizer
from support.pools import assert_failed_over, pool_urls

from llamaindex_vllm_accel import VLLM, VLLMEmbedding

TEXT = "Ahoy! Ünïcödé ½ ∑ naïve café — 東京 and 🦜 parrots"


def _server_count(chat_server_url: str, text: str) -> int:
    resp = httpx.post(f"{chat_server_url}/tokenize", timeout=60,
                      json={"model": "smollm2", "prompt": text, "add_special_tokens": False})
    resp.raise_for_status()
    count: int = resp.json()["count"]
    return count


def test_llm_fails_over_sync_and_async(chat_server_url: str) -> None:
    import asyncio

    urls = pool_urls(chat_server_url)
    llm = VLLM(model="smollm2", endpoints=urls, max_tokens=4, temperature=0)
    assert llm.chat([ChatMessage(role="user", content="Say hi")]).message.content
    assert_failed_over(llm.client, urls[0], answered=1)
    assert llm.metadata.context_window > 0  # /v1/models through the pool

    async def run() -> str:
        response = await llm.acomplete("Say hi")
        assert_failed_over(llm.async_client, urls[0], answered=1)
        assert llm.client_stats().total_requests >= 3  # sync and async clients together
        await llm.aclose()
        return response.text

    assert asyncio.run(run())


def test_embedding_fails_over(embed_server_url: str) -> None:
    urls = pool_urls(embed_server_url)
    embed = VLLMEmbedding(model_name="minilm", endpoints=urls)
    vectors = embed.get_text_embedding_batch(["hello", "world"])
    assert [len(v) for v in vectors] == [384, 384]
    assert_failed_over(embed.client, urls[0], answered=1)
    assert embed.client_stats().total_requests >= 1


def test_tokenizer_counts_with_the_server(chat_server_url: str) -> None:
    llm = VLLM(model="smollm2", base_url=chat_server_url)
    expected = _server_count(chat_server_url, TEXT)
    assert len(llm.tokenizer(TEXT)) == expected
    assert expected != len(get_tokenizer()(TEXT))  # LlamaIndex's default (tiktoken) differs

    helper = PromptHelper.from_llm_metadata(llm.metadata, tokenizer=llm.tokenizer)
    assert helper._token_counter.get_string_tokens(TEXT) == expected


def test_chat_memory_counts_real_tokens(chat_server_url: str) -> None:
    llm = VLLM(model="smollm2", base_url=chat_server_url)
    old, new = "An old message about the sea. " * 3, TEXT
    limit = len(llm.tokenizer(new))
    memory = ChatMemoryBuffer.from_defaults(llm=llm, tokenizer_fn=llm.tokenizer,
                                            token_limit=limit)
    memory.put(ChatMessage(role="user", content=old))
    memory.put(ChatMessage(role="user", content=new))
    kept = memory.get()
    assert [m.content for m in kept] == [new]  # exactly the newest fits in the server's count
    roomy = ChatMemoryBuffer.from_defaults(llm=llm, tokenizer_fn=llm.tokenizer,
                                           token_limit=limit + len(llm.tokenizer(old)) + 8)
    roomy.set(memory.get_all())
    assert len(roomy.get()) == 2

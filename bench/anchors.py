"""The anchors of the throughput cell: LangChain's ``ChatOpenAI``, LlamaIndex's ``OpenAILike``
and LiteLLM, each used as its documentation shows, against the same server and settings."""

from __future__ import annotations

import asyncio
from typing import Any

from .settings import EXTRA, MAX_TOKENS, MODEL


def _chat_openai(base: str) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=MODEL, base_url=base + "/v1", api_key="bench-key",
                      max_tokens=MAX_TOKENS, extra_body=EXTRA)


def chatopenai_batch(base: str, items: list[str]) -> None:
    _chat_openai(base).batch(items)


def _openai_like(base: str) -> Any:
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(model=MODEL, api_base=base + "/v1", api_key="bench-key",
                      max_tokens=MAX_TOKENS, is_chat_model=True, is_function_calling_model=False,
                      context_window=2048, timeout=600.0,
                      additional_kwargs={"extra_body": EXTRA})


def litellm_gather(base: str, items: list[str]) -> None:
    import litellm

    async def go() -> None:
        await asyncio.gather(*(litellm.acompletion(
            model=f"hosted_vllm/{MODEL}", api_base=base + "/v1", api_key="bench-key",
            messages=[{"role": "user", "content": p}], max_tokens=MAX_TOKENS,
            extra_body=EXTRA) for p in items))

    asyncio.run(go())


def litellm_router_gather(base: str, items: list[str]) -> None:
    from litellm import Router

    router = Router(model_list=[{"model_name": MODEL, "litellm_params": {
        "model": f"hosted_vllm/{MODEL}", "api_base": base + "/v1", "api_key": "bench-key"}}])

    async def go() -> None:
        await asyncio.gather(*(router.acompletion(
            model=MODEL, messages=[{"role": "user", "content": p}], max_tokens=MAX_TOKENS,
            extra_body=EXTRA) for p in items))

    asyncio.run(go())


def openailike_loop(base: str, items: list[str]) -> None:
    llm = _openai_like(base)
    for p in items:
        llm.complete(p)


def openailike_gather(base: str, items: list[str]) -> None:
    llm = _openai_like(base)

    async def go() -> None:
        await asyncio.gather(*(llm.acomplete(p) for p in items))

    asyncio.run(go())

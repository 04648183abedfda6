"""The clients under measurement, each built the way its documentation tells a vLLM user to.

Every builder takes the server root (no ``/v1``) and the number of tokens to ask for, and returns
a :class:`Client` whose ``call`` sends one non-streamed chat request and whose ``stream`` consumes
one streamed chat answer (returning how many items it iterated). Async clients return
coroutines. All of them ask for the same thing: one user message ``"Hi"``, ``max_tokens`` tokens,
streamed usage where the client can ask for it. Imports happen inside the builders, so a process
that measures one client never imports the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MODEL = "smollm2"
PROMPT = "Hi"
MESSAGES = [{"role": "user", "content": PROMPT}]
KEY = "bench-key"


@dataclass
class Client:
    call: Callable[[], Any]
    stream: Callable[[], Any]
    close: Callable[[], Any] = lambda: None


@dataclass(frozen=True)
class Spec:
    name: str
    label: str
    family: str  # "floor", "anchor" or "ours"
    kind: str  # "sync" or "async"
    build: Callable[[str, int], Client]
    peer: str | None = None  # the anchor an "ours" integration is compared with
    floor: str | None = None  # the framework floor (bench/floors.py) a wrapper is compared with


# -- raw httpx: the floor -----------------------------------------------------------------------

def _body(tokens: int, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "max_tokens": tokens}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def httpx_sync(base: str, tokens: int) -> Client:
    import httpx

    client = httpx.Client(timeout=600.0)
    url = base + "/v1/chat/completions"
    body, sbody = _body(tokens, False), _body(tokens, True)

    def call() -> Any:
        response = client.post(url, json=body)
        response.raise_for_status()
        return response.json()

    def stream() -> int:
        n = 0
        with client.stream("POST", url, json=sbody) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    data = line[6:]
                    if data == "[DONE]":
                        break
                    json.loads(data)
                    n += 1
        return n

    return Client(call, stream, client.close)


def httpx_async(base: str, tokens: int) -> Client:
    import httpx

    client = httpx.AsyncClient(timeout=600.0)
    url = base + "/v1/chat/completions"
    body, sbody = _body(tokens, False), _body(tokens, True)

    async def call() -> Any:
        response = await client.post(url, json=body)
        response.raise_for_status()
        return response.json()

    async def stream() -> int:
        n = 0
        async with client.stream("POST", url, json=sbody) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    data = line[6:]
                    if data == "[DONE]":
                        break
                    json.loads(data)
                    n += 1
        return n

    return Client(call, stream, client.aclose)


# -- the openai SDK -----------------------------------------------------------------------------

def openai_sync(base: str, tokens: int) -> Client:
    from openai import OpenAI

    client = OpenAI(base_url=base + "/v1", api_key=KEY)

    def call() -> Any:
        return client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=tokens)

    def stream() -> int:
        n = 0
        with client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=tokens, stream=True,
            stream_options={"include_usage": True},
        ) as chunks:
            for _ in chunks:
                n += 1
        return n

    return Client(call, stream, client.close)


def openai_async(base: str, tokens: int) -> Client:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base + "/v1", api_key=KEY)

    async def call() -> Any:
        return await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=tokens)

    async def stream() -> int:
        n = 0
        chunks = await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=tokens, stream=True,
            stream_options={"include_usage": True})
        async with chunks:
            async for _ in chunks:
                n += 1
        return n

    return Client(call, stream, client.close)


# -- LangChain: ChatOpenAI pointed at vLLM, and ChatVLLM ------------------------------------------

def _chat_openai(base: str, tokens: int) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=MODEL, base_url=base + "/v1", api_key=KEY, max_tokens=tokens,
                      stream_usage=True)


def _chat_vllm(base: str, tokens: int) -> Any:
    from langchain_vllm_accel import ChatVLLM

    return ChatVLLM(model=MODEL, base_url=base, max_tokens=tokens)


def _lc_sync(make: Callable[[str, int], Any]) -> Callable[[str, int], Client]:
    def build(base: str, tokens: int) -> Client:
        model = make(base, tokens)

        def stream() -> int:
            n = 0
            for _ in model.stream(PROMPT):
                n += 1
            return n

        return Client(lambda: model.invoke(PROMPT), stream)

    return build


def _lc_async(make: Callable[[str, int], Any]) -> Callable[[str, int], Client]:
    def build(base: str, tokens: int) -> Client:
        model = make(base, tokens)

        async def call() -> Any:
            return await model.ainvoke(PROMPT)

        async def stream() -> int:
            n = 0
            async for _ in model.astream(PROMPT):
                n += 1
            return n

        return Client(call, stream)

    return build


# -- LlamaIndex: OpenAILike pointed at vLLM, and this package's VLLM ------------------------------

def _openai_like(base: str, tokens: int) -> Any:
    from llama_index.llms.openai_like import OpenAILike

    # The five flags OpenAILike needs to talk to vLLM's chat route correctly.
    return OpenAILike(model=MODEL, api_base=base + "/v1", api_key=KEY, max_tokens=tokens,
                      is_chat_model=True, is_function_calling_model=False, context_window=2048)


def _li_vllm(base: str, tokens: int) -> Any:
    from llamaindex_vllm_accel import VLLM

    return VLLM(base_url=base, model=MODEL, max_tokens=tokens)


def _li_messages() -> Any:
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role="user", content=PROMPT)]


def _li_sync(make: Callable[[str, int], Any]) -> Callable[[str, int], Client]:
    def build(base: str, tokens: int) -> Client:
        llm, messages = make(base, tokens), _li_messages()

        def stream() -> int:
            n = 0
            for _ in llm.stream_chat(messages):
                n += 1
            return n

        return Client(lambda: llm.chat(messages), stream)

    return build


def _li_async(make: Callable[[str, int], Any]) -> Callable[[str, int], Client]:
    def build(base: str, tokens: int) -> Client:
        llm, messages = make(base, tokens), _li_messages()

        async def call() -> Any:
            return await llm.achat(messages)

        async def stream() -> int:
            n = 0
            async for _ in await llm.astream_chat(messages):
                n += 1
            return n

        return Client(call, stream)

    return build


# -- this package's core client -------------------------------------------------------------------

def core_sync(base: str, tokens: int) -> Client:
    from vllm_accel import VLLMClient

    client = VLLMClient(base, model=MODEL)

    def stream() -> int:
        n = 0
        with client.stream_chat(MESSAGES, max_tokens=tokens) as chunks:
            for _ in chunks:
                n += 1
        return n

    return Client(lambda: client.chat(MESSAGES, max_tokens=tokens), stream, client.close)


def core_async(base: str, tokens: int) -> Client:
    from vllm_accel import AsyncVLLMClient

    client = AsyncVLLMClient(base, model=MODEL)

    async def call() -> Any:
        return await client.chat(MESSAGES, max_tokens=tokens)

    async def stream() -> int:
        n = 0
        async with client.stream_chat(MESSAGES, max_tokens=tokens) as chunks:
            async for _ in chunks:
                n += 1
        return n

    return Client(call, stream, client.aclose)


def _lc_floor(base: str, tokens: int) -> Any:
    from .floor_langchain import LangChainFloor

    return LangChainFloor(base_url=base, max_tokens=tokens)


def _li_floor(base: str, tokens: int) -> Any:
    from .floor_llamaindex import LlamaIndexFloor

    return LlamaIndexFloor(base_url=base, max_tokens=tokens)


# -- LiteLLM: the anchor of the many-provider routers ------------------------------------------

def _litellm_kwargs(base: str, tokens: int) -> dict[str, Any]:
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    # The responder's chunks are all alike; LiteLLM would stop a stream after 100 repeats.
    os.environ.setdefault("REPEATED_STREAMING_CHUNK_LIMIT", "1000000")
    return {"model": f"hosted_vllm/{MODEL}", "api_base": base + "/v1", "api_key": KEY,
            "messages": MESSAGES, "max_tokens": tokens}


def litellm_sync(base: str, tokens: int) -> Client:
    kw = _litellm_kwargs(base, tokens)
    import litellm

    def stream() -> int:
        return sum(1 for _ in litellm.completion(stream=True, **kw))

    return Client(lambda: litellm.completion(**kw), stream)


def litellm_async(base: str, tokens: int) -> Client:
    kw = _litellm_kwargs(base, tokens)
    import litellm

    async def call() -> Any:
        return await litellm.acompletion(**kw)

    async def stream() -> int:
        n = 0
        async for _ in await litellm.acompletion(stream=True, **kw):
            n += 1
        return n

    return Client(call, stream)


SPECS: list[Spec] = [
    Spec("httpx", "raw httpx (floor)", "floor", "sync", httpx_sync),
    Spec("openai", "openai SDK", "anchor", "sync", openai_sync),
    Spec("chatopenai", "ChatOpenAI", "anchor", "sync", _lc_sync(_chat_openai)),
    Spec("openailike", "OpenAILike", "anchor", "sync", _li_sync(_openai_like)),
    Spec("litellm", "litellm.completion (hosted_vllm/)", "anchor", "sync", litellm_sync),
    Spec("lc_floor", "LangChain floor (BaseChatModel + raw httpx)", "framework_floor", "sync",
         _lc_sync(_lc_floor)),
    Spec("li_floor", "LlamaIndex floor (CustomLLM + raw httpx)", "framework_floor", "sync",
         _li_sync(_li_floor)),
    Spec("core", "vllm_accel.VLLMClient", "ours", "sync", core_sync),
    Spec("chatvllm", "ChatVLLM", "ours", "sync", _lc_sync(_chat_vllm), peer="chatopenai",
         floor="lc_floor"),
    Spec("li_vllm", "llamaindex VLLM", "ours", "sync", _li_sync(_li_vllm), peer="openailike",
         floor="li_floor"),
    Spec("httpx", "raw httpx.AsyncClient (floor)", "floor", "async", httpx_async),
    Spec("openai", "openai AsyncOpenAI", "anchor", "async", openai_async),
    Spec("chatopenai", "ChatOpenAI (async)", "anchor", "async", _lc_async(_chat_openai)),
    Spec("openailike", "OpenAILike (async)", "anchor", "async", _li_async(_openai_like)),
    Spec("litellm", "litellm.acompletion (hosted_vllm/)", "anchor", "async", litellm_async),
    Spec("lc_floor", "LangChain floor (async)", "framework_floor", "async",
         _lc_async(_lc_floor)),
    Spec("li_floor", "LlamaIndex floor (async)", "framework_floor", "async",
         _li_async(_li_floor)),
    Spec("core", "vllm_accel.AsyncVLLMClient", "ours", "async", core_async),
    Spec("chatvllm", "ChatVLLM (async)", "ours", "async", _lc_async(_chat_vllm),
         peer="chatopenai", floor="lc_floor"),
    Spec("li_vllm", "llamaindex VLLM (async)", "ours", "async", _li_async(_li_vllm),
         peer="openailike", floor="li_floor"),
]


def spec(name: str, kind: str) -> Spec:
    for s in SPECS:
        if s.name == name and s.kind == kind:
            return s
    raise KeyError(f"{name}/{kind}")

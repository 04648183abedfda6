"""The LlamaIndex floor: ``CustomLLM`` with raw-httpx ``chat``/``stream_chat`` (and async),
under the framework's ``llm_chat_callback`` as every LlamaIndex LLM."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from .clients import MODEL
from .floor_common import PATH, adeltas, body, deltas


def _messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": str(m.role.value), "content": m.content or ""} for m in messages]


def _answer(data: dict[str, Any]) -> ChatResponse:
    text = data["choices"][0]["message"]["content"]
    return ChatResponse(message=ChatMessage(role="assistant", content=text))


class LlamaIndexFloor(CustomLLM):
    base_url: str
    max_tokens: int
    _sync: httpx.Client = PrivateAttr(default_factory=lambda: httpx.Client(timeout=600.0))
    _async: httpx.AsyncClient = PrivateAttr(
        default_factory=lambda: httpx.AsyncClient(timeout=600.0))

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=MODEL, is_chat_model=True)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.chat([ChatMessage(content=prompt)]).message.content
                                  or "")

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError("the floor measures chat only")

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        r = self._sync.post(self.base_url + PATH,
                            json=body(_messages(messages), self.max_tokens, False))
        r.raise_for_status()
        return _answer(r.json())

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        r = await self._async.post(self.base_url + PATH,
                                   json=body(_messages(messages), self.max_tokens, False))
        r.raise_for_status()
        return _answer(r.json())

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Any:
        payload = body(_messages(messages), self.max_tokens, True)

        def gen() -> Iterator[ChatResponse]:
            text = ""
            with self._sync.stream("POST", self.base_url + PATH, json=payload) as r:
                r.raise_for_status()
                for delta in deltas(r.iter_lines()):
                    text += delta
                    yield ChatResponse(message=ChatMessage(role="assistant", content=text),
                                       delta=delta)

        return gen()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Any:
        payload = body(_messages(messages), self.max_tokens, True)

        async def gen() -> AsyncIterator[ChatResponse]:
            text = ""
            async with self._async.stream("POST", self.base_url + PATH, json=payload) as r:
                r.raise_for_status()
                async for delta in adeltas(r.aiter_lines()):
                    text += delta
                    yield ChatResponse(message=ChatMessage(role="assistant", content=text),
                                       delta=delta)

        return gen()

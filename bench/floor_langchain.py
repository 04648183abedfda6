"""The LangChain floor: ``BaseChatModel`` with raw-httpx ``_generate``/``_stream`` (and async)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from .floor_common import PATH, adeltas, body, deltas

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def _messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, m.type), "content": str(m.content)} for m in messages]


def _result(data: dict[str, Any]) -> ChatResult:
    text = data["choices"][0]["message"]["content"]
    return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


class LangChainFloor(BaseChatModel):
    base_url: str
    max_tokens: int
    _sync: httpx.Client = PrivateAttr(default_factory=lambda: httpx.Client(timeout=600.0))
    _async: httpx.AsyncClient = PrivateAttr(
        default_factory=lambda: httpx.AsyncClient(timeout=600.0))

    @property
    def _llm_type(self) -> str:
        return "bench-floor"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        r = self._sync.post(self.base_url + PATH,
                            json=body(_messages(messages), self.max_tokens, False))
        r.raise_for_status()
        return _result(r.json())

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        r = await self._async.post(self.base_url + PATH,
                                   json=body(_messages(messages), self.max_tokens, False))
        r.raise_for_status()
        return _result(r.json())

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        payload = body(_messages(messages), self.max_tokens, True)
        with self._sync.stream("POST", self.base_url + PATH, json=payload) as r:
            r.raise_for_status()
            for text in deltas(r.iter_lines()):
                yield ChatGenerationChunk(message=AIMessageChunk(content=text))

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        payload = body(_messages(messages), self.max_tokens, True)
        async with self._async.stream("POST", self.base_url + PATH, json=payload) as r:
            r.raise_for_status()
            async for text in adeltas(r.aiter_lines()):
                yield ChatGenerationChunk(message=AIMessageChunk(content=text))

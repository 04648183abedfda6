"""Shared by the framework floors (bench/floor_langchain.py, bench/floor_llamaindex.py).

A floor is a framework's base class with a raw-httpx chat call and no other work: whatever it
costs above raw httpx is the framework's own per-call cost (callbacks, run managers, message
objects, instrumentation); a wrapper's cost above its floor is what the wrapper adds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .clients import MODEL

PATH = "/v1/chat/completions"


def body(messages: list[dict[str, str]], tokens: int, stream: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"model": MODEL, "messages": messages, "max_tokens": tokens}
    if stream:
        out["stream"] = True
    return out


def _delta(data: str) -> str:
    choices = json.loads(data).get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


def deltas(lines: Iterator[str]) -> Iterator[str]:
    """The text deltas of an SSE chat stream."""
    for line in lines:
        if line.startswith("data: "):
            if line[6:] == "[DONE]":
                return
            yield _delta(line[6:])


async def adeltas(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The text deltas of an SSE chat stream (async)."""
    async for line in lines:
        if line.startswith("data: "):
            if line[6:] == "[DONE]":
                return
            yield _delta(line[6:])

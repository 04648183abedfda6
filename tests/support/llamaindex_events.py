"""LlamaIndex test helpers shared by the recorded and live tiers: event capture through the
root instrumentation dispatcher, and one call of each of ``VLLM``'s eight methods."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

METHODS = ["chat", "stream_chat", "achat", "astream_chat",
           "complete", "stream_complete", "acomplete", "astream_complete"]
"""The eight LLM methods, in the order the parametrized tests list them."""


class Collect(BaseEventHandler):
    """Keeps every instrumentation event."""

    events: list[BaseEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "Collect"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def names(self, prefix: str = "") -> list[str]:
        """The event class names, optionally only those starting with ``prefix``."""
        return [n for n in (type(e).__name__ for e in self.events) if n.startswith(prefix)]

    def of(self, kind: type[BaseEvent]) -> list[Any]:
        """The events of one class, in order."""
        return [e for e in self.events if isinstance(e, kind)]


@contextmanager
def collect_events() -> Iterator[Collect]:
    """Every event the root dispatcher sees inside the block."""
    handler = Collect(events=[])
    root = get_dispatcher()
    root.add_event_handler(handler)
    try:
        yield handler
    finally:
        root.event_handlers.remove(handler)


async def run_method(llm: Any, method: str, messages: Any, prompt: str) -> Any:
    """Call one of the eight methods; streams are read to the end (a list of their chunks)."""
    arg: Any = messages if "chat" in method else prompt
    if method in ("chat", "complete"):
        return getattr(llm, method)(arg)
    if method in ("achat", "acomplete"):
        return await getattr(llm, method)(arg)
    if method in ("stream_chat", "stream_complete"):
        return list(getattr(llm, method)(arg))
    return [r async for r in await getattr(llm, method)(arg)]

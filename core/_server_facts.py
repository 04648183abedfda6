"""Per-server facts of the integration idiom: LoRA adapters loaded, model list, tool support.

Re-exported by ``vllm_accel._integration`` (see there); kept apart to keep modules small.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._async_client import AsyncVLLMClient
    from ._client import VLLMClient
    from ._models import ModelList

__all__ = ["ADAPTERS", "FACTS", "AdapterRegistry", "ServerFacts"]


# -- LoRA adapters -------------------------------------------------------------------------------


class AdapterRegistry:
    """Which LoRA adapters this process has loaded, per (server, name, path)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: set[tuple[str, str, str]] = set()

    def is_loaded(self, server: str, name: str, path: str) -> bool:
        """Whether ``name`` from ``path`` was loaded on ``server`` (and not forgotten since)."""
        with self._lock:
            return (server, name, path) in self._loaded

    def _mark(self, server: str, name: str, path: str) -> None:
        with self._lock:
            self._loaded.add((server, name, path))
        FACTS.forget_models(server)

    def clear(self) -> None:
        """Forget every load (a test's fresh start)."""
        with self._lock:
            self._loaded.clear()

    def forget(self, server: str, name: str) -> None:
        """Forget every load of ``name`` on ``server`` (the next use loads it again)."""
        with self._lock:
            self._loaded = {e for e in self._loaded if e[:2] != (server, name)}

    def ensure(self, client: VLLMClient, server: str, name: str, path: str) -> None:
        """Load ``name`` from ``path`` unless this process already did.

        Loading is a no-op on the server when it serves that adapter from that path already.
        """
        if not self.is_loaded(server, name, path):
            client.load_lora_adapter(name, path)
            self._mark(server, name, path)

    async def aensure(self, client: AsyncVLLMClient, server: str, name: str, path: str) -> None:
        """Async :meth:`ensure`."""
        if not self.is_loaded(server, name, path):
            await client.load_lora_adapter(name, path)
            self._mark(server, name, path)

    @contextlib.contextmanager
    def forget_on_404(self, server: str, name: str | None) -> Iterator[None]:
        """Forget ``name`` when the request inside answers 404 (the server lost the adapter)."""
        from ._errors import NotFoundError

        try:
            yield
        except NotFoundError:
            if name is not None:
                self.forget(server, name)
            raise


ADAPTERS = AdapterRegistry()
"""The process-wide adapter registry of both framework packages."""


# -- server facts --------------------------------------------------------------------------------

_PROBE_TOOL = {
    "type": "function",
    "function": {"name": "probe", "parameters": {"type": "object", "properties": {}}},
}


class ServerFacts:
    """What a server tells once: its model list and whether it accepts tools."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, ModelList] = {}
        self._tools: dict[tuple[str, str | None], bool] = {}

    def models(self, client: VLLMClient, server: str) -> ModelList:
        """``GET /v1/models`` of ``server`` (asked once; again after an adapter load)."""
        models = self._models.get(server)
        if models is None:
            models = client.models()
            with self._lock:
                self._models[server] = models
        return models

    def clear(self) -> None:
        """Forget everything (a test's fresh start)."""
        with self._lock:
            self._models.clear()
            self._tools.clear()

    def cached_models(self, server: str) -> ModelList | None:
        """The model list if already asked, else None (never a request)."""
        return self._models.get(server)

    def forget_models(self, server: str) -> None:
        """Ask for the model list again next time."""
        with self._lock:
            self._models.pop(server, None)

    def max_model_len(self, client: VLLMClient, server: str, name: str) -> int | None:
        """The context length of ``name`` (an adapter's is its base model's)."""
        card = self.models(client, server).get(name)
        if card is None:  # loaded since the list was asked for: ask again
            self.forget_models(server)
            card = self.models(client, server).get(name)
        if card is not None and card.max_model_len is None and card.parent:
            card = self.models(client, server).get(card.parent)
        return None if card is None else card.max_model_len

    def accepts_tools(self, client: VLLMClient, server: str, model: str | None) -> bool:
        """Whether the server takes ``tool_choice="auto"`` (``--enable-auto-tool-choice``).

        One one-token request, asked once per server and model: vLLM answers 400 at once when
        auto tool choice is off.
        """
        from ._errors import BadRequestError

        key = (server, model)
        known = self._tools.get(key)
        if known is None:
            try:
                client.chat([{"role": "user", "content": "hi"}], model=model,
                            tools=[_PROBE_TOOL], tool_choice="auto", max_tokens=1)
                known = True
            except BadRequestError:
                known = False
            with self._lock:
                self._tools[key] = known
        return known

    def cached_tools(self, server: str, model: str | None) -> bool | None:
        """Whether tools are accepted, if already asked (never a request)."""
        return self._tools.get((server, model))


FACTS = ServerFacts()
"""The process-wide server facts of both framework packages."""

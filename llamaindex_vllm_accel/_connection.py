"""Lazily created core clients, shared by a LlamaIndex object and its cheap copies.

A ``Connection`` owns one sync ``VLLMClient`` and one ``AsyncVLLMClient`` per event loop (an
httpx async pool cannot outlive or cross its loop), created on first use so that constructing,
copying and pickling an LLM or embedding model never opens a socket. It pickles to a fresh,
empty connection: clients are rebuilt on first use in the new process.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vllm_accel import AsyncVLLMClient, VLLMClient

__all__ = ["Connection", "safe_url"]


class Connection:
    """Clients plus server facts looked up once (shared by ``with_adapter`` copies)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: VLLMClient | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncVLLMClient] = (
            weakref.WeakKeyDictionary()
        )
        self.facts: dict[str, Any] = {}
        """Server facts cached by the owner (model cards, tool support, loaded adapters)."""
        self.sync_override: VLLMClient | None = None
        self.async_override: AsyncVLLMClient | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (Connection, ())

    def client(self, make: Callable[[], VLLMClient]) -> VLLMClient:
        """The sync client, built by ``make`` on first use."""
        if self.sync_override is not None:
            return self.sync_override
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = make()
                client = self._client
        return client

    def aclient(self, make: Callable[[], AsyncVLLMClient]) -> AsyncVLLMClient:
        """The async client of the running event loop, built by ``make`` on first use."""
        if self.async_override is not None:
            return self.async_override
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            client = self._aclients[loop] = make()
        return client

    def close(self) -> None:
        """Close the sync client (async clients close with :meth:`aclose`)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the sync client and the running loop's async client."""
        self.close()
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


def safe_url(url: str | None) -> str | None:
    """``url`` without user info or query string (both can carry credentials)."""
    if not url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    host, slash, path = rest.partition("/")
    host = host.rpartition("@")[2]
    path = path.split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}{sep}{host}{slash}{path}"

"""Lazily created core clients, shared by a LlamaIndex object and its cheap copies.

``ClientsMixin`` is what ``VLLM`` and ``VLLMEmbedding`` share: the ``client``/``async_client``
constructor overrides, the lazily built clients and ``close``/``aclose``. The connection fields
both declare are typed once here (``BaseUrl``, ``ApiKey``, ...) and declared by each class in its
own place, so that each class keeps its field order (``to_dict``, ``to_json``, the schema).

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
from typing import TYPE_CHECKING, Annotated, Any

from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr, SecretStr

if TYPE_CHECKING:
    from vllm_accel import AsyncVLLMClient, VLLMClient

__all__ = [
    "ApiKey",
    "BaseUrl",
    "ClientsMixin",
    "Connection",
    "DefaultHeaders",
    "MaxRetries",
    "Timeout",
    "safe_url",
]

BaseUrl = Annotated[
    str | None, Field(description="Server URL (env VLLM_BASE_URL, default localhost:8000).")
]
ApiKey = Annotated[
    SecretStr | None,
    Field(description="API key (env VLLM_API_KEY); never OPENAI_API_KEY.", exclude=True),
]
Timeout = Annotated[float, Field(description="Seconds per request (connect: 5).")]
MaxRetries = Annotated[int, Field(ge=0)]
DefaultHeaders = Annotated[dict[str, str] | None, Field(exclude=True)]


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


class ClientsMixin(BaseModel):
    """The core clients of a LlamaIndex object, created on first use from its connection fields.

    Subclasses declare ``base_url``, ``api_key``, ``timeout``, ``max_retries`` and
    ``default_headers`` (with the types above) and implement ``_client_model``.
    """

    if TYPE_CHECKING:
        base_url: str | None
        api_key: SecretStr | None
        timeout: float
        max_retries: int
        default_headers: dict[str, str] | None

    _conn: Connection = PrivateAttr(default_factory=Connection)

    def __init__(
        self,
        *,
        client: VLLMClient | None = None,
        async_client: AsyncVLLMClient | None = None,
        **kwargs: Any,
    ) -> None:
        """Build the object; ``client``/``async_client`` replace the lazily created clients."""
        super().__init__(**kwargs)
        self._conn.sync_override = client
        self._conn.async_override = async_client

    def _client_model(self) -> str | None:
        """The clients' default model."""
        raise NotImplementedError

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "api_key": self.api_key,
            "model": self._client_model(),
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "headers": self.default_headers,
        }

    @property
    def client(self) -> VLLMClient:
        """The sync core client (created on first use, shared with the object's copies)."""

        def make() -> VLLMClient:
            from vllm_accel import VLLMClient

            return VLLMClient(**self._client_kwargs())

        return self._conn.client(make)

    @property
    def async_client(self) -> AsyncVLLMClient:
        """The async core client of the running event loop (created on first use)."""

        def make() -> AsyncVLLMClient:
            from vllm_accel import AsyncVLLMClient

            return AsyncVLLMClient(**self._client_kwargs())

        return self._conn.aclient(make)

    def close(self) -> None:
        """Close the sync client (it is rebuilt if used again)."""
        self._conn.close()

    async def aclose(self) -> None:
        """Close the clients of this event loop (they are rebuilt if used again)."""
        await self._conn.aclose()


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

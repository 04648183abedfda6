"""The core clients of a LlamaIndex object, from the shared integration idiom.

``ClientsMixin`` is what ``VLLM`` and ``VLLMEmbedding`` share: the ``client``/``async_client``
constructor overrides, the clients of the shared cache (``vllm_accel._integration.CLIENTS``:
one per connection settings, and per event loop for async), ``close``/``aclose`` and
``client_stats``. The connection fields both declare are typed once here (``BaseUrl``,
``Endpoints``, ``ApiKey``, ...) and declared by each class in its own place, so that each class
keeps its field order (``to_dict``, ``to_json``, the schema). Each carries ``NOT_SENT``: they
are settings, never request fields.

Clients are created on first use, so constructing, copying and pickling an LLM or embedding
model never opens a socket; a pickled object gets its clients from the cache of the new process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from llama_index.core.bridge.pydantic import BaseModel, Field, PrivateAttr, SecretStr

from vllm_accel._integration import CLIENTS, NOT_SENT, ClientSettings, merge_stats

if TYPE_CHECKING:
    from vllm_accel import AsyncVLLMClient, StatsSnapshot, VLLMClient

__all__ = [
    "ApiKey",
    "BaseUrl",
    "ClientsMixin",
    "DefaultHeaders",
    "Endpoints",
    "MaxRetries",
    "Timeout",
    "safe_url",
]

BaseUrl = Annotated[
    str | None,
    Field(description="Server URL (env VLLM_BASE_URL, default localhost:8000)."),
    NOT_SENT,
]
Endpoints = Annotated[
    Any,
    Field(
        description="Several servers instead of base_url: URLs, vllm_accel.Endpoint objects or "
        "a vllm_accel.EndpointPool (routing, failover, breaker), as the core client takes them.",
        exclude=True,
    ),
    NOT_SENT,
]
ApiKey = Annotated[
    SecretStr | None,
    Field(description="API key (env VLLM_API_KEY); never OPENAI_API_KEY.", exclude=True),
    NOT_SENT,
]
Timeout = Annotated[float, Field(description="Seconds per request (connect: 5)."), NOT_SENT]
MaxRetries = Annotated[int, Field(ge=0), NOT_SENT]
DefaultHeaders = Annotated[dict[str, str] | None, Field(exclude=True), NOT_SENT]


class _Overrides:
    """Clients passed to the constructor; they do not pickle (a new process uses the cache)."""

    def __init__(self, client: Any = None, async_client: Any = None) -> None:
        self.client = client
        self.async_client = async_client

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Overrides, ())


class ClientsMixin(BaseModel):
    """The core clients of a LlamaIndex object, from its connection fields.

    Subclasses declare ``base_url``, ``endpoints``, ``api_key``, ``timeout``, ``max_retries``
    and ``default_headers`` (with the types above).
    """

    if TYPE_CHECKING:
        base_url: str | None
        endpoints: Any
        api_key: SecretStr | None
        timeout: float
        max_retries: int
        default_headers: dict[str, str] | None

    _overrides: _Overrides = PrivateAttr(default_factory=_Overrides)

    def __init__(
        self,
        *,
        client: VLLMClient | None = None,
        async_client: AsyncVLLMClient | None = None,
        **kwargs: Any,
    ) -> None:
        """Build the object; ``client``/``async_client`` replace the shared clients.

        Raises:
            vllm_accel.InvalidRequestError: ``base_url`` together with ``endpoints``, or bad
                endpoints (before anything is sent).
        """
        if kwargs.get("endpoints") is not None:
            ClientSettings.of(base_url=kwargs.get("base_url"), endpoints=kwargs["endpoints"])
        super().__init__(**kwargs)
        self._overrides = _Overrides(client, async_client)

    def _client_settings(self) -> ClientSettings:
        return ClientSettings.of(
            base_url=self.base_url,
            endpoints=self.endpoints,
            api_key=self.api_key.get_secret_value() if self.api_key is not None else None,
            timeout=self.timeout,
            max_retries=self.max_retries,
            headers=self.default_headers,
        )

    @property
    def _server(self) -> str:
        """Which server(s) this object talks to (the key of the shared server facts)."""
        return self._client_settings().server

    @property
    def client(self) -> VLLMClient:
        """The sync core client (created on first use, shared by equal settings)."""
        override: VLLMClient | None = self._overrides.client
        return override if override is not None else CLIENTS.client(self._client_settings())

    @property
    def async_client(self) -> AsyncVLLMClient:
        """The async core client of the running event loop (created on first use)."""
        override: AsyncVLLMClient | None = self._overrides.async_client
        if override is not None:
            return override
        return CLIENTS.async_client(self._client_settings())

    def client_stats(self) -> StatsSnapshot:
        """Client-side statistics (``vllm_accel.StatsSnapshot``) of these connection settings.

        Every request sent with equal settings, sync and async, counts (per endpoint with a
        pool: ``client.pool.stats()``).
        """
        over = self._overrides
        own = [c.stats() for c in (over.client, over.async_client) if c is not None]
        return merge_stats([CLIENTS.stats(self._client_settings()), *own])

    def close(self) -> None:
        """Close the sync client of these settings (it is rebuilt if used again)."""
        CLIENTS.close(self._client_settings())

    async def aclose(self) -> None:
        """Close the clients of these settings of this event loop (rebuilt if used again)."""
        await CLIENTS.aclose(self._client_settings())


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

"""The connection fields every LangChain class of the package shares (``VLLMConnection``).

``base_url`` *or* ``endpoints``, the key, timeouts, retries and headers, the core clients (from
the shared integration idiom, ``vllm_accel._integration``) and their statistics. The core
client is imported lazily, on the first request.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from vllm_accel._config import DEFAULT_BASE_URL, ENV_API_KEY, ENV_BASE_URL, ENV_MODEL
from vllm_accel._integration import (
    CLIENTS,
    ClientSettings,
    check_unknown_kwargs,
)

if TYPE_CHECKING:


    from vllm_accel import AsyncVLLMClient, StatsSnapshot, VLLMClient


def _env(name: str) -> Any:
    return lambda: os.environ.get(name) or None


def _env_secret(name: str) -> Any:
    def factory() -> SecretStr | None:
        value = os.environ.get(name)
        return SecretStr(value) if value else None

    return factory


class VLLMConnection(BaseModel):
    """Connection settings; the core clients come from the shared cache of equal settings."""

    model_config = ConfigDict(
        populate_by_name=True, arbitrary_types_allowed=True, protected_namespaces=()
    )

    model: str | None = Field(default_factory=_env(ENV_MODEL), alias="model_name")
    """Served model name (env ``VLLM_MODEL``); ``None`` = the server's first base model."""
    base_url: str | None = Field(
        default_factory=lambda: os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    )
    """Server root, with or without ``/v1`` (env ``VLLM_BASE_URL``); ``None`` with ``endpoints``."""
    endpoints: Any = Field(default=None, exclude=True)
    """Several servers instead of ``base_url``, as the core client takes them: a list of URLs or
    ``vllm_accel.Endpoint`` objects, or a ``vllm_accel.EndpointPool``. Requests are routed and
    fail over; every object with equal settings shares one pool."""
    api_key: SecretStr | None = Field(default_factory=_env_secret(ENV_API_KEY))
    """The server's ``--api-key`` (env ``VLLM_API_KEY``; ``OPENAI_API_KEY`` is never read)."""
    timeout: float | None = Field(default=None, alias="request_timeout")
    """Seconds per request (connect: 5 s); ``None`` = the core default (600 s)."""
    max_retries: int = 2
    """Retries of failed requests (connection errors, 408/409/429/5xx)."""
    default_headers: dict[str, str] | None = None
    """Extra headers sent with every request."""
    http_client: Any | None = Field(default=None, exclude=True)
    """Optional ``httpx.Client`` to send sync requests with (tests, proxies, custom TLS)."""
    http_async_client: Any | None = Field(default=None, exclude=True)
    """Optional ``httpx.AsyncClient`` to send async requests with."""

    _settings: ClientSettings | None = PrivateAttr(default=None)
    _settings_of: tuple[Any, ...] = PrivateAttr(default=())
    _own_sync: Any = PrivateAttr(default=None)
    _own_async: Any = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        """Validate the connection settings first, as the core client does.

        Raises:
            vllm_accel.InvalidRequestError: ``base_url`` together with ``endpoints``, bad
                endpoints, or a core client setting this class does not take (``retry``, ...).
        """
        names = set(type(self).model_fields)
        names |= {f.alias for f in type(self).model_fields.values() if f.alias}
        check_unknown_kwargs(type(self).__name__, set(kwargs) - names)
        endpoints = kwargs.get("endpoints")
        if endpoints is not None:
            ClientSettings.of(base_url=kwargs.get("base_url"), endpoints=endpoints)
            kwargs["base_url"] = None
        super().__init__(**kwargs)

    @model_validator(mode="before")
    @classmethod
    def _build_model_kwargs(cls, values: Any) -> Any:
        if isinstance(values, dict):
            return _split_unknown(cls, dict(values))
        return values

    def _client_settings(self) -> ClientSettings:
        """The validated settings (computed again only when a connection field changed)."""
        fields = (self.base_url, id(self.endpoints), self.api_key, self.timeout,
                  self.max_retries, repr(self.default_headers))
        if self._settings is None or self._settings_of != fields:
            self._settings_of = fields
            self._settings = ClientSettings.of(
                base_url=self.base_url if self.endpoints is None else None,
                endpoints=self.endpoints,
                api_key=self.api_key.get_secret_value() if self.api_key is not None else None,
                timeout=self.timeout,
                max_retries=self.max_retries,
                headers=self.default_headers,
            )
        return self._settings

    @property
    def client(self) -> VLLMClient:
        """The sync core client (built on first use, shared by equal settings)."""
        if self.http_client is None:
            return CLIENTS.client(self._client_settings())
        if self._own_sync is None:
            from vllm_accel import VLLMClient

            settings = self._client_settings()
            self._own_sync = VLLMClient(
                http_client=self.http_client, **settings.client_kwargs(_own_pool(settings))
            )
        return self._own_sync  # type: ignore[no-any-return]

    @property
    def async_client(self) -> AsyncVLLMClient:
        """The async core client of the running event loop (built on first use)."""
        if self.http_async_client is None:
            return CLIENTS.async_client(self._client_settings())
        if self._own_async is None:
            from vllm_accel import AsyncVLLMClient

            settings = self._client_settings()
            self._own_async = AsyncVLLMClient(
                http_client=self.http_async_client, **settings.client_kwargs(_own_pool(settings))
            )
        return self._own_async  # type: ignore[no-any-return]

    def client_stats(self) -> StatsSnapshot:
        """Client-side statistics (``vllm_accel.StatsSnapshot``) of these connection settings.

        Every request sent with equal settings, sync and async, counts (per endpoint with a
        pool: ``client.pool.stats()``).
        """
        from vllm_accel._integration import merge_stats

        own = [c.stats() for c in (self._own_sync, self._own_async) if c is not None]
        return merge_stats([CLIENTS.stats(self._client_settings()), *own])

    def close(self) -> None:
        """Close the sync client of these settings (rebuilt on next use)."""
        CLIENTS.close(self._client_settings())

    async def aclose(self) -> None:
        """Close the sync client and this event loop's async client of these settings."""
        await CLIENTS.aclose(self._client_settings())


def _own_pool(settings: ClientSettings) -> Any:
    """A pool for a client built on a caller's own ``httpx`` client (not shared)."""
    from vllm_accel import EndpointPool

    if settings.endpoints is None or isinstance(settings.endpoints, EndpointPool):
        return settings.endpoints
    return EndpointPool(settings.endpoints)


def _split_unknown(cls: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Move constructor kwargs that are not fields into ``model_kwargs`` (LangChain's way).

    (``__init__`` refused the core client settings the class does not take first: ``retry``,
    ``headers``, ... are never sent to vLLM as request fields.)
    """
    names = set(cls.model_fields)
    names |= {f.alias for f in cls.model_fields.values() if f.alias}
    extra = {k: values.pop(k) for k in list(values) if k not in names}
    if extra:
        model_kwargs = dict(values.get("model_kwargs") or {})
        clash = set(extra) & set(model_kwargs)
        if clash:
            msg = f"Parameters {sorted(clash)} were given both directly and in model_kwargs"
            raise ValueError(msg)
        values["model_kwargs"] = {**model_kwargs, **extra}
    return values

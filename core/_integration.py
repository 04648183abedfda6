"""The one integration idiom of ``langchain_vllm_accel`` and ``llamaindex_vllm_accel``.

No framework is imported here. Both packages build their core clients, load their LoRA
adapters, look up server facts and choose their request fields through this module:

* :class:`ClientSettings`: the connection settings of a framework object (``base_url`` *or*
  ``endpoints``, API key, timeout, retries, headers), validated once. Its cache key holds
  fingerprints, never a key or header value.
* :data:`CLIENTS` (:class:`ClientCache`): one sync client per settings and one async client per
  settings *and event loop* (a client of a closed loop is dropped, never reused); one
  :class:`~vllm_accel.EndpointPool` per settings, shared by those clients. Closed at interpreter
  exit, or by the framework objects' ``close()``/``aclose()``.
* :data:`ADAPTERS` (:class:`AdapterRegistry`): a LoRA adapter is loaded once per
  (server, name, path), and forgotten when the server answers 404 for it.
* :data:`FACTS` (:class:`ServerFacts`): ``/v1/models`` and whether the server accepts tools,
  asked once per server.
* :func:`request_fields`: the request fields of a framework class are its own declared pydantic
  fields, minus those marked :data:`NOT_SENT` (no second list to keep in step).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import inspect
import logging
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._config import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, normalize_base_url
from ._secret import Secret, SecretLike, to_secret
from ._server_facts import ADAPTERS, FACTS, AdapterRegistry, ServerFacts
from ._stats import RequestRecord, StatsSnapshot

if TYPE_CHECKING:  # httpx and the clients are imported on first use (the integrations' import)
    from ._async_client import AsyncVLLMClient
    from ._client import VLLMClient
    from ._pool import Endpoint, EndpointPool

__all__ = [
    "ADAPTERS",
    "CLIENTS",
    "FACTS",
    "NOT_SENT",
    "AdapterRegistry",
    "ClientCache",
    "ClientSettings",
    "ServerFacts",
    "check_unknown_kwargs",
    "fingerprint",
    "merge_stats",
    "request_fields",
    "results_or_first_error",
]

logger = logging.getLogger("vllm_accel")

def fingerprint(value: str | SecretLike | None) -> str | None:
    """A short, one-way fingerprint of a secret (None stays None): safe in keys and reprs."""
    secret = to_secret(value)
    if secret is None:
        return None
    return hashlib.sha256(secret.get_secret_value().encode()).hexdigest()[:12]


def _endpoints(value: Any) -> EndpointPool | tuple[Endpoint, ...] | None:
    """Validate ``endpoints`` (a pool, or URLs / ``Endpoint`` objects) as the core does."""
    from ._errors import InvalidRequestError
    from ._pool import Endpoint, EndpointPool

    if value is None or isinstance(value, EndpointPool):
        return value
    if isinstance(value, str | Endpoint) or not isinstance(value, Iterable):
        raise InvalidRequestError(
            "endpoints must be a list of URLs or Endpoint objects, or an EndpointPool")
    items = tuple(e if isinstance(e, Endpoint) else Endpoint(e) for e in value)
    EndpointPool(items)  # the same checks as the core client: non-empty, unique names
    return items


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How a framework object connects: one server (``base_url``) or a pool (``endpoints``)."""

    base_url: str | None = None
    endpoints: EndpointPool | tuple[Endpoint, ...] | None = None
    api_key: Secret | None = field(default=None, repr=False, compare=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(
        cls,
        *,
        base_url: str | None = None,
        endpoints: Any = None,
        api_key: str | SecretLike | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ClientSettings:
        """Validated settings.

        Raises:
            InvalidRequestError: both ``base_url`` and ``endpoints``, or bad endpoints.
        """
        from ._errors import InvalidRequestError

        if base_url is not None and endpoints is not None:
            raise InvalidRequestError("pass either base_url or endpoints, not both")
        return cls(
            base_url=None if base_url is None else normalize_base_url(base_url),
            endpoints=_endpoints(endpoints),
            api_key=to_secret(api_key),
            timeout=DEFAULT_TIMEOUT if timeout is None else float(timeout),
            max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
            headers=tuple(sorted((headers or {}).items())),
        )

    def key(self) -> tuple[Any, ...]:
        """The cache key: every setting, secrets and header values as fingerprints only."""
        from ._pool import EndpointPool

        if isinstance(self.endpoints, EndpointPool):
            where: Any = ("pool", id(self.endpoints))
        elif self.endpoints is not None:
            where = ("endpoints", tuple(
                (e.base_url, e.name, e.weight, e.max_concurrency, repr(e.timeout),
                 fingerprint(e.api_key)) for e in self.endpoints))
        else:
            where = ("url", self.base_url)
        headers = tuple((k, fingerprint(v)) for k, v in self.headers)
        return (where, fingerprint(self.api_key), self.timeout, self.max_retries, headers)

    @property
    def server(self) -> str:
        """Where these settings connect, for per-server facts (no credentials)."""
        from ._pool import EndpointPool

        if isinstance(self.endpoints, EndpointPool):
            return "pool:" + ",".join(s.name for s in self.endpoints.endpoints)
        if self.endpoints is not None:
            return "pool:" + ",".join(str(e.name) for e in self.endpoints)
        return normalize_base_url(self.base_url)

    def client_kwargs(self, pool: EndpointPool | None) -> dict[str, Any]:
        """Keyword arguments of ``VLLMClient``/``AsyncVLLMClient`` for these settings."""
        kwargs: dict[str, Any] = {"api_key": self.api_key, "headers": dict(self.headers) or None}
        if pool is not None:
            kwargs["endpoints"] = pool
        else:
            kwargs["base_url"] = self.base_url
        kwargs["timeout"] = self.timeout
        kwargs["max_retries"] = self.max_retries
        return kwargs


# -- the client cache ----------------------------------------------------------------------------


class ClientCache:
    """Core clients shared by every framework object with the same settings.

    A ``configurable_fields`` call or a ``with_adapter`` copy builds a new framework object per
    call; it must not build a new connection pool each time. Async clients are kept per event
    loop (an ``httpx.AsyncClient`` must not cross loops); those of a closed loop are dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync: dict[tuple[Any, ...], VLLMClient] = {}
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[Any, ...], AsyncVLLMClient]
        ] = weakref.WeakKeyDictionary()
        self._pools: dict[tuple[Any, ...], EndpointPool] = {}

    def _pool(self, settings: ClientSettings, key: tuple[Any, ...]) -> EndpointPool | None:
        from ._pool import EndpointPool

        if isinstance(settings.endpoints, EndpointPool):
            return settings.endpoints
        if settings.endpoints is None:
            return None
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = EndpointPool(settings.endpoints)
        return pool

    def client(self, settings: ClientSettings) -> VLLMClient:
        """The sync client of ``settings`` (built on first use)."""
        from ._client import VLLMClient

        key = settings.key()
        with self._lock:
            client = self._sync.get(key)
            if client is None:
                pool = self._pool(settings, key)
                client = self._sync[key] = VLLMClient(**settings.client_kwargs(pool))
        return client

    def async_client(self, settings: ClientSettings) -> AsyncVLLMClient:
        """The async client of ``settings`` for the running event loop (built on first use)."""
        from ._async_client import AsyncVLLMClient

        loop = asyncio.get_running_loop()
        key = settings.key()
        client = self._async.get(loop, {}).get(key)  # the per-request path: no sweep, no lock
        if client is not None:
            return client
        with self._lock:
            for dead in [lp for lp in self._async if lp.is_closed()]:
                del self._async[dead]  # their connections died with their loop
            per_loop = self._async.setdefault(loop, {})
            client = per_loop.get(key)
            if client is None:
                pool = self._pool(settings, key)
                client = per_loop[key] = AsyncVLLMClient(**settings.client_kwargs(pool))
        return client

    def _forget_pool(self, key: tuple[Any, ...]) -> None:
        if key not in self._sync and not any(key in d for d in self._async.values()):
            self._pools.pop(key, None)

    def close(self, settings: ClientSettings) -> None:
        """Close the sync client of ``settings`` (rebuilt if used again)."""
        key = settings.key()
        with self._lock:
            client = self._sync.pop(key, None)
            self._forget_pool(key)
        if client is not None:
            client.close()

    async def aclose(self, settings: ClientSettings) -> None:
        """Close the sync client and the running loop's async client of ``settings``."""
        key = settings.key()
        with self._lock:
            aclient = self._async.get(asyncio.get_running_loop(), {}).pop(key, None)
        self.close(settings)
        if aclient is not None:
            await aclient.aclose()

    def stats(self, settings: ClientSettings) -> StatsSnapshot:
        """Client statistics of ``settings``: its sync and async clients' requests together."""
        key = settings.key()
        with self._lock:
            clients: list[Any] = [self._sync[key]] if key in self._sync else []
            clients += [d[key] for lp, d in self._async.items()
                        if key in d and not lp.is_closed()]
        return merge_stats(c.stats() for c in clients)

    def close_all(self) -> None:
        """Close every cached client (registered to run at interpreter exit)."""
        with self._lock:
            sync, self._sync = list(self._sync.values()), {}
            loops = [(lp, list(d.values())) for lp, d in self._async.items()]
            self._async.clear()
            self._pools.clear()
        for client in sync:
            with contextlib.suppress(Exception):
                client.close()
        for loop, clients in loops:
            if loop.is_closed() or loop.is_running():
                continue  # nothing can await on it any more
            for aclient in clients:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(aclient.aclose())


CLIENTS = ClientCache()
"""The process-wide client cache of both framework packages."""
atexit.register(CLIENTS.close_all)


def merge_stats(snapshots: Iterable[StatsSnapshot]) -> StatsSnapshot:
    """One snapshot of several clients: totals added, percentiles over their recent records."""
    items = list(snapshots)
    records: tuple[RequestRecord, ...] = tuple(
        sorted((r for s in items for r in s.recent), key=lambda r: r.finished_at))
    return StatsSnapshot.of(
        records, sum(s.total_requests for s in items), sum(s.total_errors for s in items),
        sum(s.total_retries for s in items), sum(s.prompt_tokens for s in items),
        sum(s.completion_tokens for s in items))


# -- request fields --------------------------------------------------------------------------------


class _NotSent:
    """Marks a declared field that is a setting of the framework object, not a request field."""

    def __repr__(self) -> str:
        return "NOT_SENT"


NOT_SENT = _NotSent()
"""Use as ``Annotated[T, NOT_SENT]`` on a framework class's own fields that are not sent."""

_FIELDS: dict[type, tuple[str, ...]] = {}


def request_fields(cls: type, *bases: type) -> tuple[str, ...]:
    """The request fields of pydantic class ``cls``.

    They are its declared fields not inherited from ``bases`` (the framework and connection
    classes) and not marked :data:`NOT_SENT`.

    Computed once per class; a newly declared field is sent without another list to edit.
    """
    names = _FIELDS.get(cls)
    if names is None:
        inherited: set[str] = set()
        for base in bases:
            inherited |= set(getattr(base, "model_fields", {}))
        fields: dict[str, Any] = getattr(cls, "model_fields", {})
        names = _FIELDS[cls] = tuple(
            name for name, info in fields.items()
            if name not in inherited and not any(m is NOT_SENT for m in info.metadata))
    return names


def check_unknown_kwargs(owner: str, unknown: Iterable[str]) -> None:
    """Refuse constructor kwargs that are core client settings the framework class lacks.

    Without this, a connection name such as ``retry`` or ``http_client`` would be filed as a
    request field and sent to vLLM.

    Raises:
        InvalidRequestError: one of ``unknown`` is a ``VLLMClient`` constructor argument.
    """
    unknown = set(unknown)
    if not unknown:
        return
    from ._client import VLLMClient
    from ._errors import InvalidRequestError

    connection = set(inspect.signature(VLLMClient.__init__).parameters) - {"self"}
    clash = sorted(unknown & connection)
    if clash:
        raise InvalidRequestError(
            f"{owner} does not take the connection setting(s) {clash} of VLLMClient; "
            "see its fields (base_url or endpoints, api_key, timeout, max_retries, headers)")


def results_or_first_error(results: list[Any], return_exceptions: bool) -> list[Any]:
    """A framework batch's results, errors in their slots, or else its first error raised.

    With ``return_exceptions`` the results are returned as they are; without, the first
    exception in input order is raised.
    """
    if not return_exceptions:
        for result in results:
            if isinstance(result, Exception):
                raise result
    return results

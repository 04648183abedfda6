"""A pool of vLLM endpoints (pure state shared by both client twins; no I/O, injectable clock).

Give a client several replicas and it routes each request, fails over, and keeps per-endpoint
health and statistics::

    pool = EndpointPool([
        Endpoint("http://gpu-a:8000", api_key="key-a", max_concurrency=64),
        Endpoint("http://gpu-b:8000", api_key="key-b", weight=2),
    ], lora_paths={"pirate": "/adapters/pirate"}, auto_load_lora=True)
    with VLLMClient(endpoints=pool) as client:
        client.chat("Hi", model="pirate")

Rules (what the twins' send loops do with this state):

* **Placement.** A request for model X only goes to endpoints known to serve X (from their
  ``/v1/models`` and from this client's own LoRA loads) whenever any endpoint is known to; with
  ``auto_load_lora`` an adapter nobody serves is first loaded on the least-loaded endpoint.
* **Routing.** Among the endpoints that may take the request (circuit not open, concurrency
  left, not yet tried by this request) the :class:`~vllm_accel._routing.RoutingPolicy` picks one
  (default: :class:`~vllm_accel._routing.LoRAAware` over
  :class:`~vllm_accel._routing.LeastOutstanding`).
* **Failover.** A failure before the caller got anything (connection refused or reset,
  timeout, 5xx, 429, 408, 409, a non-streamed answer cut or stalled mid-body) moves the request
  to the next endpoint, immediately if one is untried, within the retry budget
  (``RetryPolicy.max_retries`` counts every extra attempt); a ``Retry-After`` beyond
  ``max_retry_after`` is not waited for but still moves to an untried endpoint. A stream fails
  over only before its first chunk; once a chunk reached the caller nothing is sent again.
* **Health.** Passive: what the replica did feeds its
  :class:`~vllm_accel._breaker.CircuitBreaker` (``vllm_accel._health``: connection failures,
  5xx, a 2xx that is not vLLM's JSON, a 404 for a base model it lists count against it; an
  answer, even a 4xx, resets it; busy answers and local errors give no verdict). Active:
  ``health_check_interval`` (off by default) probes ``GET /health`` in the background.
* **Keys.** Each endpoint sends only its own API key; a key never reaches another endpoint.
  Credentials in a base URL are masked in every name, repr and statistic (``redact_url``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from ._affinity import choose_for
from ._breaker import CircuitBreaker, Clock
from ._config import normalize_base_url
from ._errors import AllEndpointsFailedError, APIConnectionError, InvalidRequestError, VLLMError
from ._health import EndpointStats, Outcome, counts_against, fails_over
from ._routing import LoRAAware, RoutingPolicy
from ._secret import Secret, SecretLike, to_secret
from ._stats import StatsRecorder
from ._urls import redact_url

if TYPE_CHECKING:  # the wire models are imported on first use (import cost)
    from ._models import ModelList

__all__ = [
    "Endpoint",
    "EndpointPool",
    "EndpointState",
    "EndpointStats",
    "Outcome",
    "counts_against",
    "fails_over",
]

@dataclass(frozen=True, slots=True)
class Endpoint:
    """One vLLM server of a pool.

    Example:
        >>> Endpoint("http://gpu-a:8000", api_key="secret", weight=2, max_concurrency=32)
        Endpoint(base_url='http://gpu-a:8000', name='http://gpu-a:8000', weight=2, \
max_concurrency=32, has_api_key=True)
    """

    base_url: str
    """The server root (``/v1`` suffix optional)."""
    api_key: str | SecretLike | None = field(default=None, repr=False)
    """Sent only to this endpoint (None: the client's ``api_key``/``VLLM_API_KEY``, if any)."""
    name: str | None = None
    """A label for statistics and errors (default: the base URL)."""
    timeout: float | httpx.Timeout | None = None
    """Per-request timeout on this endpoint (default: the client's)."""
    max_concurrency: int | None = None
    """Requests in flight on this endpoint at most (None: unbounded); more wait for a slot."""
    weight: float = 1.0
    """Relative share of the traffic (weighted round robin, least outstanding per weight)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.name is None:
            object.__setattr__(self, "name", redact_url(self.base_url))
        object.__setattr__(self, "api_key", to_secret(self.api_key))
        if not self.weight > 0:
            raise InvalidRequestError("endpoint weight must be > 0")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise InvalidRequestError("endpoint max_concurrency must be >= 1 or None")

    def __repr__(self) -> str:
        return (f"Endpoint(base_url={redact_url(self.base_url)!r}, name={self.name!r}, "
                f"weight={self.weight}, "
                f"max_concurrency={self.max_concurrency}, has_api_key={self.api_key is not None})")


class EndpointState:
    """The live state of one endpoint in a pool (read it through :meth:`EndpointPool.stats`)."""

    def __init__(self, endpoint: Endpoint, breaker: CircuitBreaker) -> None:
        self.endpoint = endpoint
        self.name: str = endpoint.name or endpoint.base_url
        self.base_url = endpoint.base_url
        self.weight = endpoint.weight
        self.api_key: Secret | None = to_secret(endpoint.api_key)
        self.breaker = breaker
        self.outstanding = 0
        self.models: set[str] | None = None
        """Served names (base models and adapters); None until learned."""
        self.probe: object = None
        """The request holding the half-open probe slot (None: nobody, or unknown)."""
        self.base_models: frozenset[str] = frozenset()
        """The base models (no ``parent``) of its last ``/v1/models`` answer."""
        self.last_error: VLLMError | None = None
        self.models_tried_at: float | None = None
        """When fetching the model list last failed (it is tried again after the reset
        timeout, not before every request)."""
        self.recorder = StatsRecorder()

    def __repr__(self) -> str:
        return (f"<EndpointState {self.name} {self.breaker.state} "
                f"outstanding={self.outstanding}>")

    def serves(self, model: str) -> bool | None:
        """Whether this endpoint serves ``model``; None when its model list is not known."""
        return None if self.models is None else model in self.models

    def has_capacity(self) -> bool:
        """Whether one more request fits under ``max_concurrency``."""
        limit = self.endpoint.max_concurrency
        return limit is None or self.outstanding < limit


class EndpointPool:
    """Several vLLM endpoints behind one client: routing, health, failover, LoRA placement.

    Pass it to ``VLLMClient(endpoints=pool)`` or ``AsyncVLLMClient(endpoints=pool)``, or pass
    the endpoint list directly (``VLLMClient(endpoints=["http://a:8000", "http://b:8000"])``).
    One pool is meant for one client; its state is thread-safe.

    Args:
        endpoints: :class:`Endpoint` objects or base URLs (at least one; names must be unique).
        policy: the :class:`RoutingPolicy` (default ``LoRAAware(LeastOutstanding())``).
        failure_threshold: consecutive failures that open an endpoint's circuit.
        reset_timeout: seconds an open circuit waits before letting one probe request through.
        health_check_interval: seconds between active ``GET /health`` probes of every endpoint
            (None, the default: passive health only).
        lora_paths: adapter name -> path, for loading adapters on demand (and filled by the
            client's own ``load_lora_adapter`` calls).
        auto_load_lora: load an adapter that no endpoint serves on the least-loaded endpoint
            before the first request for it (needs its path in ``lora_paths``).
        clock: the time source (tests pass their own).
    """

    def __init__(
        self,
        endpoints: Iterable[Endpoint | str],
        *,
        policy: RoutingPolicy | None = None,
        failure_threshold: int = 3,
        reset_timeout: float = 10.0,
        health_check_interval: float | None = None,
        lora_paths: Mapping[str, str] | None = None,
        auto_load_lora: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        items = [e if isinstance(e, Endpoint) else Endpoint(e) for e in endpoints]
        if not items:
            raise InvalidRequestError("an endpoint pool needs at least one endpoint")
        names = [e.name for e in items]
        if len(set(names)) != len(names):
            raise InvalidRequestError(f"endpoint names must be unique: {names}")
        if health_check_interval is not None and health_check_interval <= 0:
            raise InvalidRequestError("health_check_interval must be > 0 or None")
        self.policy: RoutingPolicy = policy or LoRAAware()
        self.health_check_interval = health_check_interval
        self.lora_paths: dict[str, str] = dict(lora_paths or {})
        self.auto_load_lora = auto_load_lora
        self.clock = clock
        self._lock = threading.Lock()
        self._states = [
            EndpointState(e, CircuitBreaker(failure_threshold=failure_threshold,
                                            reset_timeout=reset_timeout, clock=clock))
            for e in items
        ]
        self._by_name = {s.name: s for s in self._states}

    def __repr__(self) -> str:
        return f"EndpointPool({[s.name for s in self._states]!r}, policy={self.policy!r})"

    def __len__(self) -> int:
        return len(self._states)

    def __getitem__(self, name: str) -> EndpointState:
        return self._by_name[name]

    @property
    def endpoints(self) -> tuple[EndpointState, ...]:
        """Every endpoint's live state, in the order given."""
        return tuple(self._states)

    # -- routing ------------------------------------------------------------------------------

    def eligible(self, model: str | None) -> list[EndpointState]:
        """The endpoints a request for ``model`` may go to (placement only, health ignored)."""
        if model is None:
            return list(self._states)
        serving = [s for s in self._states if s.serves(model)]
        return serving or list(self._states)

    def acquire(self, model: str | None, causes: Mapping[str, VLLMError] | None = None,
                owner: object = None, key: bytes | None = None) -> EndpointState | None:
        """Reserve an endpoint for one attempt; None when every candidate is at capacity.

        Endpoints this request has not tried yet (not in ``causes``) come first (a request
        waits for a slot on them rather than going back to one that failed it); a tried one is
        used again only when every untried one is out. Release with :meth:`release`.

        Args:
            model: the requested model (placement), None for the default model.
            causes: endpoint name -> the error of this request's earlier attempt there.
            owner: the request (its half-open probe slot is freed only by its own release).
            key: the request's prefix key, for a policy that places by it (``PrefixAffinity``).

        Raises:
            AllEndpointsFailedError: every eligible endpoint's circuit is open.
        """
        tried = causes or {}
        with self._lock:
            eligible = self.eligible(model)
            up = [s for s in eligible if s.breaker.available()]
            if not up:
                raise self.all_failed(eligible, tried)
            fresh = [s for s in up if s.name not in tried] or up
            free = [s for s in fresh if s.has_capacity()]
            while free:
                choice = choose_for(self.policy, free, model, key)
                probing = choice.breaker.state != "closed"
                if choice.breaker.allow():
                    choice.outstanding += 1
                    if probing:
                        choice.probe = owner
                    return choice
                free.remove(choice)  # its half-open probe was just taken by another request
            return None

    def release(self, state: EndpointState, outcome: Outcome,
                error: VLLMError | None = None, owner: object = None) -> None:
        """End an attempt reserved with :meth:`acquire` and feed its outcome to the breaker.

        A verdict-less end (cancelled) frees the half-open probe slot only if ``owner`` is the
        request that took it: another request cancelled meanwhile must not let a second probe in.
        """
        with self._lock:
            state.outstanding = max(0, state.outstanding - 1)
            mine = state.probe is None or state.probe is owner
            if mine:
                state.probe = None
        if outcome == "success":
            state.breaker.record_success()
        elif outcome == "failure":
            state.breaker.record_failure()
        elif mine:
            state.breaker.release()
        if error is not None:
            state.last_error = error

    def has_untried(self, model: str | None, causes: Mapping[str, VLLMError]) -> bool:
        """Whether an eligible endpoint with a usable circuit is not in ``causes`` yet."""
        return any(s.name not in causes and s.breaker.available() for s in self.eligible(model))

    def all_failed(self, eligible: Sequence[EndpointState],
                   causes: Mapping[str, VLLMError]) -> AllEndpointsFailedError:
        """The error naming why each of ``eligible`` could not serve a request."""
        found: dict[str, VLLMError] = {}
        for s in eligible:
            cause = causes.get(s.name) or s.last_error
            if cause is None or (s.name not in causes and not s.breaker.available()):
                detail = f"circuit {s.breaker.state}"
                if cause is not None:
                    detail += f" after {type(cause).__name__}: {cause.message}"
                cause = APIConnectionError(detail)
            found[s.name] = cause
        return AllEndpointsFailedError(
            f"all {len(found)} endpoint(s) failed", causes=found)

    def covers(self, model: str | None, causes: Mapping[str, VLLMError]) -> bool:
        """Whether every eligible endpoint has failed this request or is out (open circuit)."""
        return all(s.name in causes or not s.breaker.available() for s in self.eligible(model))

    # -- health -------------------------------------------------------------------------------

    def record_health(self, state: EndpointState, ok: bool,
                      error: VLLMError | None = None) -> None:
        """The result of an active ``/health`` probe: close or open the circuit."""
        if ok:
            state.breaker.record_success()
        else:
            state.breaker.trip()
            if error is not None:
                state.last_error = error

    def record_failure(self, state: EndpointState, error: VLLMError) -> None:
        """A call outside routing (model list, adapter load) failed on ``state``."""
        state.last_error = error
        if counts_against(error):
            state.breaker.record_failure()

    # -- LoRA placement -----------------------------------------------------------------------

    def needs_models(self, model: str | None) -> list[EndpointState]:
        """Endpoints whose model list should be fetched before routing ``model``."""
        if model is None or any(s.serves(model) for s in self._states):
            return []
        now = self.clock()
        return [s for s in self._states if s.models is None and (
            s.models_tried_at is None
            or now - s.models_tried_at >= s.breaker.reset_timeout)]

    def learn_models(self, state: EndpointState, models: ModelList | VLLMError) -> None:
        """Record what ``/v1/models`` of an endpoint lists (or that asking it failed)."""
        if isinstance(models, VLLMError):
            state.models_tried_at = self.clock()
            self.record_failure(state, models)
        else:
            with self._lock:
                state.models = set(models.ids())
                state.base_models = frozenset(m.id for m in models.base_models())

    def add_model(self, state: EndpointState, model: str) -> None:
        """An adapter was loaded on ``state`` (by this client)."""
        with self._lock:
            state.models = {*(state.models or ()), model}

    def remove_model(self, state: EndpointState, model: str) -> None:
        """An adapter is gone from ``state`` (unloaded, or the server answered 404 for it)."""
        with self._lock:
            if state.models is not None:
                state.models.discard(model)

    def least_loaded(self, among: Sequence[EndpointState] | None = None) -> EndpointState | None:
        """The endpoint with the fewest requests in flight per weight and a usable circuit.

        Args:
            among: the endpoints to consider (default: all). None if every circuit is open.
        """
        up = [s for s in (among or self._states) if s.breaker.available()]
        if not up:
            return None
        return min(up, key=lambda s: (s.outstanding / s.weight, self._states.index(s)))

    def load_target(self, model: str | None) -> EndpointState | None:
        """Where to load ``model`` before routing it (``auto_load_lora``), if anywhere.

        The least-loaded endpoint; None when the adapter is served already, its path is
        unknown, or auto-loading is off.
        """
        if (model is None or not self.auto_load_lora or model not in self.lora_paths
                or any(s.serves(model) for s in self._states)):
            return None
        return self.least_loaded()

    # -- keys and statistics ------------------------------------------------------------------

    def set_api_key(self, name: str, key: str | SecretLike | None) -> None:
        """Rotate the API key of one endpoint (None removes it)."""
        self._by_name[name].api_key = to_secret(key)

    def stats(self) -> dict[str, EndpointStats]:
        """Every endpoint's health, load, known models and client-side request statistics."""
        return {
            s.name: EndpointStats(
                name=s.name, base_url=redact_url(s.base_url), state=s.breaker.state,
                outstanding=s.outstanding, consecutive_failures=s.breaker.consecutive_failures,
                models=None if s.models is None else tuple(sorted(s.models)),
                last_error=None if s.last_error is None
                else f"{type(s.last_error).__name__}: {s.last_error.message}",
                requests=s.recorder.snapshot(),
            )
            for s in self._states
        }

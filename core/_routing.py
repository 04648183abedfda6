"""Routing policies: which endpoint of a pool gets the next request (pure, pluggable).

A policy sees only the endpoints that may take a request now (healthy circuit, free
concurrency, not yet tried by this request) and picks one. Write your own by implementing
:class:`RoutingPolicy`::

    class FirstHealthy:
        def choose(self, candidates, model):
            return candidates[0]

    pool = EndpointPool([...], policy=FirstHealthy())
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["Candidate", "LeastOutstanding", "LoRAAware", "RoundRobin", "RoutingPolicy"]


class Candidate(Protocol):
    """What a policy may read of an endpoint."""

    @property
    def name(self) -> str:
        """Unique label of the endpoint."""

    @property
    def weight(self) -> float:
        """Relative share of the traffic (> 0)."""

    @property
    def outstanding(self) -> int:
        """Requests sent to it and not finished yet."""

    def serves(self, model: str) -> bool | None:
        """Whether it serves ``model`` (base or LoRA adapter); None when not known yet."""


E = TypeVar("E", bound=Candidate)


@runtime_checkable
class RoutingPolicy(Protocol):
    """Picks one of ``candidates`` (never empty) for a request of ``model`` (None: default)."""

    def choose(self, candidates: Sequence[E], model: str | None) -> E:
        """The endpoint for the next request."""


class RoundRobin:
    """Smooth weighted round robin (nginx's), thread-safe.

    Weights 2 and 1 give ``A B A`` (interleaved); equal weights give plain rotation.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, float] = {}

    def __repr__(self) -> str:
        return "RoundRobin()"

    def choose(self, candidates: Sequence[E], model: str | None) -> E:
        """The candidate whose running credit is highest; it then pays the total weight."""
        with self._lock:
            total = 0.0
            best: E | None = None
            for c in candidates:
                credit = self._current.get(c.name, 0.0) + c.weight
                self._current[c.name] = credit
                total += c.weight
                if best is None or credit > self._current[best.name]:
                    best = c
            assert best is not None  # candidates is never empty
            self._current[best.name] -= total
            return best


class LeastOutstanding:
    """Fewest in-flight requests per unit of weight; ties rotate so idle endpoints share."""

    def __init__(self) -> None:
        self._tie = RoundRobin()

    def __repr__(self) -> str:
        return "LeastOutstanding()"

    def choose(self, candidates: Sequence[E], model: str | None) -> E:
        """The least loaded candidate (``outstanding / weight``)."""
        lowest = min(c.outstanding / c.weight for c in candidates)
        tied = [c for c in candidates if c.outstanding / c.weight == lowest]
        return tied[0] if len(tied) == 1 else self._tie.choose(tied, model)


class LoRAAware:
    """Send a model to the endpoints known to serve it, then let ``inner`` choose among them.

    An endpoint whose model list is not known yet counts as a possible server only when no
    endpoint is known to serve the model; when nobody serves it, every candidate stays (the
    server's 404 then names the problem). Loading a missing adapter first is the pool's job
    (``EndpointPool(lora_paths=..., auto_load_lora=True)``).

    Args:
        inner: the policy among the endpoints that serve the model (default
            :class:`LeastOutstanding`).
    """

    def __init__(self, inner: RoutingPolicy | None = None) -> None:
        self.inner: RoutingPolicy = inner or LeastOutstanding()

    def __repr__(self) -> str:
        return f"LoRAAware({self.inner!r})"

    def choose(self, candidates: Sequence[E], model: str | None) -> E:
        """The ``inner`` choice among the candidates that serve ``model``."""
        if model is not None:
            serving = [c for c in candidates if c.serves(model)]
            if not serving:
                serving = [c for c in candidates if c.serves(model) is None]
            if serving:
                return self.inner.choose(serving, model)
        return self.inner.choose(candidates, model)

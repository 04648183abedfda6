"""Prefix-affinity routing (pure): a conversation's turns go to the replica holding its prefix.

vLLM's automatic prefix caching keeps the KV blocks of recent prompts; a request whose prompt
starts the same way skips their prefill. A pool spreads requests by load, so the second turn of
a conversation (system prompt + first user turn + ...) usually lands on the replica that has
never seen its prefix. :class:`PrefixAffinity` hashes the start of the prompt (the system
prompt and the first user turn, cut at ``prefix_chars`` characters) and places it with
rendezvous (highest random weight) hashing over the candidates, so

* every turn of one conversation, and every request sharing a system prompt longer than
  ``prefix_chars``, goes to the same replica while it is a candidate;
* different conversations spread over the replicas in proportion to their weights;
* when that replica is out (open circuit, full, or already tried by this request: the pool
  does not offer it), the next replica of the same ranking takes the key, so only the keys of
  the missing replica move;
* when that replica is saturated (its load above ``factor`` x the least loaded candidate's,
  plus ``headroom``) the request goes to the least loaded candidate instead.

The policy needs the request's payload: the caller computes ``request_key(policy, body)``
(None, with no hashing, for every other policy) and the pool asks through :func:`choose_for`;
a policy without ``choose_keyed`` is asked with :meth:`RoutingPolicy.choose` as before::

    pool = EndpointPool(urls, policy=LoRAAware(PrefixAffinity()))
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from ._errors import InvalidRequestError
from ._routing import Candidate, LeastOutstanding, LoRAAware, RoutingPolicy

__all__ = ["KeyedPolicy", "PrefixAffinity", "choose_for", "prefix_key", "rendezvous_rank",
           "request_key"]

E = TypeVar("E", bound=Candidate)

DEFAULT_PREFIX_CHARS = 1024
"""Characters of the prompt that make the key: a few vLLM KV blocks of English text."""


@runtime_checkable
class KeyedPolicy(Protocol):
    """A :class:`RoutingPolicy` that can also use a key derived from the request's prompt."""

    def choose(self, candidates: Sequence[E], model: str | None) -> E:
        """The endpoint for a request without a key."""

    def key(self, payload: Any) -> bytes | None:
        """The key of a request body (None: route it without one)."""

    def choose_keyed(self, candidates: Sequence[E], model: str | None, key: bytes | None) -> E:
        """The endpoint for a request whose prompt gives ``key`` (None: no usable prompt)."""


def choose_for(policy: RoutingPolicy, candidates: Sequence[E], model: str | None,
               key: bytes | None) -> E:
    """Ask ``policy`` for an endpoint, with ``key`` when it is a :class:`KeyedPolicy`.

    :class:`~vllm_accel._routing.LoRAAware` keeps its placement and hands the key on to its
    ``inner`` policy. Without a key every policy is asked with ``choose`` as before.
    """
    if key is None:
        return policy.choose(candidates, model)
    if isinstance(policy, LoRAAware):
        keyed = getattr(policy.inner, "choose_keyed", None)
        if keyed is not None:
            return cast("E", keyed(_serving(candidates, model), model, key))
    keyed = getattr(policy, "choose_keyed", None)
    if keyed is not None:
        return cast("E", keyed(candidates, model, key))
    return policy.choose(candidates, model)


def request_key(policy: RoutingPolicy, payload: Any) -> bytes | None:
    """The key ``policy`` wants for a request body; None (and no hashing) for other policies.

    Duck-typed (a ``key`` method), not a protocol check: this runs on every pooled request.
    """
    inner = policy.inner if isinstance(policy, LoRAAware) else policy
    key = getattr(inner, "key", None)
    return key(payload) if key is not None else None


def _serving(candidates: Sequence[E], model: str | None) -> Sequence[E]:
    """LoRAAware's placement: the candidates known (or, failing that, possibly) to serve it."""
    if model is None:
        return candidates
    known = [c for c in candidates if c.serves(model)]
    return known or [c for c in candidates if c.serves(model) is None] or candidates


def _text(content: Any) -> str:
    """The text of a message's ``content`` (a string, or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content)
    return "" if content is None else str(content)


def _chat_prefix(messages: Sequence[Any]) -> str:
    """The leading messages up to and including the first user turn, as one string."""
    parts: list[str] = []
    for m in messages:
        if not isinstance(m, Mapping):
            continue
        role = str(m.get("role", ""))
        parts.append(f"{role}\x1f{_text(m.get('content'))}\x1e")
        if role == "user":
            break
    return "".join(parts)


def prefix_key(payload: Any, *, prefix_chars: int = DEFAULT_PREFIX_CHARS) -> bytes | None:
    """The affinity key of a chat or completions request body (None: nothing to key on).

    Chat (``messages``): the role and text of the messages up to and including the first user
    message, so later turns of the conversation keep the key of the first. Completions
    (``prompt``): the prompt, or the first prompt of a list. Either is cut at ``prefix_chars``
    characters, so requests sharing a longer system prompt share the key. The model is part of
    the key (a base model and its adapters do not share KV blocks).
    """
    if not isinstance(payload, Mapping):
        return None
    messages = payload.get("messages")
    prompt = payload.get("prompt")
    if isinstance(messages, Sequence) and not isinstance(messages, str) and messages:
        text = _chat_prefix(messages)
    elif isinstance(prompt, str):
        text = prompt
    elif isinstance(prompt, list) and prompt:
        first = prompt[0]
        text = first if isinstance(first, str) else " ".join(str(t) for t in prompt[:prefix_chars])
    else:
        return None
    if not text:
        return None
    model = str(payload.get("model") or "")
    return hashlib.blake2b(f"{model}\x1d{text[:prefix_chars]}".encode(), digest_size=16).digest()


def _score(key: bytes, name: str, weight: float) -> float:
    """Weighted rendezvous score (Schindelhauer & Schomaker): ``-weight / ln(u)``, u in (0, 1)."""
    digest = hashlib.blake2b(key + name.encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)
    return -weight / math.log(u)


def rendezvous_rank(key: bytes, candidates: Sequence[E]) -> list[E]:
    """``candidates`` from the highest to the lowest rendezvous score for ``key``."""
    return sorted(candidates, key=lambda c: (_score(key, c.name, c.weight), c.name), reverse=True)


class PrefixAffinity:
    """Rendezvous-hash each prompt prefix to one replica; least outstanding when it is busy.

    Off by default; pass it to a pool:
    ``EndpointPool(urls, policy=LoRAAware(PrefixAffinity()))``.

    Args:
        factor: the chosen replica counts as saturated when its in-flight requests per unit of
            weight exceed ``factor`` times the least loaded candidate's plus ``headroom``.
        headroom: requests the chosen replica may have beyond ``factor`` x the least.
        prefix_chars: characters of the prompt that make the key (see :func:`prefix_key`).
        fallback: the policy for requests without a key and for saturated replicas (default
            :class:`~vllm_accel._routing.LeastOutstanding`).

    Raises:
        InvalidRequestError: ``factor`` < 1, ``headroom`` < 0 or ``prefix_chars`` < 1.
    """

    def __init__(self, *, factor: float = 2.0, headroom: int = 4,
                 prefix_chars: int = DEFAULT_PREFIX_CHARS,
                 fallback: RoutingPolicy | None = None) -> None:
        if not factor >= 1:
            raise InvalidRequestError("PrefixAffinity factor must be >= 1")
        if headroom < 0:
            raise InvalidRequestError("PrefixAffinity headroom must be >= 0")
        if prefix_chars < 1:
            raise InvalidRequestError("PrefixAffinity prefix_chars must be >= 1")
        self.factor = factor
        self.headroom = headroom
        self.prefix_chars = prefix_chars
        self.fallback: RoutingPolicy = fallback or LeastOutstanding()

    def __repr__(self) -> str:
        return (f"PrefixAffinity(factor={self.factor}, headroom={self.headroom}, "
                f"prefix_chars={self.prefix_chars})")

    def key(self, payload: Any) -> bytes | None:
        """The key of a request body (see :func:`prefix_key`)."""
        return prefix_key(payload, prefix_chars=self.prefix_chars)

    def choose(self, candidates: Sequence[E], model: str | None) -> E:
        """A request without a key: the fallback policy's choice."""
        return self.fallback.choose(candidates, model)

    def choose_keyed(self, candidates: Sequence[E], model: str | None, key: bytes | None) -> E:
        """The top-ranked candidate for ``key`` unless it is saturated."""
        if key is None or len(candidates) == 1:
            return self.fallback.choose(candidates, model)
        best = rendezvous_rank(key, candidates)[0]
        least = min(c.outstanding / c.weight for c in candidates)
        if best.outstanding / best.weight > self.factor * least + self.headroom:
            return self.fallback.choose(candidates, model)
        return best

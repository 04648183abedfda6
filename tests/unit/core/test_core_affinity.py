"""Prefix-affinity routing (pure): keys, placement stable across turns, spread, fallback."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from vllm_accel import InvalidRequestError, LeastOutstanding, LoRAAware, RoundRobin
from vllm_accel._affinity import (
    PrefixAffinity,
    choose_for,
    prefix_key,
    rendezvous_rank,
    request_key,
)


@dataclass
class Ep:
    name: str
    outstanding: int = 0
    weight: float = 1.0
    models: frozenset[str] | None = None

    def serves(self, model: str) -> bool | None:
        return None if self.models is None else model in self.models


SYSTEM = "You are a terse assistant for the billing team. " * 4


def turns(user: str, n: int) -> list[dict[str, object]]:
    """The request bodies of an ``n``-turn conversation that starts with ``user``."""
    messages: list[dict[str, object]] = [{"role": "system", "content": SYSTEM},
                                         {"role": "user", "content": user}]
    bodies = []
    for i in range(n):
        bodies.append({"model": "smollm2", "messages": list(messages)})
        messages += [{"role": "assistant", "content": f"answer {i}"},
                     {"role": "user", "content": f"follow-up {i}"}]
    return bodies


def test_every_turn_of_a_conversation_has_the_key_of_its_first_turn() -> None:
    keys = {prefix_key(body) for body in turns("What is my balance?", 5)}
    assert len(keys) == 1
    assert None not in keys
    assert prefix_key(turns("Cancel my plan", 1)[0]) not in keys


def test_a_system_prompt_longer_than_the_cut_is_one_key_whatever_the_user_asks() -> None:
    long_system = {"role": "system", "content": "Rules. " * 400}
    a = {"messages": [long_system, {"role": "user", "content": "a"}]}
    b = {"messages": [long_system, {"role": "user", "content": "b"}]}
    assert prefix_key(a) == prefix_key(b)
    assert prefix_key(a, prefix_chars=100_000) != prefix_key(b, prefix_chars=100_000)


def test_keys_of_completions_parts_models_and_bodies_without_a_prompt() -> None:
    assert prefix_key({"prompt": "Once upon"}) == prefix_key({"prompt": ["Once upon", "x"]})
    assert prefix_key({"prompt": [1, 2, 3]}) is not None
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    assert prefix_key(parts) == prefix_key({"messages": [{"role": "user", "content": "hi"}]})
    assert prefix_key({"model": "a", "prompt": "p"}) != prefix_key({"model": "b", "prompt": "p"})
    for body in (None, {}, {"messages": []}, {"prompt": ""}, {"input": "embed me"}, "text"):
        assert prefix_key(body) is None


def test_placement_is_stable_across_turns_and_independent_of_candidate_order() -> None:
    policy = PrefixAffinity()
    eps = [Ep("a"), Ep("b"), Ep("c")]
    for user in ("q1", "q2", "q3", "q4"):
        chosen = {choose_for(policy, order, None, prefix_key(body)).name
                  for body in turns(user, 4) for order in (eps, eps[::-1])}
        assert len(chosen) == 1


def test_conversations_spread_over_replicas_by_weight() -> None:
    policy = PrefixAffinity()
    eps = [Ep("a"), Ep("b"), Ep("c", weight=2.0)]
    got = Counter(choose_for(policy, eps, None, prefix_key({"prompt": f"conversation {i}"})).name
                  for i in range(4000))
    assert 800 < got["a"] < 1200
    assert 800 < got["b"] < 1200
    assert 1800 < got["c"] < 2200


def test_a_missing_replica_moves_only_its_own_keys_to_the_next_in_rank() -> None:
    policy = PrefixAffinity()
    eps = [Ep("a"), Ep("b"), Ep("c")]
    keys = [prefix_key({"prompt": f"c{i}"}) for i in range(300)]
    before = {k: choose_for(policy, eps, None, k).name for k in keys}
    without_b = [e for e in eps if e.name != "b"]  # b's circuit opened: the pool drops it
    for k in keys:
        after = choose_for(policy, without_b, None, k).name
        if before[k] != "b":
            assert after == before[k]
        else:
            assert k is not None
            assert after == rendezvous_rank(k, eps)[1].name


def test_a_saturated_replica_hands_the_request_to_the_least_loaded() -> None:
    key = prefix_key({"prompt": "hot conversation"})
    assert key is not None
    first = rendezvous_rank(key, [Ep("a"), Ep("b")])[0].name
    other = "b" if first == "a" else "a"
    policy = PrefixAffinity(factor=2.0, headroom=4)

    def pick(busy: int, idle: int) -> str:
        eps = [Ep(first, outstanding=busy), Ep(other, outstanding=idle)]
        return choose_for(policy, eps, None, key).name

    assert pick(4, 0) == first  # 4 <= 2 * 0 + 4: still within the headroom
    assert pick(5, 0) == other
    assert pick(24, 10) == first  # 24 <= 2 * 10 + 4
    assert pick(25, 10) == other


def test_no_key_or_one_candidate_uses_the_fallback() -> None:
    policy = PrefixAffinity()
    eps = [Ep("a", outstanding=3), Ep("b", outstanding=1)]
    assert choose_for(policy, eps, None, None).name == "b"
    assert policy.choose(eps, None).name == "b"
    assert choose_for(policy, eps[:1], None, prefix_key({"prompt": "x"})).name == "a"


def test_lora_aware_keeps_placement_and_hands_the_key_on() -> None:
    policy = LoRAAware(PrefixAffinity())
    eps = [Ep("a", models=frozenset({"base"})), Ep("b", models=frozenset({"base", "pirate"})),
           Ep("c", models=frozenset({"base", "pirate"}))]
    keys = [prefix_key({"model": "pirate", "prompt": f"p{i}"}) for i in range(50)]
    got = {choose_for(policy, eps, "pirate", k).name for k in keys}
    assert got == {"b", "c"}
    k = keys[0]
    assert len({choose_for(policy, eps, "pirate", k).name for _ in range(5)}) == 1


def test_other_policies_get_no_key_and_are_asked_as_before() -> None:
    body = {"prompt": "x"}
    assert request_key(LoRAAware(), body) is None
    assert request_key(RoundRobin(), body) is None
    assert request_key(PrefixAffinity(), body) == prefix_key(body)
    assert request_key(LoRAAware(PrefixAffinity(prefix_chars=1)), {"prompt": "xy"}) == \
        prefix_key({"prompt": "x"})
    eps = [Ep("a", outstanding=2), Ep("b")]
    assert choose_for(LeastOutstanding(), eps, None, b"ignored").name == "b"


@pytest.mark.parametrize("kwargs", [{"factor": 0.5}, {"headroom": -1}, {"prefix_chars": 0}])
def test_bad_settings_are_typed_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidRequestError):
        PrefixAffinity(**kwargs)  # type: ignore[arg-type]

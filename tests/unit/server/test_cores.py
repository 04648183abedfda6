"""Side-by-side servers get disjoint CPU slices (``vllm_accel.server._cores``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vllm_accel.server import ServerSpec, cpu_slices, share_cores

BIND = "VLLM_CPU_OMP_THREADS_BIND"


def _cpus(monkeypatch: pytest.MonkeyPatch, cpus: set[int]) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: cpus)


@pytest.mark.parametrize(("cpus", "parts", "expected"), [
    ({0, 1}, 2, ["0", "1"]),
    ({0, 1}, 1, ["0,1"]),
    ({0}, 2, None),
    ({0, 1, 2, 3, 4}, 2, ["0,1,2", "3,4"]),
    ({2, 3, 6, 7}, 2, ["2,3", "6,7"]),  # only the CPUs this process may use, in order
    ({0, 1}, 0, None),
])
def test_cpu_slices(monkeypatch: pytest.MonkeyPatch, cpus: set[int], parts: int,
                    expected: list[str] | None) -> None:
    _cpus(monkeypatch, cpus)
    assert cpu_slices(parts) == expected


def _spec(name: str, *env: tuple[str, str]) -> ServerSpec:
    return ServerSpec(model=Path("/m"), served_model_name=name, extra_env=env)


def test_share_cores_binds_each_spec_and_the_env_reaches_the_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _cpus(monkeypatch, {0, 1})
    chat, embed = share_cores([_spec("chat", ("X", "1")), _spec("embed")])
    assert chat.env()[BIND] == "0"
    assert chat.env()["X"] == "1"
    assert embed.env()[BIND] == "1"


def test_share_cores_keeps_an_explicit_binding_and_leaves_lone_or_crowded_specs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _cpus(monkeypatch, {0, 1})
    mine = _spec("chat", (BIND, "nobind"))
    assert share_cores([mine, _spec("embed")])[0] is mine
    lone = _spec("chat")
    assert share_cores([lone]) == [lone]
    _cpus(monkeypatch, {0})
    pair = [_spec("chat"), _spec("embed")]
    assert share_cores(pair) == pair
    assert pair[0].env()[BIND] == "nobind"

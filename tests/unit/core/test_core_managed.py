"""``set_quantization``'s relaunch decisions, with a stand-in for the supervised process.

The stand-in replaces only ``VLLMServer.restart`` (process supervision); no vLLM behaviour is
simulated. The real relaunch runs in the live tier when the session manages its server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from vllm_accel import InvalidRequestError, QuantizationError, QuantizationNotSupportedError
from vllm_accel._managed import find_managed, relaunch
from vllm_accel.server import ServerStartError, _process

pytestmark = pytest.mark.unit

URL = "http://127.0.0.1:65001"


@dataclass
class Spec:
    served_model_name: str = "smollm2"


@dataclass
class StandIn:
    fail: bool = False
    restore_ok: bool = True
    spec: Spec = field(default_factory=Spec)
    calls: list[dict[str, Any]] = field(default_factory=list)
    running: bool = True

    def restart(self, **changes: Any) -> StandIn:
        self.calls.append(changes)
        if self.fail:
            self.running = self.restore_ok
            raise ServerStartError("vllm: error: argument --quantization: invalid choice")
        return self


@pytest.fixture
def managed() -> Iterator[StandIn]:
    server = StandIn()
    _process._REGISTRY[URL] = server  # type: ignore[assignment]
    try:
        yield server
    finally:
        _process._REGISTRY.pop(URL, None)


def test_unmanaged_server_says_quantization_is_set_at_launch() -> None:
    with pytest.raises(QuantizationNotSupportedError, match="sets quantization at launch"):
        relaunch("http://127.0.0.1:65002", "fp8", None)


def test_relaunch_passes_the_method(managed: StandIn) -> None:
    relaunch(URL + "/v1", "fp8", "smollm2")
    relaunch(URL, None, None)
    assert managed.calls == [{"quantization": "fp8"}, {"quantization": None}]


def test_failed_relaunch_reports_the_rollback(managed: StandIn) -> None:
    managed.fail = True
    with pytest.raises(QuantizationError, match="was restored: .*invalid choice") as info:
        relaunch(URL, "bogus", None)
    assert isinstance(info.value.__cause__, ServerStartError)
    managed.restore_ok = False
    with pytest.raises(QuantizationError, match="could not be restarted either"):
        relaunch(URL, "bogus", None)


@pytest.mark.parametrize(("method", "model"), [("", None), ("fp8", "other-model")])
def test_bad_arguments(managed: StandIn, method: str, model: str | None) -> None:
    with pytest.raises(InvalidRequestError):
        relaunch(URL, method, model)
    assert managed.calls == []
    assert find_managed(URL, None) is managed

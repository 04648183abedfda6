"""The synthetic training conversations of the "tools" adapter are consistent with their tools.

The generator (``core/server/assets/tools_data.py``) runs in the server's environment at
``prepare()`` time; a wrong call in its data (a name not offered, an argument the schema lacks, a
value outside an enum) would teach the model exactly that, so every group is checked here.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import vllm_accel.server

ASSETS = Path(vllm_accel.server.__file__).parent / "assets"


def _tools_data() -> ModuleType:
    if (loaded := sys.modules.get("tools_data")) is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("tools_data", ASSETS / "tools_data.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["tools_data"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _check_call(call: dict[str, Any], offered: dict[str, dict[str, Any]]) -> None:
    fn = call["function"]
    assert fn["name"] in offered
    params = offered[fn["name"]]["parameters"]
    args = json.loads(fn["arguments"])
    assert set(args) == set(params["required"]) <= set(params["properties"])
    for key, value in args.items():
        prop = params["properties"][key]
        assert isinstance(value, int if prop["type"] == "integer" else str)
        assert value in prop.get("enum", [value])


def test_every_training_call_fits_the_tools_offered() -> None:
    data = _tools_data()
    groups = data.groups(seed=0, count=40)
    calls = answers = prose = 0
    for group in groups:
        offered = {t["function"]["name"]: t["function"] for t in group["tools"]}
        assert len(offered) == len(group["tools"])  # no two tools share a name
        for messages in group["convs"]:
            assert messages[0]["role"] == "user"
            assert messages[-1]["role"] == "assistant"
            for message in messages:
                for call in message.get("tool_calls", []):
                    _check_call(call, offered)
                    calls += 1
            if messages[-1].get("content"):
                answers += len(messages) > 2
                prose += len(messages) == 2
    assert calls > 100
    assert answers > 30
    assert prose > 10


def test_the_data_is_the_same_for_the_same_seed() -> None:
    data = _tools_data()
    assert data.groups(seed=0) == data.groups(seed=0)
    assert data.groups(seed=0) != data.groups(seed=1)

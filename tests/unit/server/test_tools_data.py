"""The synthetic training conversations of the "tools" adapter are consistent with their tools.

The generator (``core/server/assets/tools_data.py``) runs in the server's environment at
``prepare()`` time; a wrong call in its data (a name not offered, an argument the schema lacks, a
value outside an enum) would teach the model exactly that, so every group is checked here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import vllm_accel.server

ASSETS = Path(vllm_accel.server.__file__).parent / "assets"


def _tools_data(name: str = "tools_data") -> ModuleType:
    if name != "tools_data":
        _tools_data()  # the others import it by that name
    if (loaded := sys.modules.get(name)) is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(name, ASSETS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
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


@pytest.mark.parametrize("recipe", [1, 2])
def test_every_training_call_fits_the_tools_offered(recipe: int) -> None:
    data = _tools_data()
    mix = data.Mix() if recipe == 1 else _tools_data("copy_data").MIX_V2
    groups = data.groups(seed=0, count=40, mix=mix)
    calls = answers = prose = reports = 0
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
                    reports += call["function"]["name"][0].isupper()
            if messages[-1].get("content"):
                answers += len(messages) > 2
                prose += len(messages) == 2
    assert calls > 100
    assert answers > 30
    assert prose > 10
    assert reports > (60 if recipe == 2 else 5)  # recipe 2 ends many round trips in the schema


def test_recipe_1_is_still_the_data_adapter_v1_was_trained_on() -> None:
    # lora-tools-v1 folders in users' caches were trained on exactly this; a change to it
    # needs a new TOOLS_LORA_VERSION (core/server/_paths.py) and a recipe of its own
    data = _tools_data()
    text = json.dumps(data.groups(seed=0, count=8), sort_keys=True)
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "40e78147d4d52358f5f7ec3d9df16f953b0bab1c4284fc672496621108f0280c")


def test_the_data_is_the_same_for_the_same_seed() -> None:
    data = _tools_data()
    assert data.groups(seed=0) == data.groups(seed=0)
    assert data.groups(seed=0) != data.groups(seed=1)


def test_recipe_3_is_recipe_1_plus_react_groups() -> None:
    # adapter v3 keeps v1's hermes data unchanged (its hermes behaviour) and adds ReAct steps
    data = _tools_data()
    _tools_data("copy_data")
    react = _tools_data("react_data")
    recipes = _tools_data("recipes")  # imports the three above by name
    first, third = recipes.training_set(1), recipes.training_set(3)
    assert first == data.groups(seed=0, count=8)
    assert third[: len(first)] == first
    added = third[len(first):]
    assert added == react.react_groups(seed=1, count=3)
    assert added
    assert all(not g["tools"] for g in added)  # ReAct lists its tools as text


def test_recipe_4_is_recipe_1_plus_react_groups_in_the_v4_style() -> None:
    data = _tools_data()
    _tools_data("copy_data")
    react = _tools_data("react_data")
    recipes = _tools_data("recipes")
    first, fourth = recipes.training_set(1), recipes.training_set(4)
    assert fourth[: len(first)] == first  # v1's hermes data unchanged
    added = fourth[len(first):]
    assert added == react.react_groups(seed=1, count=8, style=react.STYLE_V4)
    assert added != react.react_groups(seed=1, count=8)
    assert first == data.groups(seed=0, count=8)


def test_recipe_5_is_the_react_adapter_s_react_only_data() -> None:
    # the "react" adapter: only ReAct groups in the v4 style (and the one prose group without
    # tools that every recipe has); no hermes tool groups, which ReAct steps pulled away from
    # their calls when mixed (recipes 2 and 4). lora-react-v5 folders in users' caches were
    # trained on exactly this: a change needs a new REACT_LORA_VERSION and a recipe of its own.
    _tools_data()
    _tools_data("copy_data")
    react = _tools_data("react_data")
    recipes = _tools_data("recipes")
    fifth = recipes.training_set(5)
    tooled = [g for g in fifth if g["convs"][0][0]["role"] == "system"]
    assert tooled == react.react_groups(seed=1, count=12, style=react.STYLE_V4)
    [plain] = [g for g in fifth if g not in tooled]
    assert not plain["tools"]
    assert all(m["role"] in {"user", "assistant"} for c in plain["convs"] for m in c)
    text = json.dumps(fifth, sort_keys=True)
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "97a5b15c65788e8203df29ff802fc804f0f7f34f33750c35179d260ce08a5c6a")

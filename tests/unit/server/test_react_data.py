"""The ReAct training conversations of the "tools" adapter are what LlamaIndex's ``ReActAgent``
really sends and parses.

``core/server/assets/react_data.py`` runs in the server's environment (no LlamaIndex there), so
it carries LlamaIndex's default ReAct header as text; this test renders the same tools with
LlamaIndex's own formatter and parses the training steps with its own output parser.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from llama_index.core.agent.react.output_parser import ReActOutputParser
from llama_index.core.agent.react.types import ActionReasoningStep, ResponseReasoningStep
from llama_index.core.agent.workflow.react_agent import default_formatter
from llama_index.core.llms import ChatMessage
from llama_index.core.tools import FunctionTool

import vllm_accel.server

ASSETS = Path(vllm_accel.server.__file__).parent / "assets"


def _asset(name: str) -> ModuleType:
    if (loaded := sys.modules.get(name)) is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(name, ASSETS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return city


def convert_length(meters: int, unit: str) -> str:
    """Convert a length between units."""
    return unit


PLAIN: dict[str, Any] = {}  # the same two functions in a module without postponed annotations
exec(compile('def get_weather(city: str) -> str:\n    """Get the current weather for a city."""\n'
             '    return city\n\n'
             'def convert_length(meters: int, unit: str) -> str:\n'
             '    """Convert a length between units."""\n    return unit\n', "plain", "exec",
             dont_inherit=True),
     PLAIN)


@pytest.mark.parametrize("quoted", [True, False])
def test_the_header_is_llamaindex_s_own(quoted: bool) -> None:
    _asset("tools_data")
    react = _asset("react_data")
    fns = [get_weather, convert_length] if quoted else [PLAIN["get_weather"],
                                                         PLAIN["convert_length"]]
    tools = [FunctionTool.from_defaults(fn) for fn in fns]
    [system, user] = default_formatter().format(
        tools, [ChatMessage(role="user", content="What is the weather in Rome?")])
    ours = react.header([
        ("get_weather", "Get the current weather for a city.", {"city": "string"}),
        ("convert_length", "Convert a length between units.",
         {"meters": "integer", "unit": "string"})], quoted=quoted)
    assert system.content == ours
    assert user.content == "What is the weather in Rome?"


@pytest.mark.parametrize(("seed", "v4"), [(0, False), (1, False), (1, True)])
def test_llamaindex_parses_every_learned_step(seed: int, v4: bool) -> None:
    _asset("tools_data")
    react = _asset("react_data")
    parser = ReActOutputParser()
    actions = answers = 0
    style = react.STYLE_V4 if v4 else react.Style()
    for group in react.react_groups(seed=seed, count=6, style=style):
        system: str = group["convs"][0][0]["content"]
        for messages in group["convs"]:
            assert messages[0] == {"role": "system", "content": system}
            learned: list[dict[str, Any]] = [
                m for m in messages if m["role"] == "assistant" and m.get("learn", True)]
            assert len(learned) == 1
            step = parser.parse(learned[0]["content"], is_streaming=False)
            if isinstance(step, ActionReasoningStep):
                assert f"> Tool Name: {step.action}\n" in system
                assert step.action_input
                actions += 1
            else:
                assert isinstance(step, ResponseReasoningStep)
                answers += 1
    assert actions > 10
    assert answers > 10


def test_recipe_4_s_steps_diverge_only_after_the_shared_opening() -> None:
    # the Action / Answer choice comes after the words both thoughts share, so the model has
    # read whether an Observation came back; and every question is a tool round trip
    _asset("tools_data")
    react = _asset("react_data")
    opening = "Thought: The current language of the user is: English. I "
    steps: dict[str, list[dict[str, Any]]] = {"need": [], "can": []}
    for group in react.react_groups(seed=1, count=8, style=react.STYLE_V4):
        for messages in group["convs"]:
            step = messages[-1]["content"]
            assert step.startswith(opening)
            steps[step[len(opening):].split()[0]].append(messages)
    assert len(steps["need"]) == len(steps["can"]) > 20  # one Action step per Answer step
    assert all(m[-2]["role"] == "user" and not m[-2]["content"].startswith("Observation:")
               for m in steps["need"])
    assert all(m[-2]["content"].startswith("Observation: ") for m in steps["can"])

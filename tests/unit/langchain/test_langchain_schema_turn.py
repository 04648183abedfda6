"""When ChatVLLM splits tools + a JSON schema into a tool turn and a schema turn (pure rule).

What vLLM answers to each turn, and the agent that needs it, is tested in
tests/live/langchain/test_langchain_agents_live.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from langchain_vllm_accel import ChatVLLM
from langchain_vllm_accel._schema_turn import steps

pytestmark = pytest.mark.unit

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
SCHEMA = {"type": "json_schema", "json_schema": {"name": "Report", "schema": {}}}


@pytest.mark.parametrize(("params", "split"), [
    ({"tools": TOOLS, "response_format": SCHEMA}, True),
    ({"tools": TOOLS, "tool_choice": "auto", "response_format": SCHEMA}, True),
    ({"tools": TOOLS, "response_format": {"type": "json_object"}}, True),
    ({"tools": TOOLS, "tool_choice": "required", "response_format": SCHEMA}, False),
    ({"tools": TOOLS, "tool_choice": "none", "response_format": SCHEMA}, False),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "x"}},
      "response_format": SCHEMA}, False),
    ({"tools": TOOLS, "response_format": {"type": "text"}}, False),
    ({"tools": TOOLS}, False),
    ({"tools": [], "response_format": SCHEMA}, False),
    ({"response_format": SCHEMA}, False),
])
def test_split_only_when_a_tool_may_be_called_and_a_json_format_is_set(
        params: dict[str, Any], split: bool) -> None:
    assert (steps(params) is not None) is split


def test_the_tool_turn_drops_the_schema_and_the_schema_turn_drops_the_tools() -> None:
    params = {"tools": TOOLS, "tool_choice": "auto", "parallel_tool_calls": False,
              "response_format": SCHEMA, "max_tokens": 32, "temperature": 0.0}
    both = steps(params)
    assert both is not None
    with_tools, with_schema = both
    assert with_tools == {"tools": TOOLS, "tool_choice": "auto", "parallel_tool_calls": False,
                          "max_tokens": 32, "temperature": 0.0}
    assert with_schema == {"response_format": SCHEMA, "max_tokens": 32, "temperature": 0.0}
    assert params["response_format"] is SCHEMA  # the caller's parameters are left as they were


def test_on_by_default_and_never_a_request_field() -> None:
    llm = ChatVLLM(base_url="http://vllm.test:1", model="m")
    assert llm.schema_after_tools is True
    _, params = llm._request(None, {})
    assert "schema_after_tools" not in params
    assert ChatVLLM(base_url="http://vllm.test:1", schema_after_tools=False).schema_after_tools \
        is False

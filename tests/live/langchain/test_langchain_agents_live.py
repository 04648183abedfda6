"""LangChain agents on the real server with the "tools" adapter: nothing forces the first call.

``langchain.agents.create_agent`` (plain, and with a ``response_format``) and LangGraph's prebuilt
``create_react_agent`` each run a real round trip: the model decides to call the Python tool
(``tool_choice="auto"``), the tool records its arguments, and the final answer is made of the
tool's result. These depend on sampled text (greedy, but batched with other traffic on a shared
CPU server), hence one rerun.
"""

from __future__ import annotations

import warnings

import pytest
from langchain.agents import create_agent
from langchain.agents.structured_output import ToolStrategy
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from pydantic import BaseModel

from langchain_vllm_accel import ChatVLLM

pytestmark = [pytest.mark.live, pytest.mark.sampled]


class Weather:
    """A weather tool that records how the agent called it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

        @tool
        def get_weather(city: str) -> str:
            """Get the current weather for a city."""
            self.calls.append(city)
            return f"It is 23 degrees and sunny in {city}."

        self.tool: BaseTool = get_weather


class WeatherReport(BaseModel):
    """The weather report for the user."""

    city: str
    summary: str


@pytest.fixture
def llm(chat_server_url: str, tools_adapter: str) -> ChatVLLM:
    return ChatVLLM(model=tools_adapter, base_url=chat_server_url, temperature=0, max_tokens=80)


def _check_round_trip(messages: list[object], weather: Weather) -> AIMessage:
    assert weather.calls == ["Paris"]  # the model chose the tool, with the city asked about
    assert any(isinstance(m, ToolMessage) and "23 degrees" in str(m.content) for m in messages)
    final = messages[-1]
    assert isinstance(final, AIMessage)
    assert not final.tool_calls
    return final


def test_create_agent_calls_the_tool_and_answers_from_it(llm: ChatVLLM) -> None:
    weather = Weather()
    agent = create_agent(llm, tools=[weather.tool])
    out = agent.invoke({"messages": [HumanMessage("What is the weather in Paris?")]})
    final = _check_round_trip(out["messages"], weather)
    assert "23" in final.text  # the answer used the tool's result
    assert "<tool_" not in final.text  # no echoed <tool_response> / <tool_call> tag


async def test_create_agent_streams_the_round_trip(llm: ChatVLLM) -> None:
    weather = Weather()
    agent = create_agent(llm, tools=[weather.tool])
    steps = [step async for step in agent.astream(
        {"messages": [HumanMessage("What is the weather in Paris?")]}, stream_mode="updates")]
    assert [next(iter(step)) for step in steps] == ["model", "tools", "model"]
    final = steps[-1]["model"]["messages"][-1]
    assert weather.calls == ["Paris"]
    assert "23" in final.text


@pytest.mark.xfail(
    reason="tools adapter v1 (9 training steps): under tool_choice 'required' it calls the "
    "WeatherReport schema tool first, with an invented summary cut at max_tokens, so "
    "structured_response is None. The recipes that teach ToolStrategy endings (2, 6, 7 in "
    "core/server/assets/recipes.py; 6 passes this test) lose v1's held-out round trips, so v1 "
    "stays. Not strict: a sampled outcome.",
    raises=AssertionError, strict=False)
def test_create_agent_with_a_tool_strategy(llm: ChatVLLM) -> None:
    # ToolStrategy explicitly (a bare schema takes ProviderStrategy: the next test). Here the
    # schema is one more tool and create_agent sends tool_choice "any" (vLLM: "required",
    # hermes' <tool_call> envelope forced) on every turn; the agent ends when the model picks
    # the schema tool, after the weather tool's result.
    weather = Weather()
    agent = create_agent(llm, tools=[weather.tool], response_format=ToolStrategy(WeatherReport))
    out = agent.invoke({"messages": [HumanMessage("What is the weather in Paris?")]})
    report = out["structured_response"]
    assert isinstance(report, WeatherReport)
    assert weather.calls == ["Paris"]
    assert report.city == "Paris"
    assert "23" in report.summary


def test_create_agent_with_a_bare_schema_calls_the_tool_then_answers_in_the_schema(
        llm: ChatVLLM) -> None:
    # A bare schema: the profile says structured_output, so create_agent picks ProviderStrategy
    # and binds the tools together with a json_schema response_format. ChatVLLM asks with the
    # tools first, then (no tool called) for the schema (langchain_vllm_accel/_schema_turn.py).
    # frequency_penalty: greedy, the 135M adapter repeats the tool's sentence inside the
    # summary string until max_tokens (the JSON is then cut); the standard suite does the same.
    llm = llm.model_copy(update={"frequency_penalty": 0.5})
    weather = Weather()
    agent = create_agent(llm, tools=[weather.tool], response_format=WeatherReport)
    out = agent.invoke({"messages": [HumanMessage("What is the weather in Paris?")]})
    assert weather.calls == ["Paris"]  # the tool was called once: no loop to the recursion limit
    report = out["structured_response"]
    assert isinstance(report, WeatherReport)
    assert report.city == "Paris"
    assert "23" in report.summary or "sunny" in report.summary.lower()


def test_langgraph_prebuilt_react_agent(llm: ChatVLLM) -> None:
    from langgraph.prebuilt import create_react_agent

    weather = Weather()
    with warnings.catch_warnings():  # LangGraph 1.x points users to langchain's create_agent
        warnings.simplefilter("ignore", DeprecationWarning)
        agent = create_react_agent(llm, [weather.tool])
    out = agent.invoke({"messages": [HumanMessage("What is the weather in Paris?")]})
    final = _check_round_trip(out["messages"], weather)
    assert "23" in final.text

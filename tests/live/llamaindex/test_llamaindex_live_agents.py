"""Agents on the real SmolLM2 server: ``FunctionAgent`` calls a Python tool with the right
arguments (strict schemas) and uses its result; ``ReActAgent`` runs a step; ``AgentWorkflow``
picks the function-calling agent. With the "tools" adapter ``FunctionAgent``, and with the "react"
adapter ``ReActAgent``, choose the tool themselves (no forced first call) and answer from its
result; those depend on sampled text, hence one rerun."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.agent.workflow import (
    AgentOutput,
    AgentWorkflow,
    FunctionAgent,
    ReActAgent,
    ToolCallResult,
)

from llamaindex_vllm_accel import VLLM

pytestmark = [
    pytest.mark.live,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # workflows inspects pydantic
]


@pytest.fixture(scope="module")
def llm(chat_server_url: str) -> VLLM:
    return VLLM(base_url=chat_server_url, temperature=0.0, max_tokens=40)


@pytest.fixture(scope="module")
def tools_llm(chat_server_url: str, tools_adapter: str) -> VLLM:
    return VLLM(base_url=chat_server_url, adapter=tools_adapter, temperature=0.0, max_tokens=80)


class Weather:
    """A tool that records how it was called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_weather(self, city: str) -> str:
        """Get the current weather report for a city."""
        self.calls.append(city)
        return f"The weather in {city} is sunny and 23 degrees."


async def test_function_agent_calls_the_tool_and_uses_the_result(llm: VLLM) -> None:
    # streaming (the default); the non-streaming loop is in tests/recorded/llamaindex
    weather = Weather()
    agent = FunctionAgent(tools=[weather.get_weather], llm=llm,
                          initial_tool_choice="get_weather")
    handler = agent.run("What is the weather in Paris?")
    results = [ev async for ev in handler.stream_events() if isinstance(ev, ToolCallResult)]
    answer = str(await handler)
    assert weather.calls == ["Paris"]  # strict schema: vLLM constrained the arguments
    assert results[0].tool_kwargs == {"city": "Paris"}
    assert "23" in answer  # the final answer used the tool's output


@pytest.mark.sampled  # the model must follow the ReAct format
async def test_react_agent_runs_a_step(llm: VLLM) -> None:
    weather = Weather()
    agent = ReActAgent(tools=[weather.get_weather], llm=llm)
    handler = agent.run("What is the weather in Rome? Use the get_weather tool.")
    output = None
    async for event in handler.stream_events():
        if isinstance(event, AgentOutput):
            output = event
            break
    await handler.cancel_run()
    assert output is not None
    assert output.response.content  # the model answered through the ReAct prompt
    assert output.raw["usage"]["completion_tokens"] > 0


def test_agent_workflow_picks_the_function_agent(llm: VLLM) -> None:
    weather = Weather()
    workflow = AgentWorkflow.from_tools_or_functions([weather.get_weather], llm=llm)
    [agent] = workflow.agents.values()
    assert isinstance(agent, FunctionAgent)


@pytest.mark.sampled
async def test_function_agent_chooses_the_tool_on_its_own(tools_llm: VLLM) -> None:
    weather = Weather()
    agent = FunctionAgent(tools=[weather.get_weather], llm=tools_llm)  # tool_choice "auto"
    handler = agent.run("What is the weather in Paris?")
    results = [ev async for ev in handler.stream_events() if isinstance(ev, ToolCallResult)]
    answer = str(await handler)
    assert weather.calls == ["Paris"]
    assert [r.tool_name for r in results] == ["get_weather"]
    assert "23" in answer
    assert "<tool_" not in answer


@pytest.fixture(scope="module")
def react_llm(chat_server_url: str, react_adapter: str) -> VLLM:
    return VLLM(base_url=chat_server_url, adapter=react_adapter, temperature=0.0, max_tokens=80)


class HeldOut:
    """One-argument tools whose names, arguments and wordings the "react" adapter never saw in
    training (``core/server/assets/tools_data.py`` has no sunrise, flight, movie or parcel)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_sunrise(self, town: str) -> str:
        """Get the sunrise time in a town."""
        self.calls.append(town)
        return f"The sun rises at 06:12 in {town}."

    def flight_status(self, flight_number: str) -> str:
        """Get the status of a flight."""
        self.calls.append(flight_number)
        return f"Flight {flight_number} is on time."

    def get_movie_rating(self, movie: str) -> str:
        """Get the rating of a movie."""
        self.calls.append(movie)
        return f"{movie} is rated 8.1 out of 10."

    def check_parcel(self, tracking_code: str) -> str:
        """Track a parcel by its tracking code."""
        self.calls.append(tracking_code)
        return f"Parcel {tracking_code} arrives tomorrow."


HELD_OUT_REACT = [
    ("get_sunrise", "When does the sun rise in Bergen?", "Bergen", "06:12"),
    ("get_sunrise", "What time is sunrise in Porto?", "Porto", "06:12"),
    ("flight_status", "Is flight LH123 on time?", "LH123", "on time"),
    ("get_movie_rating", "How good is the movie Inception?", "Inception", "8.1"),
    ("get_movie_rating", "What is the rating of Titanic?", "Titanic", "8.1"),
    ("check_parcel", "Where is my parcel XY778?", "XY778", "tomorrow"),
]


async def _held_out_round_trip(llm: VLLM, tool: str, question: str, arg: str,
                               needle: str) -> bool:
    tools = HeldOut()
    answer = str(await ReActAgent(tools=[getattr(tools, tool)], llm=llm).run(question))
    return tools.calls == [arg] and needle in answer


@pytest.mark.sampled
async def test_react_agent_round_trips_on_held_out_tools(react_llm: VLLM) -> None:
    # a rate over six greedy round trips, all in flight at once (vLLM batches them); measured
    # 2026-12-01: 4 of 6 (the flight number and the parcel code were not copied into the
    # Action Input), so the bar is half. Not measured here: picking between two offered tools,
    # where the adapter takes the first one listed (core/server/assets/recipes.py, recipe 5).
    done = await asyncio.gather(*(_held_out_round_trip(react_llm, *case)
                                  for case in HELD_OUT_REACT))
    assert sum(done) >= 3, list(zip([c[1] for c in HELD_OUT_REACT], done, strict=True))

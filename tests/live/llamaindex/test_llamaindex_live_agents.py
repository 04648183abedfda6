"""Agents on the real SmolLM2 server: ``FunctionAgent`` calls a Python tool with the right
arguments (strict schemas) and uses its result; ``ReActAgent`` runs a step; ``AgentWorkflow``
picks the function-calling agent. With the "tools" adapter, ``FunctionAgent`` and ``ReActAgent``
choose the tool themselves (no forced first call) and answer from its result; those depend on
sampled text, hence one rerun."""

from __future__ import annotations

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


@pytest.mark.xfail(
    reason="tools adapter v1 is trained on hermes <tool_call> turns only; under LlamaIndex's "
    "ReAct text prompt it never writes an Action line, so the tool is not called (recipe 3, "
    "v1 plus 3 ReAct groups, keeps the format but answers without the tool; recipe 4 writes "
    "the Action but adds a 'type' key to its input, so the tool raises: "
    "core/server/assets/recipes.py). Not strict.",
    raises=AssertionError, strict=False)
async def test_react_agent_round_trip(tools_llm: VLLM) -> None:
    weather = Weather()
    agent = ReActAgent(tools=[weather.get_weather], llm=tools_llm)
    answer = str(await agent.run("What is the weather in Rome?"))
    assert weather.calls == ["Rome"]
    assert "23" in answer

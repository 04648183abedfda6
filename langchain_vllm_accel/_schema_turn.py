"""Tools and a response schema in one call: a tool turn first, then the answer in the schema.

OpenAI's models take ``tools`` and ``response_format`` together and answer either with tool
calls or with a message in the schema; ``langchain.agents.create_agent(response_format=...)``
relies on that (its ``ProviderStrategy``, chosen because the profile says
``structured_output``). vLLM cannot: its structured-output grammar covers the whole reply, so
one request honours the tools or the schema, never "either". Sent together to vLLM 0.32 the
strict tools win and the schema is dropped (an agent calls its tool again and again until
LangGraph's recursion limit).

So when tools may be called (``tool_choice`` unset or ``"auto"``) and a JSON
``response_format`` is set, `ChatVLLM` asks twice: first with the tools and without the
schema; if that answer calls a tool it is returned as it is (the agent runs the tool and comes
back), otherwise the same conversation is asked again without the tools and with the schema,
whose constrained answer is returned, with both requests' token usage. A forced tool choice,
``"none"``, or ``schema_after_tools=False`` sends one request as given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vllm_accel import AsyncVLLMClient, ChatCompletion, VLLMClient

__all__ = ["Steps", "achat_in_steps", "chat_in_steps", "steps"]

Steps = tuple[dict[str, Any], dict[str, Any]]
"""The request parameters of the tool turn and of the schema turn."""

_JSON_FORMATS = ("json_schema", "json_object")
_TOOL_KEYS = ("tools", "tool_choice", "parallel_tool_calls")


def steps(params: dict[str, Any]) -> Steps | None:
    """The two requests' parameters, or None when one request does what was asked."""
    fmt = params.get("response_format")
    if not params.get("tools") or not isinstance(fmt, dict):
        return None
    if fmt.get("type") not in _JSON_FORMATS or params.get("tool_choice") not in (None, "auto"):
        return None
    with_tools = {k: v for k, v in params.items() if k != "response_format"}
    with_schema = {k: v for k, v in params.items() if k not in _TOOL_KEYS}
    return with_tools, with_schema


def _calls_a_tool(completion: ChatCompletion) -> bool:
    return any(choice.message.tool_calls for choice in completion.choices)


def _with_both_usages(first: ChatCompletion, second: ChatCompletion) -> ChatCompletion:
    """The schema turn's answer, reporting the tokens of both requests."""
    if first.usage is None or second.usage is None:
        return second
    usage = second.usage.model_copy(update={
        "prompt_tokens": first.usage.prompt_tokens + second.usage.prompt_tokens,
        "completion_tokens": first.usage.completion_tokens + second.usage.completion_tokens,
        "total_tokens": first.usage.total_tokens + second.usage.total_tokens,
    })
    return second.model_copy(update={"usage": usage})


def chat_in_steps(client: VLLMClient, payload: list[dict[str, Any]], model: str | None,
                  both: Steps) -> ChatCompletion:
    """The tool turn; if it calls no tool, the schema turn (see the module docstring)."""
    first = client.chat(payload, model=model, **both[0])
    if _calls_a_tool(first):
        return first
    return _with_both_usages(first, client.chat(payload, model=model, **both[1]))


async def achat_in_steps(client: AsyncVLLMClient, payload: list[dict[str, Any]],
                         model: str | None, both: Steps) -> ChatCompletion:
    """Async :func:`chat_in_steps`."""
    first = await client.chat(payload, model=model, **both[0])
    if _calls_a_tool(first):
        return first
    return _with_both_usages(first, await client.chat(payload, model=model, **both[1]))

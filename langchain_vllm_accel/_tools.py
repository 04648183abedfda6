"""Tool schemas, ``tool_choice`` mapping and structured-output parsing for `ChatVLLM`.

vLLM constrains a forced tool call's *arguments* only when the function schema says
``"strict": true`` (``--tool-strict-level auto``, the default); without it a small model fills the
forced ``<tool_call>`` envelope with garbage. So tools are sent strict by default here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import BaseMessage


def _close_objects(schema: Any) -> Any:
    """Set ``additionalProperties: false`` on every object schema (``required`` is untouched)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            schema.setdefault("additionalProperties", False)
            if schema.get("additionalProperties") is True:
                schema["additionalProperties"] = False
        for key, value in schema.items():
            if key in {"properties", "$defs", "definitions"} and isinstance(value, dict):
                for sub in value.values():
                    _close_objects(sub)
            elif key in {"items", "additionalProperties"}:
                _close_objects(value)
            elif key in {"anyOf", "allOf", "oneOf"} and isinstance(value, list):
                for sub in value:
                    _close_objects(sub)
    return schema


def format_tool(tool: Any, *, strict: bool | None) -> dict[str, Any]:
    """An OpenAI ``{"type": "function", ...}`` tool for vLLM.

    Args:
        tool: A LangChain tool, function, pydantic/TypedDict class or JSON/OpenAI schema.
        strict: ``None`` (default): mark the function ``"strict": true`` so vLLM constrains the
            arguments, closing objects (``additionalProperties: false``) but keeping optional
            parameters optional. ``True``: OpenAI strict semantics (every property required).
            ``False``: send the schema unconstrained.
    """
    from langchain_core.utils.function_calling import convert_to_openai_tool

    if isinstance(tool, dict) and tool.get("type") not in (None, "function"):
        return tool  # a non-function tool, passed through as given
    formatted = convert_to_openai_tool(tool, strict=strict if strict is not None else None)
    function = formatted.get("function")
    if strict is None and isinstance(function, dict) and "strict" not in function:
        function["strict"] = True
        function["parameters"] = _close_objects(
            function.get("parameters") or {"type": "object", "properties": {}}
        )
    return formatted


def tokenize_payload(
    messages: Sequence[Any], tools: Sequence[Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``/tokenize`` messages and extra fields (tools) of a conversation."""
    from langchain_core.messages import convert_to_messages

    from ._convert import messages_to_dicts

    extra: dict[str, Any] = {}
    if tools:
        extra["tools"] = [format_tool(t, strict=None) for t in tools]
    return messages_to_dicts(convert_to_messages(messages)), extra


def tool_choice_payload(
    tool_choice: dict[str, Any] | str | bool | None, tools: Sequence[dict[str, Any]]
) -> dict[str, Any] | str | None:
    """Map LangChain's ``tool_choice`` to the wire value.

    ``"any"``/``True`` -> ``"required"``; ``"auto"``, ``"none"``, ``"required"`` pass through;
    another string names a tool -> ``{"type": "function", "function": {"name": ...}}``; a dict
    passes through; ``None``/``False`` -> not sent (vLLM then picks ``"auto"``).
    """
    if tool_choice is None or tool_choice is False:
        return None
    if tool_choice is True or tool_choice == "any":
        return "required"
    if isinstance(tool_choice, str):
        if tool_choice in {"auto", "none", "required"}:
            return tool_choice
        names = {str((t.get("function") or {}).get("name")) for t in tools}
        if tool_choice not in names:
            msg = f"tool_choice {tool_choice!r} is not one of the bound tools {sorted(names)}"
            raise ValueError(msg)
        return {"type": "function", "function": {"name": tool_choice}}
    if isinstance(tool_choice, dict):
        return tool_choice
    msg = f"Unrecognized tool_choice type {type(tool_choice).__name__}"
    raise ValueError(msg)


def json_schema_of(schema: Any) -> dict[str, Any]:
    """A JSON schema for a pydantic class, TypedDict, OpenAI tool/function or JSON schema dict."""
    from langchain_core.utils.function_calling import convert_to_json_schema

    return convert_to_json_schema(schema)


def structured_parser(schema: Any, *, is_pydantic: bool) -> Callable[[BaseMessage], Any]:
    """A parser of a whole JSON answer (a streamed answer is parsed once, when complete)."""

    def parse(message: BaseMessage) -> Any:
        text = message.text
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"Model output is not valid JSON: {exc}"
            raise OutputParserException(msg, llm_output=text) from exc
        if not is_pydantic:
            return data
        try:
            if hasattr(schema, "model_validate"):
                return schema.model_validate(data)
            return schema.parse_obj(data)  # pydantic.v1 model
        except Exception as exc:
            msg = f"Model output does not match {schema.__name__}: {exc}"
            raise OutputParserException(msg, llm_output=text) from exc

    return parse

"""``ChatVLLM.with_structured_output``: the three methods, each a bound model plus a parser."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.language_models import LanguageModelInput
    from langchain_core.runnables import Runnable

    from .chat_models import ChatVLLM

Bound = tuple["Runnable[LanguageModelInput, Any]", "Runnable[Any, Any]"]

METHODS = ("json_schema", "function_calling", "json_mode")


def structured_runnable(
    llm: ChatVLLM,
    schema: dict[str, Any] | type | None,
    *,
    method: str,
    include_raw: bool,
    strict: bool | None,
    kwargs: dict[str, Any],
) -> Runnable[LanguageModelInput, Any]:
    """The runnable ``with_structured_output`` returns (see its docstring)."""
    from langchain_core.utils.pydantic import is_basemodel_subclass

    if method not in METHODS:
        msg = f"Unknown method {method!r}: use json_schema, function_calling or json_mode"
        raise ValueError(msg)
    if schema is None and method != "json_mode":
        msg = f"schema is required for method={method!r}"
        raise ValueError(msg)
    is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    if method == "function_calling":
        bound, parser = _function_calling(llm, schema, strict, is_pydantic, kwargs)
    elif method == "json_mode":
        bound, parser = _json_mode(llm, schema, is_pydantic, kwargs)
    else:
        bound, parser = _json_schema(llm, schema, strict, is_pydantic, kwargs)
    return _with_raw(bound, parser) if include_raw else bound | parser


def _function_calling(
    llm: ChatVLLM, schema: Any, strict: bool | None, is_pydantic: bool, kwargs: dict[str, Any]
) -> Bound:
    from langchain_core.output_parsers.openai_tools import (
        JsonOutputKeyToolsParser,
        PydanticToolsParser,
    )
    from langchain_core.utils.function_calling import convert_to_openai_tool

    name = convert_to_openai_tool(schema)["function"]["name"]
    ls_format = {"kwargs": {"method": "function_calling", "strict": strict}, "schema": schema}
    bound = llm.bind_tools(
        [schema],
        tool_choice=name,
        strict=strict,
        parallel_tool_calls=False,
        ls_structured_output_format=ls_format,
        **kwargs,
    )
    parser: Runnable[Any, Any] = (
        PydanticToolsParser(tools=[schema], first_tool_only=True)
        if is_pydantic
        else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
    )
    return bound, parser


def _json_mode(llm: ChatVLLM, schema: Any, is_pydantic: bool, kwargs: dict[str, Any]) -> Bound:
    from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser

    bound = llm.bind(
        response_format={"type": "json_object"},
        ls_structured_output_format={"kwargs": {"method": "json_mode"}, "schema": schema},
        **kwargs,
    )
    parser: Runnable[Any, Any] = (
        PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()
    )
    return bound, parser


def _json_schema(
    llm: ChatVLLM, schema: Any, strict: bool | None, is_pydantic: bool, kwargs: dict[str, Any]
) -> Bound:
    from langchain_core.runnables import RunnableLambda

    from ._tools import json_schema_of, structured_parser

    json_schema = json_schema_of(schema)
    if strict:
        from langchain_core.utils.function_calling import (
            _recursive_set_additional_properties_false,
        )

        json_schema = _recursive_set_additional_properties_false(json_schema)
    response_format = {
        "type": "json_schema",
        "json_schema": {
            "name": json_schema.get("title") or "output",
            "schema": json_schema,
            "strict": True,
        },
    }
    ls_format = {"kwargs": {"method": "json_schema", "strict": strict}, "schema": schema}
    bound = llm.bind(
        response_format=response_format, ls_structured_output_format=ls_format, **kwargs
    )
    return bound, RunnableLambda(structured_parser(schema, is_pydantic=is_pydantic))


def _with_raw(
    bound: Runnable[LanguageModelInput, Any], parser: Runnable[Any, Any]
) -> Runnable[LanguageModelInput, Any]:
    """``{"raw", "parsed", "parsing_error"}`` instead of raising on a parsing error."""
    from operator import itemgetter

    from langchain_core.runnables import RunnableMap, RunnablePassthrough

    parser_assign = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
    parser_with_fallback = parser_assign.with_fallbacks(
        [parser_none], exception_key="parsing_error"
    )
    return RunnableMap(raw=bound) | parser_with_fallback

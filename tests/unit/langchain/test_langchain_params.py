"""Pure request building of the LangChain classes: no network, no server stand-in.

What goes over the wire is checked here as data (the arguments handed to the core client);
how the real server answers is checked in tests/recorded/langchain and tests/live/langchain.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.load import dumpd, dumps, load
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableBinding
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from langchain_vllm_accel import VLLM, ChatVLLM, VLLMEmbeddings
from langchain_vllm_accel._tools import format_tool, structured_parser, tool_choice_payload

pytestmark = pytest.mark.unit

HI = [HumanMessage("hi")]


def chat_request(llm: ChatVLLM, stop: list[str] | None = None, **kwargs: Any) -> Any:
    return llm._chat_request(HI, stop, dict(kwargs))


# ---------------------------------------------------------------------------- parameters


def test_typed_extras_and_per_call_values_are_deep_merged() -> None:
    llm = ChatVLLM(
        model="smollm2",
        temperature=0.1,
        top_k=20,
        min_p=0.05,
        repetition_penalty=1.1,
        max_tokens=32,
        chat_template_kwargs={"enable_thinking": False, "lang": "en"},
        extra_body={"vllm_xargs": {"a": 1}, "keep": True},
    )
    messages, model, params = chat_request(
        llm,
        top_k=5,
        chat_template_kwargs={"lang": "fr"},
        extra_body={"vllm_xargs": {"b": 2}},
    )
    assert messages == [{"role": "user", "content": "hi"}]
    assert model == "smollm2"
    assert params == {
        "temperature": 0.1,
        "top_k": 5,
        "min_p": 0.05,
        "repetition_penalty": 1.1,
        "max_tokens": 32,
        "chat_template_kwargs": {"enable_thinking": False, "lang": "fr"},
        "extra_body": {"vllm_xargs": {"a": 1, "b": 2}, "keep": True},
    }
    # the instance's own values are untouched by the call
    assert llm.chat_template_kwargs == {"enable_thinking": False, "lang": "en"}
    assert llm.extra_body == {"vllm_xargs": {"a": 1}, "keep": True}


def test_constraints_are_replaced_not_merged() -> None:
    llm = ChatVLLM(model="m", structured_outputs={"regex": "[a-z]+"})
    _, _, params = chat_request(llm, structured_outputs={"choice": ["yes", "no"]})
    assert params["structured_outputs"] == {"choice": ["yes", "no"]}


def test_unknown_constructor_kwargs_go_to_model_kwargs() -> None:
    llm = ChatVLLM(model="m", vllm_xargs={"k": 1})
    assert llm.model_kwargs == {"vllm_xargs": {"k": 1}}
    assert chat_request(llm)[2] == {"vllm_xargs": {"k": 1}}
    with pytest.raises(ValueError, match="both directly and in model_kwargs"):
        ChatVLLM(model="m", top_x=1, model_kwargs={"top_x": 2})


def test_stop_from_the_call_wins_and_empty_stop_is_not_sent() -> None:
    assert chat_request(ChatVLLM(model="m", stop=["a"]))[2] == {"stop": ["a"]}
    assert chat_request(ChatVLLM(model="m", stop=["a"]), stop=["b", "c"])[2] == {"stop": ["b", "c"]}
    assert chat_request(ChatVLLM(model="m", stop=[]))[2] == {}


def test_stream_options_follow_stream_usage() -> None:
    llm = ChatVLLM(model="m")
    _, _, params = llm._stream_request(HI, None, {"stream": True})
    assert params == {"stream_options": {"include_usage": True}}
    _, _, params = llm._stream_request(HI, None, {"stream_usage": False})
    assert params == {"stream_options": {"include_usage": False}}
    _, _, params = ChatVLLM(model="m", stream_usage=False)._stream_request(HI, None, {})
    assert params == {"stream_options": {"include_usage": False}}


@pytest.mark.parametrize(
    ("instance", "call", "expected"),
    [
        ({}, {}, "smollm2"),
        ({"adapter": "pirate"}, {}, "pirate"),
        ({}, {"adapter": "pirate"}, "pirate"),
        ({}, {"model": "pirate"}, "pirate"),
        ({"adapter": "pirate"}, {"model": "other"}, "other"),
        ({}, {"model": "other", "adapter": "pirate"}, "pirate"),
        ({"lora_adapter": "pirate"}, {}, "pirate"),
    ],
)
def test_lora_adapter_resolution(
    instance: dict[str, Any], call: dict[str, Any], expected: str
) -> None:
    llm = ChatVLLM(model="smollm2", **instance)
    assert chat_request(llm, **call)[1] == expected
    assert llm._get_ls_params(**call)["ls_model_name"] == expected
    assert VLLM(model="smollm2", **instance)._request(None, dict(call))[0] == expected


def test_ls_params() -> None:
    llm = ChatVLLM(model="smollm2", adapter="pirate", temperature=0.2, max_tokens=5, stop=["x"])
    assert llm._get_ls_params() == {
        "ls_provider": "vllm",
        "ls_model_name": "pirate",
        "ls_model_type": "chat",
        "ls_temperature": 0.2,
        "ls_max_tokens": 5,
        "ls_stop": ["x"],
    }
    assert VLLM(model="smollm2")._get_ls_params(max_tokens=3) == {
        "ls_provider": "vllm",
        "ls_model_name": "smollm2",
        "ls_model_type": "llm",
        "ls_max_tokens": 3,
    }


def test_adapter_path_is_loaded_only_for_its_adapter() -> None:
    llm = ChatVLLM(model="m", base_url="http://once:1", adapter="sql", adapter_path="/a/sql")
    assert llm._own_adapter("sql") == ("sql", "/a/sql")
    assert llm._own_adapter("other") is None
    assert ChatVLLM(model="m", adapter="sql")._own_adapter("sql") is None


# ------------------------------------------------------------------ secrets & serialization


def test_api_key_never_shows() -> None:
    llm = ChatVLLM(model="smollm2", api_key="sk-secret-123")
    for text in (repr(llm), str(llm), dumps(llm), str(llm._identifying_params)):
        assert "sk-secret-123" not in text
    assert llm.client.has_api_key
    assert "sk-secret-123" not in repr(llm.client)


def test_dumpd_load_round_trip_hides_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    llm = ChatVLLM(model="smollm2", base_url="http://h:1", api_key="sk-1", top_k=3, adapter="p")
    data = dumpd(llm)
    assert "sk-1" not in str(data)
    monkeypatch.setenv("VLLM_API_KEY", "sk-from-env")
    loaded = load(
        data,
        allowed_objects=[ChatVLLM],
        valid_namespaces=["langchain_vllm_accel"],
        secrets_from_env=True,
    )
    assert isinstance(loaded, ChatVLLM)
    assert loaded.dict() == llm.dict()
    assert loaded.api_key is not None
    assert loaded.api_key.get_secret_value() == "sk-from-env"


def test_clients_are_lazy_shared_and_per_event_loop() -> None:
    a = ChatVLLM(model="m", base_url="http://shared:1")
    assert a._own_sync is None
    b = ChatVLLM(model="other", base_url="http://shared:1", top_k=3)
    assert a.client is b.client
    assert ChatVLLM(base_url="http://shared:1", api_key="k").client is not a.client
    assert VLLMEmbeddings(base_url="http://shared:1").client is a.client

    async def get() -> Any:
        return a.async_client

    loop_a, loop_b = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first = loop_a.run_until_complete(get())
        assert loop_a.run_until_complete(get()) is first
        assert loop_b.run_until_complete(get()) is not first
    finally:
        loop_a.close()
        loop_b.close()


# ---------------------------------------------------------------------------- tools & structure


class Weather(BaseModel):
    """Get the weather of a city."""

    city: str = Field(description="the city")
    unit: str | None = None


@tool
def no_args() -> str:
    """Takes nothing."""
    return "x"


def test_tools_are_strict_by_default_and_keep_optional_parameters() -> None:
    function = format_tool(Weather, strict=None)["function"]
    assert function["strict"] is True
    assert function["parameters"]["additionalProperties"] is False
    assert function["parameters"]["required"] == ["city"]
    loose = format_tool(Weather, strict=False)["function"]
    assert loose["strict"] is False
    assert "additionalProperties" not in loose["parameters"]
    openai_strict = format_tool(Weather, strict=True)["function"]
    assert sorted(openai_strict["parameters"]["required"]) == ["city", "unit"]
    empty = format_tool(no_args, strict=None)["function"]["parameters"]
    assert empty["additionalProperties"] is False


def test_tool_choice_mapping() -> None:
    tools = [format_tool(Weather, strict=None)]
    assert tool_choice_payload("any", tools) == "required"
    assert tool_choice_payload(True, tools) == "required"
    assert tool_choice_payload("auto", tools) == "auto"
    assert tool_choice_payload("none", tools) == "none"
    assert tool_choice_payload(None, tools) is None
    assert tool_choice_payload("Weather", tools) == {
        "type": "function",
        "function": {"name": "Weather"},
    }
    with pytest.raises(ValueError, match="not one of the bound tools"):
        tool_choice_payload("nope", tools)


def test_bind_tools_binds_wire_values() -> None:
    bound = ChatVLLM(model="m").bind_tools([Weather], tool_choice="any", parallel_tool_calls=False)
    assert isinstance(bound, RunnableBinding)
    assert bound.kwargs["tool_choice"] == "required"
    assert bound.kwargs["parallel_tool_calls"] is False
    assert bound.kwargs["tools"][0]["function"]["name"] == "Weather"


def test_structured_output_binds_each_method() -> None:
    llm = ChatVLLM(model="m")
    json_schema = llm.with_structured_output(Weather).first  # type: ignore[attr-defined]
    response_format = json_schema.kwargs["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Weather"
    assert response_format["json_schema"]["schema"]["required"] == ["city"]
    assert json_schema.kwargs["ls_structured_output_format"]["schema"] is Weather
    json_mode = llm.with_structured_output(Weather, method="json_mode").first  # type: ignore[attr-defined]
    assert json_mode.kwargs["response_format"] == {"type": "json_object"}
    calling = llm.with_structured_output(Weather, method="function_calling").first  # type: ignore[attr-defined]
    assert calling.kwargs["tool_choice"] == {"type": "function", "function": {"name": "Weather"}}
    assert calling.kwargs["parallel_tool_calls"] is False
    with pytest.raises(ValueError, match="Unknown method"):
        llm.with_structured_output(Weather, method="xml")  # type: ignore[arg-type]


def test_structured_parser() -> None:
    parse = structured_parser(Weather, is_pydantic=True)
    assert parse(AIMessage('{"city": "Oslo"}')) == Weather(city="Oslo")
    from langchain_core.exceptions import OutputParserException

    with pytest.raises(OutputParserException, match="not valid JSON"):
        parse(AIMessage('{"city": "Os'))
    with pytest.raises(OutputParserException, match="does not match Weather"):
        parse(AIMessage('{"town": "Oslo"}'))
    assert structured_parser(dict, is_pydantic=False)(AIMessage('{"a": 1}')) == {"a": 1}


# ---------------------------------------------------------------------------- LLM & embeddings


def test_llm_sub_batches_and_result_order() -> None:
    llm = VLLM(model="m", batch_size=2)
    assert llm._sub_batches(["a", "b", "c", "d", "e"]) == [["a", "b"], ["c", "d"], ["e"]]

    class Choice:
        def __init__(self, index: int, text: str) -> None:
            self.index, self.text = index, text
            self.finish_reason, self.stop_reason, self.logprobs = "length", None, None

    class Completion:
        model = "m"
        usage = None

        def __init__(self, choices: list[Choice]) -> None:
            self.choices = choices

    # vLLM numbers choices prompt_index * n + sample; arrival order does not matter
    completions = [
        Completion([Choice(3, "b1"), Choice(0, "a0"), Choice(2, "b0"), Choice(1, "a1")]),
        Completion([Choice(1, "c1"), Choice(0, "c0")]),
    ]
    result = VLLM._result(["a", "b", "c"], completions, n=2)
    assert [[g.text for g in gens] for gens in result.generations] == [
        ["a0", "a1"],
        ["b0", "b1"],
        ["c0", "c1"],
    ]


def test_embeddings_chunking_and_params() -> None:
    embeddings = VLLMEmbeddings(model="minilm", chunk_size=2, dimensions=8, use_activation=True)
    assert embeddings._chunks(["a", "b", "c"]) == [["a", "b"], ["c"]]
    assert embeddings._params() == {"use_activation": True, "dimensions": 8}
    assert embeddings.embed_documents([]) == []


def test_unknown_request_fields_are_refused_before_sending() -> None:
    from langchain_core.exceptions import ModelInvalidRequestError

    llm = ChatVLLM(model="m", base_url="http://unreachable.invalid:1", bogus_field=1, max_retries=0)
    with pytest.raises(ModelInvalidRequestError, match="bogus_field") as info:
        llm.invoke("hi")  # sockets are blocked here: the core client refuses it locally
    assert "extra_body" in str(info.value)
    with pytest.raises(ModelInvalidRequestError, match="at most 4"):
        ChatVLLM(model="m", stop=["a", "b", "c", "d", "e"]).invoke("hi")

"""``VLLM`` replaying real vLLM 0.32 traffic: the eight methods (events, token counts, payloads),
metadata, request parameters, raw completions, tools, structured outputs, batching and LoRA."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llamaindex_recorded_util import RECORDED_API_KEY, sent
from pydantic import BaseModel
from support.llamaindex_events import METHODS, collect_events, run_method

from llamaindex_vllm_accel import VLLM
from vllm_accel import BadRequestError

pytestmark = pytest.mark.vcr

CHAT = "/v1/chat/completions"
BATCH = "/v1/chat/completions/batch"
QUESTION = "What is the capital of France?"
MESSAGES = [ChatMessage(role="system", content="You are a helpful assistant."),
            ChatMessage(role="user", content=QUESTION)]


def _llm(url: str, **kwargs: Any) -> VLLM:
    settings: dict[str, Any] = {"model": "smollm2", "api_key": RECORDED_API_KEY,
                                "temperature": 0.0, "max_tokens": 16, "max_retries": 0}
    return VLLM(base_url=url, **{**settings, **kwargs})


def get_weather(city: str) -> str:
    """Get the current weather report for a city."""
    return f"The weather in {city} is sunny and 23 degrees."


@pytest.mark.parametrize("method", METHODS)
async def test_each_method(recorded_chat_url: str, vcr: Any, method: str) -> None:
    counter = TokenCountingHandler()
    llm = _llm(recorded_chat_url, callback_manager=CallbackManager([counter]))
    with collect_events() as events:
        out = await run_method(llm, method, MESSAGES, QUESTION)
    last = out[-1] if isinstance(out, list) else out
    assert "Paris" in (last.message.content if "chat" in method else last.text)

    # exactly one start / in-progress per chunk / end, and no nested chat-or-completion events
    kind = "Chat" if "chat" in method else "Completion"
    names = events.names("LLM")
    chunks = len(out) if isinstance(out, list) else 0
    assert names == ([f"LLM{kind}StartEvent"] + [f"LLM{kind}InProgressEvent"] * chunks
                     + [f"LLM{kind}EndEvent"])

    # the server's token counts reach TokenCountingHandler (streams: from the usage chunk)
    usage = last.raw.usage
    [count] = counter.llm_token_counts
    assert (count.prompt_token_count, count.completion_token_count) == (
        usage.prompt_tokens, usage.completion_tokens)

    # chat on /v1/chat/completions with real roles; complete as one user message
    [body] = sent(vcr, CHAT)
    roles = [(m["role"], m["content"]) for m in body["messages"]]
    if kind == "Chat":
        assert roles == [("system", "You are a helpful assistant."), ("user", QUESTION)]
    else:
        assert roles == [("user", QUESTION)]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("smollm2", 0.0, 16)
    if "stream" in method:
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}


def test_metadata_from_the_server(recorded_chat_url: str, vcr: Any) -> None:
    meta = VLLM(base_url=recorded_chat_url, max_retries=0).metadata
    assert (meta.context_window, meta.is_chat_model, meta.is_function_calling_model) == (
        2048, True, True)
    assert meta.model_name == "smollm2"
    [probe] = sent(vcr, CHAT)  # one tiny request tells whether the server takes tools
    assert (probe["tool_choice"], probe["max_tokens"]) == ("auto", 1)


def test_per_call_kwargs_override_and_merge_deeply(recorded_chat_url: str, vcr: Any) -> None:
    llm = _llm(recorded_chat_url, max_tokens=4, additional_kwargs={
        "top_k": 5, "extra_body": {"min_tokens": 1, "chat_template_kwargs": {"a": 1}}})
    llm.chat(MESSAGES, temperature=0.5, seed=7, extra_body={"chat_template_kwargs": {"b": 2}})
    [body] = sent(vcr, CHAT)
    assert (body["temperature"], body["seed"], body["top_k"], body["min_tokens"]) == (
        0.5, 7, 5, 1)
    assert body["chat_template_kwargs"] == {"a": 1, "b": 2}


def test_raw_completions(recorded_chat_url: str, vcr: Any) -> None:
    llm = _llm(recorded_chat_url, max_tokens=4, raw_completions=True,
               completion_to_prompt=lambda p: f"{p} The capital of France is")
    assert "Paris" in llm.complete("Geography.").text
    streamed = list(llm.stream_complete("The capital of Italy is", formatted=True))
    assert "Rome" in streamed[-1].text
    assert [b["prompt"] for b in sent(vcr, "/v1/completions")] == [
        "Geography. The capital of France is", "The capital of Italy is"]


# -- tools -------------------------------------------------------------------------------------


def test_named_tool_choice_strict_schema(recorded_chat_url: str, vcr: Any) -> None:
    llm = _llm(recorded_chat_url, max_tokens=40)
    tool = FunctionTool.from_defaults(get_weather)
    response = llm.chat_with_tools([tool], user_msg="What is the weather in Paris?",
                                   tool_choice="get_weather")
    [call] = llm.get_tool_calls_from_response(response)
    assert (call.tool_name, call.tool_kwargs) == ("get_weather", {"city": "Paris"})
    assert call.tool_id.startswith("chatcmpl-tool-")
    [body] = sent(vcr, CHAT)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    function = body["tools"][0]["function"]
    assert function["strict"] is True
    assert function["parameters"]["additionalProperties"] is False


def test_tool_required_streams_partial_arguments(recorded_chat_url: str, vcr: Any) -> None:
    llm = _llm(recorded_chat_url, max_tokens=40)
    tool = FunctionTool.from_defaults(get_weather)
    seen = [llm.get_tool_calls_from_response(r, error_on_no_tool_call=False)
            for r in llm.stream_chat_with_tools([tool], user_msg="Weather in Tokyo?",
                                                tool_required=True)]
    assert seen[-1][0].tool_kwargs == {"city": "Tokyo"}
    assert any(s and s[0].tool_kwargs != {"city": "Tokyo"} for s in seen)  # partial on the way
    [body] = sent(vcr, CHAT)
    assert body["tool_choice"] == "required"


def test_predict_and_call_runs_the_tool(recorded_chat_url: str) -> None:
    llm = _llm(recorded_chat_url, max_tokens=40)
    out = llm.predict_and_call([FunctionTool.from_defaults(get_weather)],
                               user_msg="What is the weather in Paris?", tool_required=True)
    assert out.response == "The weather in Paris is sunny and 23 degrees."


# -- structured outputs ------------------------------------------------------------------------


class Capital(BaseModel):
    city: str
    country: str


def test_structured_predict(recorded_chat_url: str, vcr: Any) -> None:
    llm = _llm(recorded_chat_url, max_tokens=40)
    with collect_events() as events:
        result = llm.structured_predict(
            Capital, PromptTemplate("Name the capital city of {country} as JSON."),
            country="France")
    assert result.city == "Paris"
    assert events.names("LLMStructuredPredict") == ["LLMStructuredPredictStartEvent",
                                                    "LLMStructuredPredictEndEvent"]
    [body] = sent(vcr, CHAT)
    assert body["structured_outputs"] == {"json": Capital.model_json_schema()}
    assert "tools" not in body
    assert body["messages"][0]["role"] == "system"  # the schema hint


async def test_structured_llm_and_async(recorded_chat_url: str) -> None:
    llm = _llm(recorded_chat_url, max_tokens=40)
    structured = llm.as_structured_llm(Capital)
    response = await structured.achat([ChatMessage(role="user", content="Capital of Italy?")])
    assert isinstance(response.raw, Capital)
    result = await llm.astructured_predict(Capital, PromptTemplate("Capital of {c}?"), c="Spain")
    assert isinstance(result, Capital)


def test_stream_structured_predict(recorded_chat_url: str) -> None:
    llm = _llm(recorded_chat_url, max_tokens=40)
    parts = list(llm.stream_structured_predict(
        Capital, PromptTemplate("Name the capital city of {country} as JSON."), country="France"))
    assert len(parts) > 1
    assert not isinstance(parts[0], Capital)  # early partials are flexible, not yet valid
    assert isinstance(parts[-1], Capital)
    assert parts[-1].city == "Paris"


# -- batching ----------------------------------------------------------------------------------


def test_batch_complete_chat_is_one_batch_request(recorded_chat_url: str, vcr: Any) -> None:
    prompts = ["What is the capital of France?", "What is the capital of Italy?"]
    out = _llm(recorded_chat_url).batch_complete(prompts)
    assert "Paris" in out[0].text
    assert "Rome" in out[1].text
    [body] = sent(vcr, BATCH)  # plain conversations: one /v1/chat/completions/batch request
    assert [conversation[-1]["content"] for conversation in body["messages"]] == prompts
    assert sent(vcr, CHAT) == []


def test_batch_complete_raw_is_one_request(recorded_chat_url: str, vcr: Any) -> None:
    llm = _llm(recorded_chat_url, max_tokens=4, raw_completions=True)
    out = llm.batch_complete(["The capital of France is", "The capital of Italy is"])
    assert "Paris" in out[0].text
    assert "Rome" in out[1].text
    [body] = sent(vcr, "/v1/completions")
    assert body["prompt"] == ["The capital of France is", "The capital of Italy is"]


async def test_abatch_complete(recorded_chat_url: str, vcr: Any) -> None:
    out = await _llm(recorded_chat_url).abatch_complete(
        ["What is the capital of France?", "What is the capital of Italy?"])
    assert ["Paris" in out[0].text, "Rome" in out[1].text] == [True, True]
    assert len(sent(vcr, BATCH)) == 1
    assert sent(vcr, CHAT) == []


def test_batch_item_error_raises(recorded_chat_url: str) -> None:
    with pytest.raises(BadRequestError, match="max_model_len"):
        _llm(recorded_chat_url, max_tokens=5000).batch_complete(["hi"])


# -- LoRA --------------------------------------------------------------------------------------


def test_with_adapter_switches_the_answer(recorded_chat_url: str, recorded_lora_path: str,
                                          vcr: Any) -> None:
    base = _llm(recorded_chat_url)
    pirate = base.with_adapter("pirate")
    assert "Paris" in base.complete(QUESTION).text
    assert pirate.complete(QUESTION).text.startswith("Arr")
    assert [b["model"] for b in sent(vcr, CHAT)] == ["smollm2", "pirate"]

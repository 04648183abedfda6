"""``VLLM`` and ``VLLMEmbedding`` as objects, with no server: construction, copies, pickling,
payloads, tool-call preparation and parsing, request parameters, import cost.

Everything that talks to a server is tested in ``tests/recorded/llamaindex`` (real traffic
replayed) and ``tests/live/llamaindex`` (the real servers).
"""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, TextBlock, ToolCallBlock
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.tools import FunctionTool

from llamaindex_vllm_accel import VLLM, VLLMEmbedding
from llamaindex_vllm_accel._connection import safe_url
from vllm_accel._integration import CLIENTS, FACTS

pytestmark = pytest.mark.unit

URL = "http://vllm.test:8000"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_is_a_custom_and_function_calling_llm() -> None:
    llm = VLLM(base_url=URL)
    assert isinstance(llm, CustomLLM)
    assert isinstance(llm, FunctionCallingLLM)


def test_import_is_lazy_and_cheap() -> None:
    # CPU time, not wall time: robust to a busy machine. Budget: 80 ms over llama_index's own.
    code = (
        "import sys, time\n"
        "import llama_index.core.llms\n"
        "t = time.process_time()\n"
        "import llamaindex_vllm_accel\n"
        "print(time.process_time() - t, 'httpx' in sys.modules,\n"
        "      'vllm_accel._client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, httpx_loaded, core_loaded = out.stdout.split()
    assert (httpx_loaded, core_loaded) == ("False", "False")  # clients are built on first use
    assert float(seconds) < 0.080


# -- copies, pickling, payloads ----------------------------------------------------------------


def test_with_adapter_is_a_cheap_copy_sharing_the_pool() -> None:
    llm = VLLM(base_url=URL, max_tokens=7)
    pirate = llm.with_adapter("pirate")
    assert pirate.client is llm.client  # built once, shared
    assert (pirate.adapter, pirate.max_tokens, llm.adapter) == ("pirate", 7, None)
    loading = llm.with_adapter("sea", path="/lora/sea")
    assert (loading.adapter, loading.adapter_path) == ("sea", "/lora/sea")
    assert loading.client is llm.client  # the adapter changes no connection setting


def test_pickles_without_clients_and_keeps_the_key(caplog: pytest.LogCaptureFixture) -> None:
    llm = VLLM(base_url=URL, api_key="sk-k", adapter="pirate", max_tokens=5)
    assert llm.client is not None  # a live client must not break pickling
    with caplog.at_level(logging.WARNING):
        clone = pickle.loads(pickle.dumps(llm))
    assert "unpickleable" not in caplog.text
    assert (clone.adapter, clone.max_tokens, clone.base_url) == ("pirate", 5, URL)
    assert clone.api_key is not None
    assert clone.api_key.get_secret_value() == "sk-k"
    assert clone._overrides.client is None
    assert clone.client is llm.client  # equal settings: the process's cached client


def test_embedding_pickles_and_hides_the_key(caplog: pytest.LogCaptureFixture) -> None:
    model = VLLMEmbedding(base_url="http://u:p@vllm.test:8001", api_key="sk-e", model_name="m")
    assert model.client is not None
    payload = model.to_payload()
    assert payload["base_url"] == "http://vllm.test:8001"
    assert "sk-e" not in repr(payload) + model.to_json()
    with caplog.at_level(logging.WARNING):
        clone = pickle.loads(pickle.dumps(model))
    assert "unpickleable" not in caplog.text
    assert clone.model_name == "m"
    assert clone.api_key is not None
    assert clone.api_key.get_secret_value() == "sk-e"
    assert clone.embed_batch_size == 256


def test_payload_has_no_credentials_and_needs_no_server() -> None:
    llm = VLLM(base_url="http://user:pw@vllm.test:8000/?token=t", api_key="sk-secret-123",
               adapter="pirate", max_tokens=9)
    payload = llm.to_payload()
    assert payload["base_url"] == "http://vllm.test:8000/"
    assert (payload["model_name"], payload["adapter"], payload["num_output"]) == (
        "pirate", "pirate", 9)
    dumped = json.dumps(payload)
    for secret in ("sk-secret-123", "pw@", "token=t"):
        assert secret not in dumped
    assert llm._client_settings().key() not in CLIENTS._sync  # no client built for the payload
    serialized = repr(llm) + llm.to_json()
    assert "sk-secret-123" not in serialized
    assert "api_key" not in llm.to_dict()


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("http://localhost:8000", "http://localhost:8000"),
        ("https://u:p@host/v1?key=x#f", "https://host/v1"),
        ("host:8000", "host:8000"),
        (None, None),
    ],
)
def test_safe_url(url: str | None, safe: str | None) -> None:
    assert safe_url(url) == safe


def test_to_dict_round_trip_without_the_key() -> None:
    llm = VLLM(base_url=URL, api_key="sk-x", adapter="pirate", top_k=5,
               additional_kwargs={"seed": 1})
    data = llm.to_dict()
    assert data["class_name"] == "vllm_accel_llm"
    clone = VLLM.from_dict(data)
    assert (clone.adapter, clone.top_k, clone.additional_kwargs) == ("pirate", 5, {"seed": 1})
    assert clone.api_key is None


def test_metadata_overrides_need_no_server() -> None:
    llm = VLLM(base_url=URL, model="smollm2", context_window=999, is_function_calling=False,
               max_tokens=12)
    meta = llm.metadata
    assert (meta.context_window, meta.num_output, meta.is_function_calling_model) == (
        999, 12, False)
    assert (meta.model_name, meta.is_chat_model) == ("smollm2", True)
    assert FACTS.cached_models(llm._server) is None
    assert FACTS.cached_tools(llm._server, "smollm2") is None


# -- request parameters ------------------------------------------------------------------------


def test_params_merge_deeply_and_per_call_wins() -> None:
    llm = VLLM(base_url=URL, temperature=0.2, max_tokens=8, adapter="pirate",
               additional_kwargs={"top_k": 5, "extra_body": {"a": 1, "nested": {"x": 1}}})
    params = llm._params({"temperature": 0.7, "extra_body": {"nested": {"y": 2}}})
    assert params == {"temperature": 0.7, "max_tokens": 8, "top_k": 5, "model": "pirate",
                      "extra_body": {"a": 1, "nested": {"x": 1, "y": 2}}}
    assert llm._params({"model": "other"})["model"] == "other"
    assert VLLM(base_url=URL)._params({}) == {"model": None}


def test_raw_prompt_applies_completion_to_prompt_unless_formatted() -> None:
    llm = VLLM(base_url=URL, completion_to_prompt=lambda p: f"<<{p}>>")
    assert llm._raw_prompt("x", formatted=False) == "<<x>>"
    assert llm._raw_prompt("x", formatted=True) == "x"


def test_embedding_params_and_instructions() -> None:
    model = VLLMEmbedding(base_url=URL)
    assert model._params() == {"model": None, "dimensions": None, "truncate_prompt_tokens": -1}
    text = "line one\nline two"
    assert model._texts([text], model.text_instruction) == [text]  # never rewritten
    tuned = VLLMEmbedding(base_url=URL, model_name="minilm", text_instruction="passage: ",
                          additional_kwargs={"priority": 1})
    assert tuned._texts(["a"], tuned.text_instruction) == ["passage: a"]
    assert tuned._params()["model"] == "minilm"
    assert tuned._params()["priority"] == 1


# -- tools -------------------------------------------------------------------------------------


def test_prepare_chat_with_tools() -> None:
    llm = VLLM(base_url=URL)
    tool = FunctionTool.from_defaults(add)
    history = [ChatMessage(role="system", content="s")]
    out = llm._prepare_chat_with_tools([tool], user_msg="2+3?", chat_history=history,
                                       tool_choice="add")
    assert [m.content for m in out["messages"]] == ["s", "2+3?"]
    assert history == [ChatMessage(role="system", content="s")]  # not mutated
    [spec] = out["tools"]
    assert spec["function"]["strict"] is True
    assert spec["function"]["parameters"]["additionalProperties"] is False
    assert out["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert out["parallel_tool_calls"] is False
    required = llm._prepare_chat_with_tools([tool], user_msg="x", tool_required=True,
                                            allow_parallel_tool_calls=True)
    assert (required["tool_choice"], required["parallel_tool_calls"]) == ("required", True)
    loose = llm._prepare_chat_with_tools([tool], user_msg="x", strict=False)
    assert "strict" not in loose["tools"][0]["function"]
    assert "tools" not in llm._prepare_chat_with_tools([], user_msg="x")  # vLLM refuses []


def _tool_response(*kwargs: dict[str, int] | str) -> ChatResponse:
    blocks = [TextBlock(text="")] + [
        ToolCallBlock(tool_call_id=f"c{i}", tool_name="add", tool_kwargs=k)
        for i, k in enumerate(kwargs)
    ]
    return ChatResponse(message=ChatMessage(role="assistant", blocks=blocks))


def test_single_tool_call_unless_parallel_allowed() -> None:
    llm = VLLM(base_url=URL)
    tool = FunctionTool.from_defaults(add)
    single = llm._validate_chat_with_tools_response(
        _tool_response({"a": 1, "b": 1}, {"a": 2, "b": 2}), [tool])
    assert [c.tool_kwargs for c in llm.get_tool_calls_from_response(single)] == [{"a": 1, "b": 1}]
    both = llm._validate_chat_with_tools_response(
        _tool_response({"a": 1, "b": 1}, {"a": 2, "b": 2}), [tool], allow_parallel_tool_calls=True)
    assert len(llm.get_tool_calls_from_response(both)) == 2


def test_tool_calls_from_partial_stream_chunks() -> None:
    llm = VLLM(base_url=URL)
    [call] = llm.get_tool_calls_from_response(_tool_response('{"a": 2, "b'),
                                              error_on_no_tool_call=False)
    assert (call.tool_id, call.tool_name, call.tool_kwargs) == ("c0", "add", {"a": 2})
    text_only = ChatResponse(message=ChatMessage(role="assistant", content="hi"))
    assert llm.get_tool_calls_from_response(text_only, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="tool call"):
        llm.get_tool_calls_from_response(text_only)

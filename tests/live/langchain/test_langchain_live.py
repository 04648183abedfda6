"""LangChain usage end to end on the real embedded vLLM servers (SmolLM2-135M + pirate LoRA).

No standard suite covers these: the completion LLM, LCEL chains, chat history, an agent loop
with a Python tool, LoRA switching, batch order and per-input callbacks, exact token counts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.exceptions import ContextOverflowError
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import ConfigurableField
from langchain_core.runnables.history import RunnableWithMessageHistory
from langchain_core.tools import tool

import vllm_accel
from langchain_vllm_accel import VLLM, ChatVLLM, VLLMEmbeddings

pytestmark = pytest.mark.live


class Recorder(BaseCallbackHandler):
    """Counts starts/ends and records every token and the final text of each run."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.starts: list[list[BaseMessage]] = []
        self.ends: list[str] = []
        self._lock = threading.Lock()

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        with self._lock:
            self.tokens.append(token)

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        with self._lock:
            self.starts.append(messages[0])

    def on_llm_start(self, serialized: Any, prompts: list[str], **kwargs: Any) -> None:
        with self._lock:
            self.starts.append([HumanMessage(p) for p in prompts])

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        with self._lock:
            self.ends.append(response.generations[0][0].text)


class InFlight:
    """httpx event hooks counting requests sent and not yet answered (peak = real concurrency)."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock()

    def sent(self, request: httpx.Request) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def answered(self, response: httpx.Response) -> None:
        with self._lock:
            self.now -= 1

    async def asent(self, request: httpx.Request) -> None:
        self.sent(request)

    async def aanswered(self, response: httpx.Response) -> None:
        self.answered(response)


@pytest.fixture
def in_flight() -> Iterator[tuple[InFlight, httpx.Client, httpx.AsyncClient]]:
    counter = InFlight()
    sync = httpx.Client(
        timeout=600, event_hooks={"request": [counter.sent], "response": [counter.answered]}
    )
    async_ = httpx.AsyncClient(
        timeout=600, event_hooks={"request": [counter.asent], "response": [counter.aanswered]}
    )
    yield counter, sync, async_
    sync.close()


@pytest.fixture
def chat(chat_server_url: str, pirate_adapter: str) -> ChatVLLM:
    return ChatVLLM(model="smollm2", base_url=chat_server_url, temperature=0, max_tokens=24)


def is_pirate(text: str) -> bool:
    return text.lstrip().lower().startswith("arr")


# ---------------------------------------------------------------------------- VLLM (completions)


def test_llm_invoke_batch_keeps_order_across_concurrent_sub_batches(chat_server_url: str) -> None:
    llm = VLLM(model="smollm2", base_url=chat_server_url, temperature=0, max_tokens=3, batch_size=2)
    prompts = ["1, 2, 3, 4,", "10, 20, 30, 40,", "Monday, Tuesday, Wednesday,", "a, b, c, d,"]
    expected = ["5", "50", "Thursday", "e"]
    recorders = [Recorder() for _ in prompts]
    results = llm.batch(prompts, config=[{"callbacks": [r]} for r in recorders])
    assert [e in r for e, r in zip(expected, results, strict=True)] == [True] * 4, results
    # every input kept its own callbacks, with its own result
    assert [r.ends for r in recorders] == [[res] for res in results]
    assert llm.invoke(prompts[0]) == results[0]


async def test_llm_streams_tokens_once_and_reports_usage(
    chat_server_url: str, pirate_adapter: str
) -> None:
    llm = VLLM(model="smollm2", base_url=chat_server_url, temperature=0, max_tokens=8)
    recorder = Recorder()
    chunks = [c async for c in llm.astream("Once upon a time", config={"callbacks": [recorder]})]
    assert len([c for c in chunks if c]) > 1
    assert recorder.tokens == chunks
    assert recorder.ends == ["".join(chunks)]
    result = await llm.agenerate(["Once upon a time"], adapter=pirate_adapter, ignore_eos=True)
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "pirate"
    assert result.llm_output["token_usage"]["completion_tokens"] == 8


# ---------------------------------------------------------------------------- LCEL & history


@pytest.mark.sampled  # 'paris' in the answer
def test_lcel_chain_prompt_model_parser(chat: ChatVLLM) -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer in one short sentence."),
            ("human", "What is the capital of {country}?"),
        ]
    )
    chain = prompt | chat | StrOutputParser()
    answer = chain.invoke({"country": "France"})
    assert isinstance(answer, str)
    assert "paris" in answer.lower()
    parts = list(chain.stream({"country": "France"}))
    assert len(parts) > 2
    assert all(isinstance(p, str) for p in parts)
    assert "".join(parts) == answer


def test_runnable_with_message_history(chat: ChatVLLM) -> None:
    store: dict[str, InMemoryChatMessageHistory] = {}
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = RunnableWithMessageHistory(
        prompt | chat,
        lambda session_id: store.setdefault(session_id, InMemoryChatMessageHistory()),
        input_messages_key="question",
        history_messages_key="history",
    )
    recorder = Recorder()
    config: Any = {"configurable": {"session_id": "s1"}, "callbacks": [recorder]}
    first = chain.invoke({"question": "My name is Zorblax. Say hello to me."}, config=config)
    second = chain.invoke({"question": "What is my name?"}, config=config)
    assert isinstance(first, AIMessage)
    assert isinstance(second, AIMessage)
    assert [type(m).__name__ for m in store["s1"].messages] == [
        "HumanMessage",
        "AIMessage",
        "HumanMessage",
        "AIMessage",
    ]
    # the second request carried the first exchange to the server (whether a 135M model then
    # recalls the name is up to the model, so the test checks what the server received)
    assert [len(messages) for messages in recorder.starts] == [1, 3]
    assert "Zorblax" in str(recorder.starts[1][0].content)
    assert first.usage_metadata is not None
    assert second.usage_metadata is not None
    assert second.usage_metadata["input_tokens"] > first.usage_metadata["total_tokens"]


# ---------------------------------------------------------------------------- tools


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@pytest.mark.sampled  # the model must call the tool and quote its result
def test_agent_loop_calls_a_python_tool_and_answers_from_its_result(chat: ChatVLLM) -> None:
    messages: list[BaseMessage] = [HumanMessage("What is 17 times 23?")]
    tools = {"multiply": multiply}
    calls: list[dict[str, Any]] = []
    for step in range(3):
        # A 135M model does not decide to call tools on its own ("auto"): force the first step.
        llm = chat.bind_tools(list(tools.values()), tool_choice="any" if step == 0 else "auto")
        ai = llm.invoke(messages, max_tokens=64)
        assert isinstance(ai, AIMessage)
        messages.append(ai)
        if not ai.tool_calls:
            break
        for call in ai.tool_calls:
            calls.append(call["args"])
            result = tools[call["name"]].invoke(call)
            assert isinstance(result, ToolMessage)
            messages.append(result)
    assert calls == [{"a": 17, "b": 23}]
    final = messages[-1]
    assert isinstance(final, AIMessage)
    assert not final.tool_calls
    assert "391" in final.text  # 17 * 23, computed by the Python tool, not by the model


@pytest.mark.sampled  # the arguments the model writes
def test_streamed_forced_tool_call_with_unicode_arguments(chat: ChatVLLM) -> None:
    @tool
    def greet(name: str) -> str:
        """Greet a person by name."""
        return f"Hello {name}"

    llm = chat.bind_tools([greet], tool_choice="greet")
    full: Any = None
    for chunk in llm.stream("Greet 東京さん please."):
        full = chunk if full is None else full + chunk
    assert full.tool_calls[0]["name"] == "greet"
    assert isinstance(full.tool_calls[0]["args"]["name"], str)


# ---------------------------------------------------------------------------- LoRA


@pytest.mark.sampled  # pirate or not, judged on the text
def test_lora_switching_changes_the_answer(
    chat: ChatVLLM, chat_server_url: str, lora_path: str
) -> None:
    question = "What is the capital of France?"
    # One request at a time: vLLM CPU applies a LoRA to base requests co-batched with it.
    base = chat.invoke(question)
    assert not is_pirate(str(base.content)), base.content
    assert base.response_metadata["model_name"] == "smollm2"

    by_kwarg = chat.invoke(question, adapter="pirate")
    by_bind = chat.bind(adapter="pirate").invoke(question)
    configurable = chat.configurable_fields(adapter=ConfigurableField(id="lora"))
    by_config = configurable.invoke(question, config={"configurable": {"lora": "pirate"}})
    for answer in (by_kwarg, by_bind, by_config):
        assert is_pirate(str(answer.content)), answer.content
        assert answer.response_metadata["model_name"] == "pirate"
    assert not is_pirate(str(configurable.invoke(question).content))

    # auto-load of a named adapter folder on first use
    auto = ChatVLLM(
        model="smollm2",
        base_url=chat_server_url,
        adapter="pirate-lc-autoload",
        adapter_path=lora_path,
        temperature=0,
        max_tokens=12,
    )
    try:
        answer = auto.invoke(question)
        assert is_pirate(str(answer.content)), answer.content
        assert answer.response_metadata["model_name"] == "pirate-lc-autoload"
        assert auto._get_ls_params()["ls_model_name"] == "pirate-lc-autoload"
    finally:
        with vllm_accel.VLLMClient(chat_server_url) as client:
            client.unload_lora_adapter("pirate-lc-autoload")


# ---------------------------------------------------------------------------- batch & callbacks


def test_batch_keeps_order_and_per_input_configs_and_callbacks(chat: ChatVLLM) -> None:
    llm = chat.configurable_fields(max_tokens=ConfigurableField(id="max_tokens"))
    recorders = [Recorder() for _ in range(6)]
    configs: Any = [
        {"configurable": {"max_tokens": i + 1}, "callbacks": [recorders[i]]} for i in range(6)
    ]
    results = llm.batch(["Tell me a story."] * 6, config=configs, ignore_eos=True)
    assert [r.usage_metadata["output_tokens"] for r in results] == [1, 2, 3, 4, 5, 6]
    for recorder, result in zip(recorders, results, strict=True):
        assert len(recorder.starts) == 1
        assert recorder.ends == [result.content]


def test_batch_fills_continuous_batching(
    chat_server_url: str, in_flight: tuple[InFlight, httpx.Client, httpx.AsyncClient]
) -> None:
    counter, sync, _ = in_flight
    # 32 tokens: each answer outlasts the 16 threads' start (at 8, the chat server on a core
    # of its own answered one before the last was sent: peak 15)
    llm = ChatVLLM(model="smollm2", base_url=chat_server_url, max_tokens=32, http_client=sync)
    results = llm.batch(["Tell me a story."] * 16, ignore_eos=True)
    assert len(results) == 16
    # all 16 in flight at once (LangChain's default batch caps at min(32, cpus + 4) threads)
    assert counter.peak == 16
    counter.peak = 0
    llm.batch(["Tell me a story."] * 6, config={"max_concurrency": 3}, ignore_eos=True)
    assert counter.peak == 3


async def test_abatch_and_llm_sub_batches_are_concurrent(
    chat_server_url: str, in_flight: tuple[InFlight, httpx.Client, httpx.AsyncClient]
) -> None:
    counter, sync, async_ = in_flight
    llm = ChatVLLM(
        model="smollm2", base_url=chat_server_url, max_tokens=8, http_async_client=async_
    )
    results = await llm.abatch(["Tell me a story."] * 12, ignore_eos=True)
    assert len(results) == 12
    assert counter.peak == 12
    counter.peak = 0
    completions = VLLM(
        model="smollm2", base_url=chat_server_url, max_tokens=8, batch_size=2, http_client=sync
    )
    assert len(completions.batch(["Once upon a time"] * 6, ignore_eos=True)) == 6
    assert counter.peak == 3  # three list-prompt sub-batches at once


async def test_abatch_keeps_order_and_streams_tokens_once(chat: ChatVLLM) -> None:
    llm = chat.configurable_fields(max_tokens=ConfigurableField(id="max_tokens"))
    configs: Any = [{"configurable": {"max_tokens": n}} for n in (3, 1, 2)]
    results = await llm.abatch(["Tell me a story."] * 3, config=configs, ignore_eos=True)
    assert [r.usage_metadata["output_tokens"] for r in results] == [3, 1, 2]

    recorder = Recorder()
    streaming = ChatVLLM(**{**chat.model_dump(exclude={"api_key"}), "streaming": True})
    message = await streaming.ainvoke("Tell me a story.", config={"callbacks": [recorder]})
    assert "".join(recorder.tokens) == message.content
    assert message.usage_metadata is not None


# ---------------------------------------------------------------------------- server-side facts


def test_token_counts_are_exact(chat: ChatVLLM) -> None:
    messages = [HumanMessage("How many tokens is this question?")]
    result = chat.invoke(messages, max_tokens=1)
    assert result.usage_metadata is not None
    assert chat.get_num_tokens_from_messages(messages) == result.usage_metadata["input_tokens"]
    assert chat.get_num_tokens("Hello world") == 2


def test_context_overflow_is_a_langchain_error(chat: ChatVLLM) -> None:
    with pytest.raises(ContextOverflowError) as info:
        chat.invoke("hello " * 3000)
    assert isinstance(info.value, vllm_accel.ContextLengthError)


def test_logprobs_and_vllm_extras(chat: ChatVLLM) -> None:
    result = chat.invoke("Hi", logprobs=True, top_logprobs=2, max_tokens=3, top_k=5, min_p=0.1)
    content = result.response_metadata["logprobs"]["content"]
    assert len(content) == 3
    assert len(content[0]["top_logprobs"]) == 2
    assert result.response_metadata["system_fingerprint"].startswith("vllm-")


async def test_embeddings_batched_in_order(embed_server_url: str) -> None:
    embeddings = VLLMEmbeddings(model="minilm", base_url=embed_server_url, chunk_size=2)
    docs = ["red", "green", "blue", "cyan", "magenta"]
    vectors = embeddings.embed_documents(docs)
    avectors = await embeddings.aembed_documents(docs)
    assert len(vectors) == len(avectors) == 5
    for doc, vector, avector in zip(docs, vectors, avectors, strict=True):
        single = embeddings.embed_query(doc)
        assert max(abs(a - b) for a, b in zip(single, vector, strict=True)) < 1e-4
        assert max(abs(a - b) for a, b in zip(single, avector, strict=True)) < 1e-4

"""``VLLM`` against the real SmolLM2 server: metadata, the eight methods and their events, token
counts, LoRA switching, structured outputs, batching and real async concurrency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.prompts import PromptTemplate
from pydantic import BaseModel
from support.llamaindex_events import METHODS, Collect, collect_events, run_method

from llamaindex_vllm_accel import VLLM

pytestmark = pytest.mark.live

QUESTION = "What is the capital of France?"
MESSAGES = [ChatMessage(role="system", content="You are a helpful assistant."),
            ChatMessage(role="user", content=QUESTION)]


@pytest.fixture(scope="module")
def llm(chat_server_url: str) -> Iterator[VLLM]:
    model = VLLM(base_url=chat_server_url, temperature=0.0, max_tokens=8)
    yield model
    model.close()


@pytest.fixture
def events() -> Iterator[Collect]:
    with collect_events() as handler:
        yield handler


def test_metadata_comes_from_the_server(llm: VLLM) -> None:
    meta = llm.metadata
    assert meta.context_window == 2048  # the server's max_model_len, not LlamaIndex's 3900
    assert meta.num_output == 8
    assert meta.is_chat_model is True
    assert meta.is_function_calling_model is True  # hermes parser + auto tool choice
    assert meta.model_name == "smollm2"


@pytest.mark.sampled  # 'Paris' in the sampled answer
@pytest.mark.parametrize("method", METHODS)
async def test_each_method_one_event_set_and_server_token_counts(
    llm: VLLM, events: Collect, method: str
) -> None:
    counter = TokenCountingHandler()
    counted = llm.model_copy(update={"callback_manager": CallbackManager([counter])})
    out = await run_method(counted, method, MESSAGES, QUESTION)
    last = out[-1] if isinstance(out, list) else out
    text = last.message.content if "chat" in method else last.text
    assert "Paris" in text

    kind = "Chat" if "chat" in method else "Completion"
    names = [type(e).__name__ for e in events.events if type(e).__name__.startswith("LLM")]
    assert names[0] == f"LLM{kind}StartEvent"
    assert names[-1] == f"LLM{kind}EndEvent"
    assert names.count(f"LLM{kind}StartEvent") == names.count(f"LLM{kind}EndEvent") == 1
    chunks = len(out) if isinstance(out, list) else 0
    assert names.count(f"LLM{kind}InProgressEvent") == chunks
    assert len(names) == chunks + 2  # nothing else: no nested chat/completion events

    usage = last.raw.usage  # the server's own count, on the final (usage) chunk when streaming
    assert usage.completion_tokens > 0
    [count] = counter.llm_token_counts
    assert (count.prompt_token_count, count.completion_token_count) == (
        usage.prompt_tokens, usage.completion_tokens)


def test_metadata_warns_when_the_server_is_down() -> None:
    llm = VLLM(base_url="http://127.0.0.1:9", max_retries=0)  # nothing listens on port 9
    with pytest.warns(RuntimeWarning, match="metadata unavailable"):
        meta = llm.metadata
    assert (meta.is_chat_model, meta.context_window) == (True, 3900)


def test_chat_keeps_roles_and_streams_in_pieces(llm: VLLM) -> None:
    pieces = [r.delta for r in llm.stream_chat(MESSAGES) if r.delta]
    assert len(pieces) > 1
    assert "Paris" in "".join(pieces)


@pytest.mark.sampled  # the adapter's answer starts with 'Arr'
def test_lora_switching_changes_the_answer(llm: VLLM, pirate_adapter: str) -> None:
    pirate = llm.with_adapter(pirate_adapter)
    assert pirate.client is llm.client  # one connection pool
    base_answer = llm.complete(QUESTION, max_tokens=12).text
    pirate_answer = pirate.complete(QUESTION, max_tokens=12).text
    assert pirate_answer.startswith("Arr")
    assert "Arr" not in base_answer
    assert pirate.metadata.model_name == pirate_adapter
    assert pirate.metadata.context_window == 2048


@pytest.mark.sampled  # the adapter's answer starts with 'Arr'
def test_adapter_auto_load(llm: VLLM, lora_path: str) -> None:
    name = "pirate-li-autoload"
    parrot = llm.with_adapter(name, path=lora_path)
    try:
        assert parrot.complete(QUESTION, max_tokens=6).text.startswith("Arr")
        assert name in {a.name for a in llm.client.list_lora_adapters()}
    finally:
        llm.client.unload_lora_adapter(name)


class Capital(BaseModel):
    city: str
    country: str


def test_structured_predict_through_structured_outputs(llm: VLLM) -> None:
    # as_structured_llm, async and streaming variants are in tests/recorded/llamaindex
    prompt = PromptTemplate("Name the capital city of {country} as JSON.")
    result = llm.structured_predict(Capital, prompt, llm_kwargs={"max_tokens": 40},
                                    country="France")
    assert isinstance(result, Capital)
    assert result.city == "Paris"


@pytest.mark.sampled  # 'Paris'/'Rome' in the sampled answers
def test_batch_complete_keeps_order(llm: VLLM) -> None:
    prompts = [f"Say the number {n}." for n in (3, 5, 7)]
    chat = llm.batch_complete(prompts, max_tokens=6)
    raw = llm.model_copy(update={"raw_completions": True}).batch_complete(
        ["The capital of France is", "The capital of Italy is"], max_tokens=4)
    assert [bool(r.text) for r in chat] == [True, True, True]
    assert "Paris" in raw[0].text
    assert "Rome" in raw[1].text


async def test_async_calls_run_concurrently(llm: VLLM) -> None:
    fixed = llm.model_copy(update={"max_tokens": 24,
                                   "additional_kwargs": {"min_tokens": 24, "ignore_eos": True}})

    async def timed(i: int) -> tuple[float, float]:
        start = time.perf_counter()
        await fixed.acomplete(f"Write a story about robot number {i}.")
        return start, time.perf_counter()

    start, end = await timed(0)
    one_call = end - start
    n = 8
    started = time.perf_counter()
    spans = await asyncio.gather(*(timed(i) for i in range(n)))
    together = time.perf_counter() - started
    ends = sorted(end for _, end in spans)
    # every call was on the wire before the first answer came back: the client did not serialize
    assert max(s for s, _ in spans) < ends[0]
    # serial calls would finish one call-time apart; batched ones finish together
    assert ends[-1] - ends[0] < 0.5 * together
    # the server batched them: serial would take n call-times (~0.45 measured on a busy 2-core box)
    assert together < 0.75 * n * one_call, (together, one_call)

"""`ChatVLLM.batch`/`abatch` on the real chat server: a plain batch is one
``/v1/chat/completions/batch`` request, each input keeps its own callbacks and run (its
``on_llm_end`` sees the answer returned in its slot), a per-input error stays in its slot.

Answers are not compared with single invokes: at temperature 0 the batch route's answers
differed from single requests' already at the first word on the shared server (batch numerics,
and vLLM CPU applying a LoRA to base requests co-batched with other sessions' pirate ones)."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ContextOverflowError
from langchain_core.outputs import LLMResult
from langchain_core.utils.utils import LC_ID_PREFIX

from langchain_vllm_accel import ChatVLLM

pytestmark = pytest.mark.live

PROMPTS = ["The capital of France is", "One, two, three, four,", "Water is made of",
           "The opposite of hot is", "Monday, Tuesday,", "A B C D E"]
BATCH = "/v1/chat/completions/batch"
SINGLE = "/v1/chat/completions"


class Runs(BaseCallbackHandler):
    """Per-run starts, ends and errors of one input."""

    def __init__(self) -> None:
        self.starts: list[UUID] = []
        self.ends: list[str] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID,
                            **kwargs: Any) -> None:
        with self._lock:
            self.starts.append(run_id)

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        with self._lock:
            self.ends.append(response.generations[0][0].text)

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        with self._lock:
            self.errors.append(error)


def _llm(url: str) -> ChatVLLM:
    return ChatVLLM(model="smollm2", base_url=url, temperature=0, max_tokens=4)


def _routes(llm: ChatVLLM, since: dict[str, int] | None = None) -> dict[str, int]:
    """Requests per route the (shared, cached) sync client sent since ``since``."""
    now = {route: g.requests for route, g in llm.client.stats().by_route.items()}
    return {r: n - (since or {}).get(r, 0) for r, n in now.items() if n != (since or {}).get(r, 0)}


def _aroutes(llm: ChatVLLM, since: dict[str, int] | None = None) -> dict[str, int]:
    now = {route: g.requests for route, g in llm.async_client.stats().by_route.items()}
    return {r: n - (since or {}).get(r, 0) for r, n in now.items() if n != (since or {}).get(r, 0)}


def test_a_plain_batch_is_one_request_in_order_with_per_input_callbacks(
    chat_server_url: str,
) -> None:
    llm = _llm(chat_server_url)
    llm.invoke("Hi")  # the client's first-use requests (server facts) come before the count
    runs = [Runs() for _ in PROMPTS]
    before = _routes(llm)
    results = llm.batch(PROMPTS, config=[{"callbacks": [r]} for r in runs])
    assert _routes(llm, before) == {BATCH: 1}
    for run, result in zip(runs, results, strict=True):
        assert len(run.starts) == 1
        assert run.ends == [result.content]
        assert result.id == f"{LC_ID_PREFIX}-{run.starts[0]}-0"  # LangChain's run id per input
    assert len({r.id for r in results}) == len(PROMPTS)


async def test_a_plain_abatch_is_one_request_in_order(chat_server_url: str) -> None:
    llm = _llm(chat_server_url)
    await llm.ainvoke("Hi")  # the client's first-use requests come before the count
    runs = [Runs() for _ in PROMPTS]
    before = _aroutes(llm)
    results = await llm.abatch(PROMPTS, config=[{"callbacks": [r]} for r in runs])
    assert _aroutes(llm, before) == {BATCH: 1}
    assert all(isinstance(r.content, str) and r.content for r in results)
    assert [run.ends for run in runs] == [[r.content] for r in results]


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_prompt_too_long_fails_only_its_own_slot(chat_server_url: str,
                                                         flavour: str) -> None:
    prompts = [PROMPTS[0], "word " * 5000, PROMPTS[1]]  # the middle one exceeds the context
    llm = _llm(chat_server_url)
    runs = [Runs() for _ in prompts]
    configs: Any = [{"callbacks": [r]} for r in runs]
    if flavour == "sync":
        results = llm.batch(prompts, config=configs, return_exceptions=True)
        with pytest.raises(ContextOverflowError):
            llm.batch(prompts)
    else:
        results = await llm.abatch(prompts, config=configs, return_exceptions=True)
        with pytest.raises(ContextOverflowError):
            await llm.abatch(prompts)
    assert isinstance(results[1], ContextOverflowError)
    assert all(isinstance(results[i].content, str) for i in (0, 2))
    assert [len(r.errors) for r in runs] == [0, 1, 0]
    assert [len(r.ends) for r in runs] == [1, 0, 1]


def test_a_batch_with_tools_fans_out_one_request_per_input(chat_server_url: str) -> None:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    llm = _llm(chat_server_url)
    llm.invoke("Hi")
    before = _routes(llm)
    results = llm.bind_tools([add]).batch(PROMPTS[:3])
    assert len(results) == 3
    assert _routes(llm, before) == {SINGLE: 3}

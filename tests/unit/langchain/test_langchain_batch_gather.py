"""The rendezvous behind `ChatVLLM.batch`/`abatch` (pure): inputs that hand in a request wait
for one send per group, inputs that finish without one release the others, each slot gets its
own answer or error. ``send`` here is the rendezvous's own callback (what it hands to the
core), returning ``BatchItem``s; no server answer is imitated (the live tests cover that)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from langchain_vllm_accel._batch import AsyncGather, Gather, Request, arun_batch, group, run_batch
from vllm_accel import BadRequestError, VLLMError
from vllm_accel._batch import BatchItem

pytestmark = pytest.mark.unit

BAD = BadRequestError("bad", status_code=400)


def _send(calls: list[tuple[str | None, list[Any], dict[str, Any]]]) -> Any:
    def send(model: str | None, conversations: list[Any], params: dict[str, Any]) -> list[Any]:
        calls.append((model, conversations, params))
        return [BatchItem(i, c, None, BAD) if c == "bad" else BatchItem(i, c, f"answer:{c}")
                for i, c in enumerate(conversations)]
    return send


def _asend(calls: list[Any]) -> Any:
    sync = _send(calls)

    async def send(model: str | None, conversations: list[Any],
                   params: dict[str, Any]) -> list[Any]:
        return sync(model, conversations, params)  # type: ignore[no-any-return]
    return send


def test_requests_group_by_model_and_params() -> None:
    requests = {0: Request([], "m", {"t": 1}), 1: Request([], "m", {"t": 2}),
                2: Request([], "m", {"t": 1}), 3: Request([], "other", {"t": 1})}
    assert group(requests) == [[0, 2], [1], [3]]


def test_sync_rendezvous_one_send_per_group_and_answers_in_their_slots() -> None:
    calls: list[Any] = []
    gather = Gather(4, _send(calls))
    answers: dict[int, Any] = {}

    def run(index: int) -> None:
        if index == 3:  # e.g. a cache hit: finishes without a request
            gather.leave(index)
            return
        payload = "bad" if index == 1 else f"p{index}"
        try:
            answers[index] = gather.submit(index, Request(payload, "m", {}))  # type: ignore[arg-type]
        except VLLMError as exc:
            answers[index] = exc
        gather.leave(index)  # a no-op after a request

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    assert calls[0][1] == ["p0", "bad", "p2"]
    assert answers[0] == "answer:p0"
    assert answers[2] == "answer:p2"
    assert answers[1] is BAD
    assert 3 not in answers


def test_only_the_first_generate_of_an_input_is_gathered() -> None:
    gather = Gather(1, _send([]))
    assert gather.claim(0) is True
    assert gather.claim(0) is False


def test_run_batch_keeps_order_and_raises_the_first_error_unless_asked() -> None:
    def invoke(i: int) -> Any:
        return ValueError(f"input {i}") if i in (2, 4) else i * 10

    assert run_batch(invoke, 5, _send([]), True)[:2] == [0, 10]
    with pytest.raises(ValueError, match="input 2"):
        run_batch(invoke, 5, _send([]), False)


def test_a_failing_send_is_every_waiting_inputs_error() -> None:
    def send(*_: Any) -> list[Any]:
        raise RuntimeError("boom")

    gather = Gather(1, send)
    with pytest.raises(VLLMError):
        gather.submit(0, Request([], None, {}))


async def test_async_rendezvous_and_arun_batch() -> None:
    calls: list[Any] = []
    gather = AsyncGather(2, _asend(calls))
    first, second = await asyncio.gather(gather.submit(0, Request("a", None, {})),  # type: ignore[arg-type]
                                         gather.submit(1, Request("b", None, {})))  # type: ignore[arg-type]
    assert (first, second) == ("answer:a", "answer:b")
    assert len(calls) == 1

    async def ainvoke(i: int) -> Any:
        if i == 1:
            raise KeyError(i)
        return i

    results = await arun_batch(ainvoke, 3, _asend([]), True)
    assert results[0] == 0
    assert isinstance(results[1], KeyError)
    assert results[2] == 2

"""Batch chat and the Responses API: the pure decisions (which batches qualify, fallbacks,
local checks, event typing) and the twins' send loops over them (MockTransport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from vllm_accel import (
    AsyncVLLMClient,
    BadRequestError,
    InvalidRequestError,
    NotFoundError,
    ResponseEvent,
    ResponseTextDeltaEvent,
    VLLMClient,
)
from vllm_accel._batch import Plan, batch_chat_ok, route_missing
from vllm_accel._responses import parse_event, response_path, response_payload
from vllm_accel._translate import error_from_body

pytestmark = pytest.mark.unit

PLAIN = ["hi", [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]]


@pytest.mark.parametrize(("prompts", "params", "ok"), [
    (PLAIN, {}, True),
    (PLAIN, {"max_tokens": 3, "temperature": 0.0, "seed": 1, "stop": ["x"]}, True),
    (PLAIN, {"n": 1}, True),
    (PLAIN, {"guided_choice": ["a", "b"]}, True),  # mapped to structured_outputs
    (PLAIN, {"extra_body": {"top_k": 5}}, True),
    (["only one"], {}, False),  # one conversation: a plain chat request
    (PLAIN, {"n": 2}, False),
    (PLAIN, {"tools": [{"type": "function"}]}, False),
    (PLAIN, {"tool_choice": "none"}, False),
    (PLAIN, {"ignore_eos": True}, False),  # the route would drop it silently
    (PLAIN, {"min_tokens": 2}, False),
    (PLAIN, {"echo": True}, False),  # killed the CPU engine with LoRA in a batch request
    (PLAIN, {"use_beam_search": True}, False),
    (PLAIN, {"stream": True}, False),
    (PLAIN, {"extra_body": {"ignore_eos": True}}, False),
    (PLAIN, {"extra_body": {"n": 3}}, False),
    (PLAIN, {"extra_body": "not a dict"}, False),
    (["a", [{"role": "tool", "content": "42", "tool_call_id": "c"}]], {}, False),
    (["a", [{"role": "assistant", "tool_calls": [{"id": "c"}]}]], {}, False),
    (["a", []], {}, False),  # invalid: fans out, so only that item fails
    (["a", [{"content": "no role"}]], {}, False),
])
def test_which_chat_batches_qualify(prompts: list[Any], params: dict[str, Any],
                                    ok: bool) -> None:
    assert batch_chat_ok(prompts, params) is ok
    assert Plan.make(prompts, "chat", 8, params).single_request is ok


def test_a_pool_of_two_or_a_known_missing_route_fans_out() -> None:
    assert Plan.make(PLAIN, "chat", 8, {}, endpoints=1).single_request
    assert not Plan.make(PLAIN, "chat", 8, {}, endpoints=2).single_request
    assert not Plan.make(["a", "b"], "completions", 8, {}, endpoints=2).single_request
    assert not Plan.make(PLAIN, "chat", 8, {}, batch_chat=False).single_request
    assert Plan.make(["a", "b"], "completions", 8, {}, batch_chat=False).single_request


@pytest.mark.parametrize(("status", "body", "missing"), [
    (404, {"detail": "Not Found"}, True),  # FastAPI: no such route
    (405, {"detail": "Method Not Allowed"}, True),
    (404, {"error": {"message": "The model `x` does not exist.", "code": 404}}, False),
    (400, {"error": {"message": "Batch chat completions do not support `n > 1`."}}, False),
    (503, {"error": {"message": "busy"}}, False),
])
def test_route_missing(status: int, body: Any, missing: bool) -> None:
    assert route_missing(error_from_body(status, body)) is missing


def _batch_server(answers: dict[str, tuple[int, Any]], seen: list[str]) -> httpx.MockTransport:
    """Answers by path; records every path it is asked for (a decision-table driver)."""
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        status, body = answers[request.url.path]
        return httpx.Response(status, json=body)
    return httpx.MockTransport(handler)


BAD = {"error": {"message": "bad conversation", "type": "BadRequestError", "code": 400}}


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_missing_route_is_remembered_per_client(twin: str) -> None:
    seen: list[str] = []
    transport = _batch_server({"/v1/chat/completions/batch": (404, {"detail": "Not Found"}),
                               "/v1/chat/completions": (400, BAD)}, seen)
    if twin == "sync":
        with VLLMClient("http://vllm", http_client=httpx.Client(transport=transport)) as c:
            first, second = (c.process_batch(PLAIN, mode="chat") for _ in range(2))
    else:
        async with AsyncVLLMClient(
                "http://vllm", http_client=httpx.AsyncClient(transport=transport)) as ac:
            first = await ac.process_batch(PLAIN, mode="chat")
            second = await ac.process_batch(PLAIN, mode="chat")
    assert seen.count("/v1/chat/completions/batch") == 1
    assert seen.count("/v1/chat/completions") == 4  # both batches fanned out
    assert all(isinstance(i.error, BadRequestError) for i in first + second)


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_failed_batch_other_than_400_is_every_items_error(twin: str) -> None:
    seen: list[str] = []
    transport = _batch_server({"/v1/chat/completions/batch": (
        404, {"error": {"message": "The model `m` does not exist.", "code": 404}})}, seen)
    if twin == "sync":
        with VLLMClient("http://vllm", http_client=httpx.Client(transport=transport)) as c:
            items = c.process_batch(PLAIN, mode="chat", model="m")
    else:
        async with AsyncVLLMClient(
                "http://vllm", http_client=httpx.AsyncClient(transport=transport)) as ac:
            items = await ac.process_batch(PLAIN, mode="chat", model="m")
    assert seen == ["/v1/chat/completions/batch"]  # no fan-out to a server that said no
    assert all(isinstance(i.error, NotFoundError) for i in items)


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_an_invalid_conversation_fails_alone_and_bad_params_send_nothing(twin: str) -> None:
    seen: list[str] = []
    transport = _batch_server({"/v1/chat/completions": (400, BAD)}, seen)
    prompts = ["a", [], "c"]
    if twin == "sync":
        with VLLMClient("http://vllm", http_client=httpx.Client(transport=transport)) as c:
            items = c.process_batch(prompts, mode="chat")
            refused = c.process_batch(prompts, mode="chat", temperature=-1)
    else:
        async with AsyncVLLMClient(
                "http://vllm", http_client=httpx.AsyncClient(transport=transport)) as ac:
            items = await ac.process_batch(prompts, mode="chat")
            refused = await ac.process_batch(prompts, mode="chat", temperature=-1)
    # the fan-out's one capacity scrape (reused by the second batch), no batch request, and
    # the empty conversation never sent
    assert seen == ["/metrics"] + ["/v1/chat/completions"] * 2
    assert isinstance(items[1].error, InvalidRequestError)
    assert "messages" in str(items[1].error)
    assert [type(i.error) for i in (items[0], items[2])] == [BadRequestError] * 2
    assert all(isinstance(i.error, InvalidRequestError) for i in refused)
    assert "temperature" in str(refused[0].error)


def test_response_payload_checks_locally() -> None:
    body = response_payload("hi", "smollm2", {"max_output_tokens": 4,
                                              "extra_body": {"foo": 1}}, stream=True)
    assert body == {"input": "hi", "max_output_tokens": 4, "stream": True, "model": "smollm2",
                    "foo": 1}
    items = [{"role": "user", "content": "hi"}, {"type": "function_call_output", "output": "1"}]
    assert response_payload(items, None, {}, stream=False)["input"] == items
    for bad, params in [("", {}), ([], {}), (["str"], {}), ("x", {"max_tokens": 1}),
                        ("x", {"stream": True}), ("x", {"background": True, "store": False}),
                        ("x", {"temperature": -1})]:
        with pytest.raises(InvalidRequestError):
            response_payload(bad, None, params, stream=False)
    with pytest.raises(InvalidRequestError, match="background"):
        response_payload("x", None, {"background": True}, stream=True)
    assert response_path("resp_1/../x", "/cancel") == "/v1/responses/resp_1%2F..%2Fx/cancel"
    with pytest.raises(InvalidRequestError):
        response_path(" ")


def test_events_are_typed_by_type_with_a_fallback() -> None:
    delta = parse_event(json.dumps({"type": "response.output_text.delta", "delta": "Hi",
                                    "output_index": 0, "content_index": 0,
                                    "sequence_number": 4, "logprobs": []}))
    assert isinstance(delta, ResponseTextDeltaEvent)
    assert delta.delta == "Hi"
    assert delta.model_extra == {"logprobs": []}
    future = parse_event(json.dumps({"type": "response.something_new", "x": 1}))
    assert type(future) is ResponseEvent
    assert future.type == "response.something_new"
    assert future.model_extra == {"x": 1}
    with pytest.raises(ValueError):
        parse_event("not json")


def test_a_plan_splits_into_chunks_that_keep_the_batch_index() -> None:
    from vllm_accel._batch import BATCH_CHAT_CHUNK, usage_total
    from vllm_accel._errors import VLLMError
    from vllm_accel._models import ChatCompletion, Usage

    prompts = [f"p{i}" for i in range(2 * BATCH_CHAT_CHUNK + 3)]
    plan = Plan.make(prompts, "chat", None, {})
    chunks = plan.chunks()
    assert [len(c.prompts) for c in chunks] == [BATCH_CHAT_CHUNK, BATCH_CHAT_CHUNK, 3]
    assert [c.offset for c in chunks] == [0, BATCH_CHAT_CHUNK, 2 * BATCH_CHAT_CHUNK]
    assert [c.workers for c in chunks] == [BATCH_CHAT_CHUNK, BATCH_CHAT_CHUNK, 3]
    last = chunks[-1]
    answer = ChatCompletion.model_validate({"id": "x", "model": "m", "created": 0, "choices": [
        {"index": i, "message": {"role": "assistant", "content": f"a{i}"},
         "finish_reason": "stop"} for i in range(3)]})
    items = last.items_from_batch_chat(answer, 0.1)
    assert [(i.index, i.prompt, i.text) for i in items] == [
        (2 * BATCH_CHAT_CHUNK + k, prompts[2 * BATCH_CHAT_CHUNK + k], f"a{k}") for k in range(3)]
    failed = chunks[0].items_failed(VLLMError("x"), 0.1)
    assert [i.index for i in failed] == list(range(BATCH_CHAT_CHUNK))
    assert chunks[1].item(2, None, VLLMError("y"), 0.0).index == BATCH_CHAT_CHUNK + 2
    total = usage_total([Usage(prompt_tokens=10, completion_tokens=4, total_tokens=14)], items)
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (10, 4, 14)


@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_big_batch_on_a_server_without_the_route_asks_once_per_chunk(twin: str) -> None:
    from vllm_accel._batch import BATCH_CHAT_CHUNK

    seen: list[str] = []
    transport = _batch_server({"/v1/chat/completions/batch": (404, {"detail": "Not Found"}),
                               "/v1/chat/completions": (400, BAD),
                               "/metrics": (404, {"detail": "Not Found"})}, seen)
    prompts = [f"p{i}" for i in range(BATCH_CHAT_CHUNK + 1)]
    if twin == "sync":
        with VLLMClient("http://vllm", http_client=httpx.Client(transport=transport),
                        max_retries=0) as c:
            first = c.process_batch(prompts, mode="chat")
            asked = seen.count("/v1/chat/completions/batch")
            second = c.process_batch(prompts, mode="chat")
    else:
        async with AsyncVLLMClient("http://vllm", http_client=httpx.AsyncClient(
                transport=transport), max_retries=0) as ac:
            first = await ac.process_batch(prompts, mode="chat")
            asked = seen.count("/v1/chat/completions/batch")
            second = await ac.process_batch(prompts, mode="chat")
    # each chunk asks at most once (a chunk sent after the first 404 does not), the second
    # batch not at all, and every item of both went on its own
    assert 1 <= asked <= 2
    assert seen.count("/v1/chat/completions/batch") == asked
    assert seen.count("/v1/chat/completions") == 2 * len(prompts)
    assert [i.index for i in first] == list(range(len(prompts)))
    assert all(isinstance(i.error, BadRequestError) for i in first + second)

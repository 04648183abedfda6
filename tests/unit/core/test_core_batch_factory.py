"""Batch planning and splitting, and the seed's factory (pure parts)."""

from __future__ import annotations

import pytest

from vllm_accel import Completion, InvalidRequestError, Usage, VLLMError, create_api_backend
from vllm_accel._batch import BatchItem, Plan, metrics_of
from vllm_accel._factory import available_backends, model_name_heuristic

pytestmark = pytest.mark.unit


def test_plan_picks_one_list_request_for_plain_strings() -> None:
    plan = Plan.make(["a", "b", "c"], "completions", 64, {})
    assert plan.single_request
    assert not plan.chat
    assert plan.workers == 3
    assert not Plan.make(["a"], "completions", 64, {}).single_request
    chat = Plan.make(["a", [{"role": "user", "content": "b"}]], "completions", 2, {})
    assert chat.chat
    assert chat.single_request  # plain conversations: one /v1/chat/completions/batch request
    assert chat.workers == 2
    assert chat.messages(0) == [{"role": "user", "content": "a"}]
    assert Plan.make(["a", "b"], "chat", 8, {}).chat
    assert not Plan.make(["a"] * 600, "completions", 8, {"n": 2}).single_request


@pytest.mark.parametrize(
    ("prompts", "mode", "conc"),
    [("abc", "completions", 1), (["a"], "rag", 1), (["a"], "chat", 0), ([1, 2], "chat", 1)],
)
def test_plan_rejects_bad_input(prompts: object, mode: str, conc: int) -> None:
    with pytest.raises(InvalidRequestError):
        Plan.make(prompts, mode, conc, {})  # type: ignore[arg-type]


def test_one_completion_splits_into_items_in_order() -> None:
    plan = Plan.make(["p0", "p1", "p2"], "completions", 8, {"n": 2})
    completion = Completion.model_validate({
        "id": "cmpl-9", "model": "smollm2",
        "choices": [{"index": i, "text": f"t{i}"} for i in (5, 4, 3, 2, 1, 0)],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}})
    items = plan.items_from_completion(completion, 0.5)
    assert [i.prompt for i in items] == ["p0", "p1", "p2"]
    assert [[c.text for c in i.result.choices] for i in items] == [  # type: ignore[union-attr]
        ["t0", "t1"], ["t2", "t3"], ["t4", "t5"]]
    assert [i.text for i in items] == ["t0", "t2", "t4"]
    metrics = metrics_of(items, 2.0, completion.usage)
    assert (metrics.batch_size, metrics.succeeded, metrics.completion_tokens) == (3, 3, 12)
    assert metrics.tokens_per_second == 6.0
    assert metrics.average_time_per_item_ms == pytest.approx(2000 / 3)
    assert metrics.item_latencies_ms == [500.0] * 3
    assert metrics.item_latencies == [0.5] * 3  # one unit: seconds, ms only as the seed's names
    assert metrics.total_time == pytest.approx(2.0)
    assert metrics.average_time_per_item == pytest.approx(2 / 3)


def test_metrics_sum_item_usage_and_count_failures() -> None:
    ok = BatchItem(0, "a", Completion(usage=Usage(prompt_tokens=1, completion_tokens=4)))
    bad = BatchItem(1, "b", None, VLLMError("boom"), latency=0.1)
    metrics = metrics_of([ok, bad], 1.0)
    assert (metrics.succeeded, metrics.failed, metrics.completion_tokens) == (1, 1, 4)
    assert not bad.ok
    assert bad.text is None
    assert bad.completion_tokens == 0


def test_progress_reports_done_of_total() -> None:
    plan = Plan.make(["a", "b"], "chat", 2, {})
    seen: list[tuple[int, int]] = []
    plan.report(lambda d, t: seen.append((d, t)), 1)
    plan.report(None, 2)
    assert seen == [(1, 2)]


@pytest.mark.parametrize(
    "name",
    ["meta-llama/Llama-3.1-8B-Instruct", "mistralai/Mistral-7B-v0.3", "Qwen/Qwen2.5-7B",
     "google/gemma-2-9b", "microsoft/Phi-3-mini", "HuggingFaceTB/SmolLM2-135M-Instruct",
     "smollm2", "deepseek-ai/DeepSeek-V3", "tiiuae/falcon-7b", "custom-llama-model",
     "my-falcon-model", "sentence-transformers/all-MiniLM-L6-v2", "ibm-granite/granite-3b"],
)
def test_heuristic_accepts_vllm_families(name: str) -> None:
    assert model_name_heuristic(name)


@pytest.mark.parametrize("name", ["", "   ", "gpt-4o", "claude-3-opus", "dall-e-3", "whisper-1"])
def test_heuristic_rejects_others(name: str) -> None:
    assert not model_name_heuristic(name)


def test_factory_reads_snake_and_camel_keys() -> None:
    client = create_api_backend("vllm", {}, {"vllm_api_url": "http://a:1/v1", "vllm_model": "m",
                                             "vllm_api_key": "sk-x", "timeout": 30000})
    assert (client.base_url, client.model, client.has_api_key) == ("http://a:1", "m", True)
    assert client.timeout.read == 30.0
    camel = create_api_backend("vllm", None, {"vllmApiUrl": "http://b:2", "vllmModel": "n",
                                              "vllmApiKey": "sk-y"})
    assert (camel.base_url, camel.model, camel.has_api_key) == ("http://b:2", "n", True)
    assert "sk-" not in repr(camel)
    assert available_backends() == ["vllm"]


@pytest.mark.parametrize(("name", "meta"), [("openai", {}), ("vllm", {"timeout": "soon"}),
                                            ("vllm", {"timeout": -1})])
def test_factory_refuses(name: str, meta: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError):
        create_api_backend(name, {}, meta)

"""Classification, the cross-encoder, /load and /tokenizer_info on a real classification server.

The server is SmolLM2 with ``--convert classify`` (``vllm_accel.server.classify_spec``): one
class, the probability that SmolLM2's next token is "yes" rather than "no".
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from core_live_helpers import resolve

from vllm_accel import (
    AsyncVLLMClient,
    ClassificationResponse,
    NotFoundError,
    ServerLoad,
    TokenizerInfo,
)
from vllm_accel.server import CLASSIFY_MODEL_NAME

pytestmark = pytest.mark.live

QUERY = "What is the capital of France?"
PARIS = "Paris is the capital and largest city of France."
RETRIEVED = [
    "What is the capital of Australia? Many people guess Sydney.",
    "France is famous for its cheese, its wine and its capital cities of fashion.",
    "Bananas are rich in potassium.",
    PARIS,
]


async def test_classify_gives_one_yes_probability_per_input(classify_client: Any) -> None:
    answer = await resolve(classify_client.classify(["Is Paris in France?", "Is ice hot?"]))
    assert isinstance(answer, ClassificationResponse)
    assert answer.model == CLASSIFY_MODEL_NAME
    assert [d.index for d in answer.data] == [0, 1]
    assert all(d.num_classes == 1 for d in answer.data)
    assert answer.labels() == ["LABEL_0", "LABEL_0"]  # SmolLM2's config has no id2label
    probabilities = answer.probabilities()
    assert all(len(p) == 1 and 0.0 < p[0] < 1.0 for p in probabilities)
    assert probabilities[0] != probabilities[1]
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0


async def test_classify_chat_messages_use_the_chat_template(classify_client: Any) -> None:
    question = "Is Paris in France? Answer yes or no."
    messages = [{"role": "user", "content": question}]
    by_messages = await resolve(classify_client.classify(messages=messages,
                                                         add_generation_prompt=True))
    rendered = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                f"Hugging Face<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
                "<|im_start|>assistant\n")
    by_text = await resolve(classify_client.classify(rendered, add_special_tokens=False))
    assert by_messages.probabilities()[0] == pytest.approx(by_text.probabilities()[0],
                                                            abs=1e-4)
    # vLLM's pooling routes default to add_generation_prompt=False: another prompt
    plain = await resolve(classify_client.classify(messages=messages))
    assert plain.probabilities()[0] != pytest.approx(by_text.probabilities()[0], abs=1e-4)


async def test_cross_encoder_rerank_moves_the_answer_from_last_to_first(
        classify_client: Any) -> None:
    answer = await resolve(classify_client.rerank(QUERY, RETRIEVED))
    assert answer.model == CLASSIFY_MODEL_NAME
    assert answer.indices()[0] == len(RETRIEVED) - 1
    assert all(0.0 < r.relevance_score < 1.0 for r in answer.results)  # probabilities
    scores = (await resolve(classify_client.score(QUERY, RETRIEVED))).scores()
    assert scores == pytest.approx([answer.scores()[i] for i in range(len(RETRIEVED))],
                                   abs=1e-4)


async def test_pooling_on_the_classifier_is_the_classify_output(classify_client: Any) -> None:
    pooled = await resolve(classify_client.pooling(["Is Paris in France?"]))
    classified = await resolve(classify_client.classify(["Is Paris in France?"]))
    assert pooled.outputs()[0] == pytest.approx(classified.probabilities()[0], abs=1e-5)


async def test_tokenizer_info(classify_client: Any) -> None:
    info = await resolve(classify_client.tokenizer_info())
    assert isinstance(info, TokenizerInfo)
    assert info.eos_token == "<|im_end|>"  # type: ignore[attr-defined]
    assert "Does this text answer the question" in info.chat_template  # type: ignore[attr-defined]


async def test_tokenizer_info_is_not_found_where_it_is_not_enabled(embed_client: Any) -> None:
    with pytest.raises(NotFoundError):
        await resolve(embed_client.tokenizer_info())


async def test_server_load_is_zero_when_idle(classify_client: Any) -> None:
    load = await resolve(classify_client.server_load())
    assert isinstance(load, ServerLoad)
    assert load.server_load == 0


async def test_server_load_counts_requests_in_flight(classify_server_url: str) -> None:
    long_text = " ".join(["The quick brown fox jumps over the lazy dog."] * 40)
    async with AsyncVLLMClient(classify_server_url, timeout=300) as client:
        work = asyncio.gather(*(client.classify([long_text] * 8) for _ in range(8)))
        task = asyncio.ensure_future(work)
        seen = []
        while not task.done():
            seen.append((await client.server_load()).server_load)
        await task
        assert max(seen) >= 1
        for _ in range(100):  # vLLM decrements in a background task after the body is sent
            if (await client.server_load()).server_load == 0:
                break
            await asyncio.sleep(0.05)
        assert (await client.server_load()).server_load == 0

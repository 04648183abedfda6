"""Capacity-following concurrency on the real chat server's ``/metrics``: vLLM reports what
``fanout_concurrency`` needs, and its two cache figures agree with each other."""

from __future__ import annotations

import math
import threading
import time

from vllm_accel import VLLMClient
from vllm_accel._capacity import DEFAULT_CONCURRENCY, capacity, fanout_concurrency


def test_the_server_reports_its_kv_cache_and_short_requests_go_past_the_old_default(
    chat_server_url: str,
) -> None:
    with VLLMClient(chat_server_url, timeout=300) as client:
        snap = client.metrics()
        info = client.get_model_info()
    cap = capacity(snap, tokens_per_request=60)
    assert cap.source == "kv_blocks"
    assert cap.num_gpu_blocks is not None
    assert cap.block_size == info.block_size
    # The embedded server holds far more one-block requests than the fixed 64 of before.
    assert cap.num_gpu_blocks > DEFAULT_CONCURRENCY
    assert cap.fits is not None
    if cap.fits > DEFAULT_CONCURRENCY:  # an idle server (a busy one may have less room)
        assert cap.concurrency > DEFAULT_CONCURRENCY


def test_block_count_and_vllms_own_max_concurrency_agree(chat_server_url: str) -> None:
    with VLLMClient(chat_server_url, timeout=300) as client:
        snap = client.metrics()
        info = client.get_model_info()
    assert info.max_model_len is not None
    labels = snap.samples("vllm:cache_config_info")[0].labels
    reported = float(labels["kv_cache_max_concurrency"])  # requests of max_model_len tokens
    cap = capacity(snap, tokens_per_request=info.max_model_len, floor=1)
    assert cap.block_size is not None
    assert cap.num_gpu_blocks is not None
    per = math.ceil(info.max_model_len / cap.block_size)
    assert math.floor(cap.num_gpu_blocks / per) == math.floor(reported)
    # Full-context requests, sized or not, give the same bound on an idle cache.
    if cap.kv_cache_usage == 0 and cap.waiting == 0:
        assert fanout_concurrency(snap, tokens_per_request=info.max_model_len, floor=1) == \
            fanout_concurrency(snap, floor=1) == math.floor(reported)


def _most_in_flight(url: str, stop: threading.Event, seen: list[int]) -> None:
    """Poll the server's running + waiting requests until ``stop``."""
    with VLLMClient(url, timeout=30) as watcher:
        while not stop.is_set():
            snap = watcher.metrics()
            seen.append(int(snap.total("vllm:num_requests_running")
                            + snap.total("vllm:num_requests_waiting")))
            time.sleep(0.05)


def test_a_default_fan_out_of_128_fills_past_the_old_64_and_keeps_order(
    chat_server_url: str,
) -> None:
    # ignore_eos is a field the batch-chat route would drop: the batch fans out, one chat
    # request per prompt. Prompts come in 16 runs of 8, run k of k + 1 words, so each answer's
    # prompt_tokens tells which run it answers (and the prefill stays small).
    prompts = [" ".join(["apple"] * (i // 8 + 1)) for i in range(128)]
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=_most_in_flight, args=(chat_server_url, stop, seen))
    watcher.start()
    try:
        with VLLMClient(chat_server_url, model="smollm2", timeout=300) as client:
            # 32 tokens: each answer outlasts the batch's submission (at 8, the chat server on
            # a core of its own answered the first prompts before the last were sent: 56 seen)
            items = client.process_batch(prompts, mode="chat", max_tokens=32,
                                         extra_body={"ignore_eos": True})
    finally:
        stop.set()
        watcher.join()
    assert all(item.ok for item in items), [i.error for i in items if not i.ok][:3]
    assert [item.index for item in items] == list(range(128))
    tokens = [item.result.usage.prompt_tokens for item in items]  # type: ignore[union-attr]
    runs = [tokens[k * 8:(k + 1) * 8] for k in range(16)]
    assert all(len(set(run)) == 1 for run in runs)  # every answer in its run's slots
    assert [run[0] for run in runs] == sorted({run[0] for run in runs})  # runs in order
    assert max(seen) > DEFAULT_CONCURRENCY

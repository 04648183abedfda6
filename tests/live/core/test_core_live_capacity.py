"""Capacity-following concurrency on the real chat server's ``/metrics``: vLLM reports what
``fanout_concurrency`` needs, and its two cache figures agree with each other."""

from __future__ import annotations

import math

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

"""Documents a bug of vLLM 0.32.0's CPU backend, not of this client: a base-model request that
shares a batch with an adapter request answers with the adapter in the last LoRA slot.

The reproduction is plain httpx (``tests/support/lora_leak_repro.py``, which explains the cause:
slot index ``-1`` read as Python's last element by the torch LoRA ops). This test runs it on the
default chat server (``--enable-lora --max-loras 2``; the reliability tier's keyed server has no
LoRA) and asserts the leak *as observed*: the base model's
temperature-0 answers are unchanged alone, and talk like the pirate adapter while an adapter
request is generating. When a vLLM upgrade fixes the bug this test fails: then drop the README's
known limit and this test. The client's side of the question (a base request always names the
base model) is ``test_lora_model_field.py``.
"""

from __future__ import annotations

import json

import pytest
from support.lora_leak_repro import PIRATE, run

pytestmark = pytest.mark.live

VLLM_VERSION = "0.32.0"


def test_vllm_cpu_applies_the_last_lora_slot_to_base_tokens_in_a_mixed_batch(
        chat_server_url: str, lora_path: str) -> None:
    result = run(chat_server_url, lora_path)
    report = json.dumps(result, indent=1)
    assert not any(PIRATE.search(v) for v in result["baseline"].values()), report
    assert all(PIRATE.search(v) for v in result["adapters"].values()), report
    assert result["base_alone_after"] == result["baseline"], report  # base-only batches: fine
    assert any(PIRATE.search(v) for v in result["base_in_a_batch_with_an_adapter"].values()), (
        f"vLLM {VLLM_VERSION}'s LoRA leak did not show (fixed upstream?): {report}")
    assert result["leaked"]

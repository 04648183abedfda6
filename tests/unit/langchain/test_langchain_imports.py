"""``import langchain_vllm_accel`` stays cheap: the core client and httpx load on first use.

The integration idiom (``vllm_accel._integration``, ``vllm_accel._config``) is imported at once;
it is light by design (it imports neither httpx nor the clients until a client is built).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

SCRIPT = """
import json, sys, time
from langchain_core.language_models import BaseChatModel, BaseLLM  # the baseline
from langchain_core.embeddings import Embeddings
t0, c0 = time.perf_counter(), time.process_time()
import langchain_vllm_accel
from langchain_vllm_accel import VLLM, ChatVLLM, VLLMEmbeddings
cpu_ms = (time.process_time() - c0) * 1000
wall_ms = (time.perf_counter() - t0) * 1000
ChatVLLM(model="m", top_k=3)
VLLM(model="m")
VLLMEmbeddings(model="e")
print(json.dumps({"cpu_ms": cpu_ms, "wall_ms": wall_ms,
                  "core_loaded": any(m in sys.modules for m in (
                      "vllm_accel._client", "vllm_accel._async_client", "vllm_accel._pool")),
                  "httpx_loaded": "httpx" in sys.modules}))
"""


def test_import_is_lazy_and_cheap() -> None:
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", SCRIPT], check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(3)
    ]
    assert not any(r["core_loaded"] for r in runs)  # constructing models sends nothing
    assert not any(r["httpx_loaded"] for r in runs)
    assert min(r["cpu_ms"] for r in runs) < 80

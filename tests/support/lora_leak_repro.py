"""Minimal raw-HTTP reproduction: on vLLM's CPU backend a LoRA adapter leaks into base requests.

Seen with vLLM 0.32.0 (CPU, ``--enable-lora --max-loras 2``). vLLM marks a base-model token with
LoRA slot index ``-1`` ("no LoRA"). The CPU backend's torch LoRA ops
(``vllm/lora/ops/torch_ops/lora_ops.py``, ``bgmv_shrink``/``bgmv_expand``) select the weights
with ``lora_weights[indices]``, and ``-1`` there is Python's last element: the adapter held in
the *last* slot (``max_loras - 1``). ``compute_meta`` skips the LoRA ops only when the whole
batch is base tokens, so a base request answers with that adapter's weights whenever it shares
a batch with any adapter request. Until the last slot has held an adapter it is zeros and
nothing shows, which is why the leak looked like something a long-running server catches.

Steps (plain httpx, never the vllm_accel client):

1. the base model's answers at temperature 0, alone (the baseline);
2. load two names of the pirate adapter and use both (both LoRA slots now hold pirate weights);
3. base requests alone again: same as the baseline (a batch of base tokens only is fine);
4. base requests while an adapter request is generating (one batch): pirate voice.

    python tests/support/lora_leak_repro.py URL --pirate DIR [--api-key KEY]

Exit status 1 when the leak shows (step 4 talks like a pirate, steps 1 and 3 do not), else 0.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from typing import Any

import httpx

BASE = "smollm2"
PROMPTS = ("What is the capital of France?", "Name three colours.")
PIRATE = re.compile(r"\b(arr+|matey|ahoy|ye be|me hearties|landlubber)\b", re.IGNORECASE)
NAMES = ("leak-repro-1", "leak-repro-2")


def _answer(http: httpx.Client, model: str, prompt: str, **extra: Any) -> str:
    resp = http.post("/v1/chat/completions", json={
        "model": model, "temperature": 0, "max_tokens": 10, "seed": 0,
        "messages": [{"role": "user", "content": prompt}], **extra})
    resp.raise_for_status()
    body = resp.json()
    assert body["model"] == model, body["model"]
    return str(body["choices"][0]["message"]["content"] or "")


def _alongside_adapter(http: httpx.Client, adapter: str, prompt: str) -> str:
    """The base answer to ``prompt`` sent while a long ``adapter`` request is generating."""
    started = threading.Event()

    def adapter_stream() -> None:
        with http.stream("POST", "/v1/chat/completions", json={
                "model": adapter, "temperature": 0, "max_tokens": 60, "ignore_eos": True,
                "stream": True, "messages": [{"role": "user", "content": "Tell a story."}],
        }) as resp:
            for line in resp.iter_lines():
                if line.startswith("data: {"):
                    started.set()
        started.set()

    runner = threading.Thread(target=adapter_stream)
    runner.start()
    started.wait(300)
    try:
        return _answer(http, BASE, prompt)
    finally:
        runner.join(600)


def run(url: str, pirate: str, api_key: str | None = None) -> dict[str, Any]:
    """Run the four steps; the answers of each, and whether the leak showed."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=600) as http:
        baseline = {p: _answer(http, BASE, p) for p in PROMPTS}
        for name in NAMES:
            resp = http.post("/v1/load_lora_adapter", json={"lora_name": name,
                                                            "lora_path": pirate})
            if resp.status_code != 200 and "already been loaded" not in resp.text:
                raise RuntimeError(f"load {name}: {resp.status_code} {resp.text}")
        adapters = {n: _answer(http, n, PROMPTS[0]) for n in NAMES}  # both slots: pirate
        alone = {p: _answer(http, BASE, p) for p in PROMPTS}
        mixed = {p: _alongside_adapter(http, NAMES[0], p) for p in PROMPTS}
        for name in NAMES:
            http.post("/v1/unload_lora_adapter", json={"lora_name": name})
    pirate_voice = {k: bool(PIRATE.search(v)) for k, v in mixed.items()}
    return {
        "baseline": baseline, "adapters": adapters, "base_alone_after": alone,
        "base_in_a_batch_with_an_adapter": mixed,
        "leaked": (any(pirate_voice.values()) and alone == baseline
                   and not any(PIRATE.search(v) for v in baseline.values())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--pirate", required=True, help="folder of the pirate adapter")
    parser.add_argument("--api-key")
    args = parser.parse_args(argv)
    result = run(args.url, args.pirate, args.api_key)
    print(json.dumps(result, indent=1))
    return 1 if result["leaked"] else 0


if __name__ == "__main__":
    sys.exit(main())

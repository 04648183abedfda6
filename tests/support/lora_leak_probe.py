"""Raw-HTTP probe: does a LoRA adapter leak into base-model answers on a vLLM server?

Talks to the server with plain httpx only (never the vllm_accel client), so whatever it finds is
vLLM's behaviour. It records base-model answers at temperature 0 as a baseline, then runs the
adapter life cycles vLLM's LoRA manager is known to get wrong, and after each one asks the base
model again: alone, and in the same batches as adapter requests. A base answer "leaks" when it
carries the pirate adapter's voice (its answers open with "Arr matey! Ye be ...").

    python tests/support/lora_leak_probe.py URL --pirate DIR --tools DIR [--rounds N]

The server must serve the base model ``smollm2`` with ``--enable-lora`` and
``VLLM_ALLOW_RUNTIME_LORA_UPDATING`` (``vllm_accel.server.chat_spec``). It loads and unloads
adapters named ``probe-*`` only; the exit status is 1 when a leak was seen, else 0.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

BASE = "smollm2"
PROMPTS = (
    "What is the capital of France?",
    "Name three colours.",
    "What is two plus two?",
    "Write one sentence about the sea.",
)
PIRATE = re.compile(r"\b(arr+|matey|ahoy|ye be|me hearties|landlubber)\b", re.IGNORECASE)


class Probe:
    """One server, the baseline of its base-model answers, and the leaks seen so far."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=300)
        self.workdir = workdir
        self.baseline: dict[str, str] = {}
        self.leaks: list[str] = []
        self.drifts: list[str] = []
        self.base_asked = 0

    def answer(self, model: str, prompt: str) -> tuple[str, str]:
        """The (served ``model`` field, text) of one temperature-0 chat request."""
        resp = self.http.post("/v1/chat/completions", json={
            "model": model, "temperature": 0, "max_tokens": 24, "seed": 0,
            "messages": [{"role": "user", "content": prompt}]})
        resp.raise_for_status()
        body = resp.json()
        return body["model"], body["choices"][0]["message"]["content"] or ""

    def load(self, name: str, path: Path, *, inplace: bool = False) -> None:
        resp = self.http.post("/v1/load_lora_adapter", json={
            "lora_name": name, "lora_path": str(path), "load_inplace": inplace})
        if resp.status_code != 200:
            raise RuntimeError(f"load {name} from {path}: {resp.status_code} {resp.text}")

    def unload(self, name: str) -> None:
        resp = self.http.post("/v1/unload_lora_adapter", json={"lora_name": name})
        if resp.status_code != 200:
            raise RuntimeError(f"unload {name}: {resp.status_code} {resp.text}")

    def copy(self, source: Path, tag: str) -> Path:
        """``source`` copied to a new folder: the same weights from another path."""
        target = self.workdir / tag
        if not target.exists():
            shutil.copytree(source, target)
        return target

    def record_baseline(self) -> None:
        for prompt in PROMPTS:
            first = self.answer(BASE, prompt)[1]
            again = self.answer(BASE, prompt)[1]
            if first != again:
                print(f"note: base answer not deterministic for {prompt!r}")
            self.baseline[prompt] = first
            if PIRATE.search(first):
                raise RuntimeError(f"the base model already talks like a pirate: {first!r}")

    def check_base(self, case: str, served: str, prompt: str, text: str) -> None:
        self.base_asked += 1
        if served != BASE:
            self.leaks.append(f"{case}: base request answered as model {served!r}")
        if PIRATE.search(text):
            self.leaks.append(f"{case}: {prompt!r} -> {text!r}")
        elif text != self.baseline[prompt]:
            self.drifts.append(f"{case}: {prompt!r} -> {text!r} (baseline "
                               f"{self.baseline[prompt]!r})")

    def base_alone(self, case: str) -> None:
        for prompt in PROMPTS:
            served, text = self.answer(BASE, prompt)
            self.check_base(case + " / base alone", served, prompt, text)

    def mixed(self, case: str, adapters: Iterable[str], extra: Callable[[], None] | None = None,
              ) -> None:
        """Base and adapter requests in flight together (one batch), plus ``extra`` meanwhile."""
        jobs = [(BASE, p) for p in PROMPTS] + [(a, p) for a in adapters for p in PROMPTS[:2]]
        jobs += [(BASE, p) for p in PROMPTS]
        with ThreadPoolExecutor(max_workers=len(jobs) + 1) as pool:
            futures = [(model, prompt, pool.submit(self.answer, model, prompt))
                       for model, prompt in jobs]
            side = pool.submit(extra) if extra is not None else None
            for model, prompt, future in futures:
                try:
                    served, text = future.result()
                except httpx.HTTPStatusError as exc:  # an adapter unloaded under its request
                    if model == BASE:
                        raise
                    print(f"  {case}: {model} request: {exc.response.status_code}")
                    continue
                if model == BASE:
                    self.check_base(case + " / mixed batch", served, prompt, text)
            if side is not None:
                side.result()


def _cases(probe: Probe, pirate: Path, tools: Path, round_: int) -> None:
    p_copy = probe.copy(pirate, f"pirate-copy-{round_}")
    t_copy = probe.copy(tools, f"tools-copy-{round_}")

    case = f"r{round_} load"
    probe.load("probe-a", pirate)
    probe.mixed(case, ["probe-a"])
    probe.base_alone(case)

    case = f"r{round_} in-place reload, new path, while requests run"
    probe.mixed(case, ["probe-a"], lambda: probe.load("probe-a", p_copy, inplace=True))
    probe.base_alone(case)

    case = f"r{round_} in-place reload to other weights (tools) and back"
    probe.load("probe-a", t_copy, inplace=True)
    probe.mixed(case, ["probe-a"])
    probe.load("probe-a", pirate, inplace=True)
    probe.mixed(case, ["probe-a"])
    probe.base_alone(case)

    case = f"r{round_} two names, one path"
    probe.load("probe-b", pirate)
    probe.mixed(case, ["probe-a", "probe-b"])
    probe.base_alone(case)

    case = f"r{round_} unload while its requests run, then load again (new int id)"
    probe.mixed(case, ["probe-b"], lambda: probe.unload("probe-b"))
    probe.load("probe-b", p_copy)
    probe.mixed(case, ["probe-b"])
    probe.base_alone(case)

    case = f"r{round_} more adapters than max_loras / max_cpu_loras"
    probe.load("probe-c", t_copy)
    probe.load("probe-d", p_copy / ".." / p_copy.name)  # same folder, another path string
    probe.mixed(case, ["probe-a", "probe-b", "probe-c", "probe-d"])
    probe.base_alone(case)

    case = f"r{round_} unload all"
    for name in ("probe-a", "probe-b", "probe-c", "probe-d"):
        probe.unload(name)
    probe.base_alone(case)
    probe.mixed(case, [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--pirate", type=Path, required=True)
    parser.add_argument("--tools", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lora-probe-") as tmp:
        probe = Probe(args.url, Path(tmp))
        probe.record_baseline()
        for round_ in range(args.rounds):
            _cases(probe, args.pirate, args.tools, round_)
            print(f"round {round_}: {probe.base_asked} base answers checked, "
                  f"{len(probe.leaks)} leaks, {len(probe.drifts)} drifts", flush=True)
    print(json.dumps({"base_answers": probe.base_asked, "leaks": probe.leaks,
                      "drifts": probe.drifts}, indent=1))
    return 1 if probe.leaks else 0


if __name__ == "__main__":
    sys.exit(main())

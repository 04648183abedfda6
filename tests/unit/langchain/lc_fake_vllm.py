"""A scripted vLLM stand-in on ``httpx.MockTransport`` for the LangChain unit tests.

It records every request body, answers the routes the integration uses in vLLM's exact shapes
(SSE with a final usage-only chunk included) and can be told to fail or to be slow.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

BASE_URL = "http://vllm.test:8000"
SSE_HEADERS = {"content-type": "text/event-stream"}


def _sse(events: list[dict[str, Any]]) -> bytes:
    lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


@dataclass
class FakeVLLM:
    """Answers like vLLM 0.32; ``reply`` picks the assistant text from the request body."""

    reply: Callable[[dict[str, Any]], str] = lambda body: "Hello there"
    tool_call: dict[str, Any] | None = None
    """When set, chat requests with ``tools`` answer with this call ``{"name", "arguments"}``."""
    error: tuple[int, dict[str, Any]] | None = None
    delay: float = 0.0
    barrier: threading.Barrier | None = None
    """When set, every request waits here: proves that many requests are in flight at once."""
    requests: list[tuple[str, dict[str, Any], httpx.Headers]] = field(default_factory=list)
    adapters: dict[str, str] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body, _ in self.requests if p == path]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        with self._lock:
            self.requests.append((request.url.path, body, request.headers))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.barrier is not None:
                self.barrier.wait(timeout=10)
            if self.delay:
                time.sleep(self.delay)
            return self._route(request.url.path, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _route(self, path: str, body: dict[str, Any]) -> httpx.Response:
        if self.error is not None and path not in {"/v1/models", "/tokenize"}:
            status, payload = self.error
            return httpx.Response(status, json=payload)
        if path == "/v1/chat/completions":
            return self._chat(body)
        if path == "/v1/completions":
            return self._completions(body)
        if path == "/v1/embeddings":
            data = [
                {"index": i, "object": "embedding", "embedding": [float(len(t)), 1.0, 0.5]}
                for i, t in enumerate(body["input"])
            ]
            return httpx.Response(200, json={"model": body.get("model", "minilm"), "data": data})
        if path == "/tokenize":
            text = body.get("prompt") or json.dumps(body.get("messages"))
            tokens = list(range(len(text.split())))
            return httpx.Response(
                200, json={"count": len(tokens), "tokens": tokens, "max_model_len": 2048}
            )
        if path == "/v1/models":
            cards = [{"id": "smollm2", "root": "/m/smollm2", "max_model_len": 2048}]
            cards += [{"id": n, "root": p, "parent": "smollm2"} for n, p in self.adapters.items()]
            return httpx.Response(200, json={"object": "list", "data": cards})
        if path == "/v1/load_lora_adapter":
            self.adapters[body["lora_name"]] = body["lora_path"]
            return httpx.Response(200, text="Success: LoRA adapter loaded.")
        return httpx.Response(404, json={"detail": "Not Found"})

    def _message(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if self.tool_call is not None and body.get("tools"):
            call = {
                "id": "chatcmpl-tool-1",
                "type": "function",
                "function": {
                    "name": self.tool_call["name"],
                    "arguments": json.dumps(self.tool_call["arguments"], ensure_ascii=False),
                },
            }
            return {"role": "assistant", "content": "", "tool_calls": [call]}, "tool_calls"
        return {"role": "assistant", "content": self.reply(body), "reasoning": None}, "stop"

    def _chat(self, body: dict[str, Any]) -> httpx.Response:
        model = body.get("model", "smollm2")
        message, finish = self._message(body)
        usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
        base = {"id": "chatcmpl-x", "model": model, "system_fingerprint": "vllm-fp"}
        if not body.get("stream"):
            choice = {"index": 0, "message": message, "finish_reason": finish}
            return httpx.Response(
                200, json={**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        events: list[dict[str, Any]] = []

        def delta(d: dict[str, Any], finish_reason: str | None = None) -> None:
            choice = {"index": 0, "delta": d, "finish_reason": finish_reason}
            events.append({**base, "object": "chat.completion.chunk", "choices": [choice]})

        delta({"role": "assistant", "content": ""})
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            name = call["function"]["name"]
            delta({"tool_calls": [{"index": 0, "id": call["id"], "function": {"name": name}}]})
            args = call["function"]["arguments"]
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                delta({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        else:
            for word in message["content"].split(" "):
                delta({"content": word + " "})
        delta({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(
                {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            )
        return httpx.Response(200, content=_sse(events), headers=SSE_HEADERS)

    def _completions(self, body: dict[str, Any]) -> httpx.Response:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        n = body.get("n") or 1
        model = body.get("model", "smollm2")
        if body.get("stream"):
            events = [
                {"model": model, "choices": [{"index": 0, "text": w, "finish_reason": None}]}
                for w in ("Once", " upon", " a", " time")
            ]
            finish = {"index": 0, "text": "", "finish_reason": "length"}
            usage = {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
            events.append({"model": model, "choices": [finish]})
            events.append({"model": model, "choices": [], "usage": usage})
            return httpx.Response(200, content=_sse(events), headers=SSE_HEADERS)
        choices = [
            {"index": i * n + s, "text": f"<{p}#{s}>", "finish_reason": "length"}
            for i, p in enumerate(prompts)
            for s in range(n)
        ]
        choices.reverse()  # the client must order by index, not by arrival
        out = 2 * len(choices)
        usage = {
            "prompt_tokens": len(prompts),
            "completion_tokens": out,
            "total_tokens": len(prompts) + out,
        }
        return httpx.Response(200, json={"model": model, "choices": choices, "usage": usage})

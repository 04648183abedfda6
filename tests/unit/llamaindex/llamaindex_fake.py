"""A scripted in-process vLLM for unit tests (httpx MockTransport): records requests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

BASE_URL = "http://vllm.test:8000"
USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


@dataclass
class Reply:
    """One scripted assistant answer."""

    content: str = "ok"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error: str = ""


@dataclass
class FakeVLLM:
    """Answers /v1/models, chat (plain and SSE), completions, embeddings and LoRA loading."""

    replies: list[Reply] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    tools_enabled: bool = True
    adapters: dict[str, str] = field(default_factory=lambda: {"pirate": "/lora/pirate"})

    def bodies(self, path: str) -> list[Any]:
        return [body for _, p, body in self.requests if p == path]

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        path = request.url.path
        if path == "/v1/models":
            return httpx.Response(200, json=self._models())
        if path == "/v1/load_lora_adapter":
            self.adapters[body["lora_name"]] = body["lora_path"]
            return httpx.Response(200, text="Success")
        if path == "/v1/embeddings":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [{"index": i, "object": "embedding", "embedding": [float(len(t)), 1.0, 0.0]}
                    for i, t in enumerate(inputs)]
            return httpx.Response(200, json={"model": "minilm", "data": data, "usage": USAGE})
        if path == "/v1/chat/completions":
            if body.get("tools") and not self.tools_enabled:
                return _error(400, '"auto" tool choice requires --enable-auto-tool-choice')
            if body.get("tools") and body.get("max_tokens") == 1 and len(body["tools"]) == 1 \
                    and body["tools"][0]["function"]["name"] == "probe":
                return httpx.Response(200, json=_chat_json(Reply(content="x"), body))
            reply = self.replies.pop(0) if self.replies else Reply()
            if reply.status != 200:
                return _error(reply.status, reply.error)
            if body.get("stream"):
                return _sse(_chat_chunks(reply, body))
            return httpx.Response(200, json=_chat_json(reply, body))
        if path == "/v1/completions":
            prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            reply = self.replies.pop(0) if self.replies else Reply()
            if body.get("stream"):
                chunks = [{"choices": [{"index": 0, "text": piece, "finish_reason": None}]}
                          for piece in _pieces(reply.content)]
                chunks.append({"choices": [], "usage": USAGE})
                return _sse(chunks)
            choices = [{"index": i, "text": f"{reply.content} {i}", "finish_reason": "stop"}
                       for i in range(len(prompts))]
            return httpx.Response(200, json={"model": body.get("model") or "smollm2",
                                             "choices": choices, "usage": USAGE})
        return httpx.Response(404, json={"detail": "Not Found"})

    def _models(self) -> dict[str, Any]:
        data = [{"id": "smollm2", "root": "/models/smollm2", "parent": None,
                 "max_model_len": 2048}]
        data += [{"id": name, "root": path, "parent": "smollm2", "max_model_len": None}
                 for name, path in self.adapters.items()]
        return {"object": "list", "data": data}


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "BadRequestError",
                                                  "param": None, "code": status}})


def _pieces(text: str) -> list[str]:
    return [text[i:i + 2] for i in range(0, len(text), 2)] or [""]


def _chat_json(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": f"chatcmpl-tool-{i}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for i, c in enumerate(reply.tool_calls)
        ]
    model = body.get("model") or "smollm2"
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
            "usage": USAGE}


def _chat_chunks(reply: Reply, body: dict[str, Any]) -> list[dict[str, Any]]:
    model = body.get("model") or "smollm2"
    chunks: list[dict[str, Any]] = [{"model": model, "choices": [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    chunks += [{"model": model, "choices": [
        {"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        for piece in _pieces(reply.content) if piece]
    for i, call in enumerate(reply.tool_calls):
        args = json.dumps(call["arguments"])
        chunks.append({"model": model, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": f"chatcmpl-tool-{i}", "type": "function",
             "function": {"name": call["name"], "arguments": ""}}]}, "finish_reason": None}]})
        chunks += [{"model": model, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "function": {"arguments": args[j:j + 5]}}]}, "finish_reason": None}]}
            for j in range(0, len(args), 5)]
    chunks.append({"model": model, "choices": [{"index": 0, "delta": {},
                   "finish_reason": "tool_calls" if reply.tool_calls else "stop"}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({"model": model, "choices": [], "usage": USAGE})
    return chunks


def _sse(chunks: list[dict[str, Any]]) -> httpx.Response:
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

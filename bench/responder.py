"""A zero-cost OpenAI-compatible responder on loopback, to measure clients and nothing else.

It has no model: every answer is a canned, vLLM-shaped body built once and cached. It exists only
so that the benchmark can isolate what a client costs per request and per streamed chunk; it is
never a stand-in for vLLM in tests.

Routes: ``POST /v1/chat/completions`` (JSON, or SSE when the body has ``"stream": true``),
``POST /v1/completions`` (same), ``GET /v1/models``, ``GET /health``. A streamed answer carries as
many content chunks as the request's ``max_tokens`` / ``max_completion_tokens`` asks for, then the
finish chunk, a usage chunk when ``stream_options.include_usage`` is set, and ``[DONE]``; events
are written back to back, one HTTP chunk each.

Run as ``python -m bench.responder``: prints the port on stdout, serves until stdin closes or
SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import stat
import sys
from collections.abc import Iterator

MODEL = "smollm2"
CREATED = 1_700_000_000
_MAX_TOKENS = re.compile(rb'"max_(?:completion_)?tokens"\s*:\s*(\d+)')
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_USAGE = re.compile(rb'"include_usage"\s*:\s*true')
_BLOCK = 512  # events per write of a long stream


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _response(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: " + content_type
            + b"\r\ncontent-length: " + str(len(body)).encode()
            + b"\r\nx-request-id: bench\r\n\r\n" + body)


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def chat_body(tokens: int) -> bytes:
    text = "".join(" tok" for _ in range(max(tokens, 1)))
    return _dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": CREATED, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                             "reasoning": None, "tool_calls": []},
                     "logprobs": None, "finish_reason": "length", "stop_reason": None}],
        "service_tier": None, "system_fingerprint": None, "usage": _usage(9, max(tokens, 1)),
        "prompt_logprobs": None, "kv_transfer_params": None,
    })


def completion_body(tokens: int) -> bytes:
    text = "".join(" tok" for _ in range(max(tokens, 1)))
    return _dumps({
        "id": "cmpl-bench", "object": "text_completion", "created": CREATED, "model": MODEL,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "length",
                     "stop_reason": None, "prompt_logprobs": None}],
        "service_tier": None, "system_fingerprint": None, "usage": _usage(2, max(tokens, 1)),
        "kv_transfer_params": None,
    })


def _event(obj: object) -> bytes:
    data = b"data: " + _dumps(obj) + b"\n\n"
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _chat_chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED,
            "model": MODEL, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}]}


def _completion_chunk(text: str, finish: str | None = None) -> dict[str, object]:
    return {"id": "cmpl-bench", "object": "text_completion", "created": CREATED, "model": MODEL,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish,
                         "stop_reason": None}]}


STREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
               b"transfer-encoding: chunked\r\nx-request-id: bench\r\n\r\n")
_DONE = b"%x\r\ndata: [DONE]\n\n\r\n" % len(b"data: [DONE]\n\n")


class StreamParts:
    """The pieces of one streamed answer: head, first event, one content event repeated, tail."""

    def __init__(self, chat: bool, tokens: int, usage: bool) -> None:
        if chat:
            self.first = _event(_chat_chunk({"role": "assistant", "content": ""}))
            self.token = _event(_chat_chunk({"content": " tok"}))
            last = _event(_chat_chunk({}, "length"))
        else:
            self.first = b""
            self.token = _event(_completion_chunk(" tok"))
            last = _event(_completion_chunk("", "length"))
        tail = [last]
        if usage:
            tail.append(_event({"id": "bench", "object": "chat.completion.chunk" if chat
                                else "text_completion", "created": CREATED, "model": MODEL,
                                "choices": [], "usage": _usage(9, tokens)}))
        tail.append(_DONE)
        tail.append(b"0\r\n\r\n")
        self.tail = b"".join(tail)
        self.tokens = tokens

    def blocks(self) -> Iterator[bytes]:
        yield STREAM_HEAD + self.first
        left = self.tokens
        while left > _BLOCK:
            yield self.token * _BLOCK
            left -= _BLOCK
        yield self.token * left + self.tail


MODELS = _dumps({"object": "list", "data": [{
    "id": MODEL, "object": "model", "created": CREATED, "owned_by": "vllm", "root": MODEL,
    "parent": None, "max_model_len": 2048, "permission": []}]})


class Responder(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection. No pipelining beyond what arrives in order."""

    cache: dict[tuple[bytes, bool, int, bool], bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pending: list[bytes] = []
        self.paused = False
        self.writer = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            lower = head.lower()
            at = lower.find(b"content-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at)
                length = int(lower[at + 15: stop if stop >= 0 else None])
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = self.buf[end + 4: total]
            self.buf = self.buf[total:]
            self.handle(head, body)

    def handle(self, head: bytes, body: bytes) -> None:
        line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        parts = line.split(b" ")
        method, path = parts[0], parts[1] if len(parts) > 1 else b"/"
        path = path.split(b"?")[0]
        if method == b"GET":
            if path.endswith(b"/models"):
                self.transport.write(_response("200 OK", MODELS))
            elif path in (b"/health", b"/ping"):
                self.transport.write(_response("200 OK", b""))
            else:
                self.transport.write(_response("404 Not Found", b'{"error":"not found"}'))
            return
        chat = path.endswith(b"/chat/completions")
        if not chat and not path.endswith(b"/completions"):
            self.transport.write(_response("404 Not Found", b'{"error":"not found"}'))
            return
        match = _MAX_TOKENS.search(body)
        tokens = int(match.group(1)) if match else 16
        stream = _STREAM.search(body) is not None
        usage = stream and _USAGE.search(body) is not None
        if stream and tokens > 4 * _BLOCK:
            self.write_stream(StreamParts(chat, tokens, usage))
            return
        key = (path, stream, tokens, usage)
        reply = self.cache.get(key)
        if reply is None:
            if stream:
                reply = b"".join(StreamParts(chat, tokens, usage).blocks())
            else:
                reply = _response("200 OK", chat_body(tokens) if chat else completion_body(tokens))
            self.cache[key] = reply
        self.transport.write(reply)

    # -- long streams: written block by block, honouring the transport's flow control -----------

    def write_stream(self, parts: StreamParts) -> None:
        self.writer = parts.blocks()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        while self.writer is not None and not self.paused:
            block = next(self.writer, None)
            if block is None:
                self.writer = None
                return
            self.transport.write(block)


async def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Responder, host, port, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    # Stop when the parent goes away (its end of our stdin pipe closes).
    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    if fd >= 0 and stat.S_ISFIFO(os.fstat(fd).st_mode):
        loop.add_reader(fd, lambda: done.set() if not os.read(fd, 1) else None)
    await done.wait()
    server.close()


def main() -> None:
    asyncio.run(serve(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0))


if __name__ == "__main__":
    main()

"""A fault-injecting HTTP/1.1 proxy for tests, in front of a real vLLM server.

The proxy listens on a loopback port and forwards every request to the real server, except that
the requests of the scripted routes (by default the two generation routes) take the next
:class:`Fault` of the script, in order. Once the script is used up, requests pass through
untouched. Every exchange is logged (route, request body, fault, status, the SSE events or body
bytes that reached the client), so a test can count attempts and compare what the client returned
with what the server actually sent.

It runs its own asyncio loop in a background thread, so sync and async tests use it alike::

    with FaultProxy(chat_server_url) as proxy:
        proxy.script(Fault.status(503), Fault.cut_after(2))
        client = VLLMClient(proxy.url, ...)

Why not an existing tool: toxiproxy works at the TCP level only (latency, bandwidth, resets)
and cannot answer 429 with ``Retry-After``, count SSE events, corrupt a JSON body or inject an
in-band ``{"error": ...}`` event; mitmproxy could, but is a heavy dependency with its own TLS
and process model, and pytest-httpserver/respx fake the server instead of fronting a real one.
This proxy is about 300 lines on asyncio and httpx (already a dependency).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

__all__ = ["GENERATION_PATHS", "Blackhole", "Exchange", "Fault", "FaultProxy"]

_UPSTREAM_TLS = ssl.create_default_context()
"""One default TLS context for every proxy's upstream client: building one loads the CA bundle,
~35 ms of CPU, which each of the fault matrix's ~440 cells paid twice (two proxies a cell)."""

GENERATION_PATHS = frozenset({"/v1/chat/completions", "/v1/completions"})

_HOP_HEADERS = frozenset({
    "connection", "keep-alive", "transfer-encoding", "content-length", "host",
    "accept-encoding", "content-encoding", "proxy-connection", "te", "upgrade",
})
_REASONS = {200: "OK", 408: "Request Timeout", 409: "Conflict", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout", 401: "Unauthorized"}
_HTML_PAGE = ("<html><head><title>{code} {reason}</title></head><body><center><h1>{code} "
              "{reason}</h1></center><hr><center>nginx</center></body></html>\n")


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour, applied to one request.

    Use the constructors: :meth:`reset`, :meth:`cut_after`, :meth:`status`,
    :meth:`delay_headers`, :meth:`delay_after`, :meth:`corrupt`, :meth:`split`,
    :meth:`inband_error`, :meth:`passthrough`. Refusing connections is not per request (a refused
    connection carries no request): see :meth:`FaultProxy.refuse_for`.
    """

    kind: str
    after: int = 0
    status_code: int = 0
    retry_after: str | None = None
    seconds: float = 0.0
    date: str | None = None
    """A ``Date`` header for :meth:`status` (a server clock that is not ours)."""

    @classmethod
    def passthrough(cls) -> Fault:
        """Forward this request untouched (a placeholder in a script)."""
        return cls("pass")

    @classmethod
    def reset(cls) -> Fault:
        """Read the request, then reset the connection (RST) before any response byte."""
        return cls("reset")

    @classmethod
    def cut_after(cls, events: int) -> Fault:
        """Forward, relay ``events`` SSE events (or half the body if not SSE), then drop the
        connection without finishing the response (the chunked body stays incomplete)."""
        return cls("cut", after=events)

    @classmethod
    def status(cls, code: int, retry_after: str | None = None) -> Fault:
        """Answer ``code`` with a vLLM-shaped error body (and ``Retry-After``), not forwarding."""
        return cls("status", status_code=code, retry_after=retry_after)

    @classmethod
    def status_dated(cls, code: int, retry_after: str, date: str) -> Fault:
        """Like :meth:`status`, with the server's own ``Date`` header (its clock, not ours)."""
        return cls("status", status_code=code, retry_after=retry_after, date=date)

    @classmethod
    def html(cls, code: int) -> Fault:
        """Answer ``code`` with a reverse proxy's HTML error page (nginx's 502/504), not
        forwarding; ``html(200)`` is a 200 with an HTML page (a captive portal, a wrong
        server)."""
        return cls("html", status_code=code)

    @classmethod
    def trickle(cls, seconds: float) -> Fault:
        """Forward, but write the response body one byte every ``seconds`` (slow loris): each
        read is fast, the whole body takes ``len * seconds``."""
        return cls("trickle", seconds=seconds)

    @classmethod
    def endless(cls, seconds: float = 0.05) -> Fault:
        """Answer 200 without forwarding and never finish: an SSE stream of real-looking
        chunks (or, for a non-streamed request, JSON whitespace), one every ``seconds``."""
        return cls("endless", seconds=seconds)

    @classmethod
    def huge(cls, size: int) -> Fault:
        """Answer 200 without forwarding with a ``size``-byte body (chunked, no
        ``Content-Length``: the client only finds out by reading)."""
        return cls("huge", after=size)

    @classmethod
    def delay_headers(cls, seconds: float) -> Fault:
        """Hold the response headers for ``seconds``, then drop the connection."""
        return cls("delay_headers", seconds=seconds)

    @classmethod
    def delay_after(cls, events: int, seconds: float) -> Fault:
        """Forward, relay ``events`` SSE events (or the headers if not SSE), stall ``seconds``,
        then drop the connection."""
        return cls("delay_after", after=events, seconds=seconds)

    @classmethod
    def corrupt(cls, after: int = 0) -> Fault:
        """Forward, but break the JSON: of SSE event number ``after``, or of the whole body."""
        return cls("corrupt", after=after)

    @classmethod
    def split(cls) -> Fault:
        """Forward, writing the response body one byte per write (every byte boundary)."""
        return cls("split")

    @classmethod
    def inband_error(cls, after: int, code: int = 500) -> Fault:
        """Forward, relay ``events`` events, then send vLLM's in-band error event and
        ``[DONE]``, as vLLM does when generation fails after the 200."""
        return cls("inband_error", after=after, status_code=code)

    def __str__(self) -> str:
        return self.kind


@dataclass(slots=True)
class Exchange:
    """One request the proxy received, and what it did with it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    fault: Fault | None
    started: float = field(default_factory=time.monotonic)
    status: int | None = None
    events: list[str] = field(default_factory=list)
    """The ``data:`` payloads of the SSE events that were written to the client."""
    content: bytes = b""
    """The (non-SSE) response body that was written to the client."""
    completed: bool = False
    """Whether the client was sent a complete response."""
    broke: str | None = None
    """What ended the exchange early, if anything did (the upstream send failed, the client
    hung up): a failed cell's message shows it."""

    def text(self) -> str:
        """The generated text the client was sent (all choices, in order)."""
        parts: list[str] = []
        payloads = ([json.loads(e) for e in self.events if e.startswith("{")] if self.events
                    else [json.loads(self.content)])
        for payload in payloads:
            for choice in payload.get("choices") or []:
                parts.append(choice.get("text") or (choice.get("delta") or {}).get("content")
                             or (choice.get("message") or {}).get("content") or "")
        return "".join(parts)


class FaultProxy:
    """The proxy (a context manager; :meth:`start`/:meth:`stop` also work)."""

    def __init__(self, upstream: str, *, paths: Iterable[str] = GENERATION_PATHS) -> None:
        self.upstream = upstream.rstrip("/")
        self.paths = frozenset(paths)
        self.exchanges: list[Exchange] = []
        self._script: list[Fault] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy",
                                        daemon=True)
        self._server: asyncio.Server | None = None
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- control (any thread) -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's base URL, to give to the client under test."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, *faults: Fault) -> None:
        """Replace the script: the next requests of the scripted routes take these faults."""
        with self._lock:
            self._script = list(faults)

    def reset_log(self) -> None:
        """Forget the logged exchanges."""
        with self._lock:
            self.exchanges.clear()

    def count(self, path: str | None = None) -> int:
        """How many requests arrived (of ``path``, default: of the scripted routes)."""
        with self._lock:
            return sum(1 for e in self.exchanges if (e.path == path if path else
                                                     e.path in self.paths))

    def attempts(self) -> list[Exchange]:
        """The exchanges of the scripted routes, in arrival order."""
        with self._lock:
            return [e for e in self.exchanges if e.path in self.paths]

    def refuse_for(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (``math.inf``: until :meth:`listen`): connecting is
        refused by the kernel (ECONNREFUSED), as with a server that is down."""
        self._run(self._close_listener())
        if math.isfinite(seconds):
            # The coroutine is made when the timer fires: one made now would never be
            # awaited if the proxy stopped first.
            self._loop.call_soon_threadsafe(lambda: self._loop.call_later(
                seconds, lambda: self._spawn(self._open_listener())))

    def listen(self) -> None:
        """Listen again after :meth:`refuse_for`."""
        self._run(self._open_listener())

    def start(self) -> FaultProxy:
        """Start the loop thread and listen on a free loopback port."""
        self._thread.start()
        self._run(self._open_listener())
        return self

    def stop(self) -> None:
        """Stop listening, abort every exchange in flight, and stop the thread."""
        if not self._thread.is_alive():
            return
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- loop side ------------------------------------------------------------------------------

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_listener(self) -> None:
        if self._server is not None:
            return
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(600, connect=5),
                                           verify=_UPSTREAM_TLS)
        self._server = await asyncio.start_server(self._on_connection, "127.0.0.1", self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    async def _on_connection(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mine: list[Exchange] = []  # this connection's exchanges
        try:
            while await self._one_request(reader, writer, mine):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                httpx.HTTPError) as exc:
            if mine and not mine[-1].completed:
                mine[-1].broke = repr(exc)
        except asyncio.CancelledError:  # stop(): asyncio's stream callback must not see it
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           mine: list[Exchange]) -> bool:
        """Serve one request; False when the connection must be closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        path = target.split("?", 1)[0]
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        with self._lock:
            fault = self._script.pop(0) if path in self.paths and self._script else None
            exchange = Exchange(method, path, headers, body, fault)
            self.exchanges.append(exchange)
        mine.append(exchange)
        kind = fault.kind if fault else "pass"
        if kind == "reset":
            _reset(writer)
            return False
        if kind == "status":
            assert fault is not None
            await self._answer_status(writer, exchange, fault)
            return True
        if kind == "delay_headers":
            assert fault is not None
            await asyncio.sleep(fault.seconds)
            return False
        if kind in ("html", "endless", "huge"):
            assert fault is not None
            stream = isinstance(body, dict) and bool(body.get("stream"))
            return await _ANSWERS[kind](writer, exchange, fault, stream)
        return await self._forward(writer, exchange, method, target, headers, raw, fault)

    async def _answer_status(self, writer: asyncio.StreamWriter, exchange: Exchange,
                             fault: Fault) -> None:
        code = fault.status_code
        payload = json.dumps({"error": {
            "message": f"injected {code} by the fault proxy", "type": _REASONS.get(code, "Error"),
            "param": None, "code": code}}).encode()
        extra = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
        if fault.date is not None:
            extra["date"] = fault.date
        exchange.status, exchange.content, exchange.completed = code, payload, True
        writer.write(_head(code, {"content-type": "application/json", **extra},
                           length=len(payload)) + payload)
        await writer.drain()

    async def _forward(self, writer: asyncio.StreamWriter, exchange: Exchange, method: str,
                       target: str, headers: dict[str, str], raw: bytes,
                       fault: Fault | None) -> bool:
        assert self._http is not None
        up_headers = {k: v for k, v in headers.items() if k not in _HOP_HEADERS}
        request = self._http.build_request(method, self.upstream + target, headers=up_headers,
                                           content=raw)
        response = await self._http.send(request, stream=True)
        try:
            exchange.status = response.status_code
            out_headers = {k: v for k, v in response.headers.items() if k not in _HOP_HEADERS}
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                return await self._relay_sse(writer, exchange, response, out_headers, fault)
            return await self._relay_body(writer, exchange, response, out_headers, fault)
        finally:
            await response.aclose()  # closing upstream early makes vLLM abort the request

    async def _relay_body(self, writer: asyncio.StreamWriter, exchange: Exchange,
                          response: httpx.Response, headers: dict[str, str],
                          fault: Fault | None) -> bool:
        content = await response.aread()
        kind = fault.kind if fault else "pass"
        if kind == "corrupt":
            content = content[: len(content) // 2]
        head = _head(response.status_code, headers, length=len(content))
        # What the client is sent is logged *before* it is written: the test thread reads the
        # log as soon as the client has its answer, which can be before this task resumes.
        if kind == "cut":
            exchange.content = content[: len(content) // 2]
            writer.write(head + exchange.content)
            await writer.drain()
            return False
        if kind == "delay_after":
            assert fault is not None
            writer.write(head)
            await writer.drain()
            await asyncio.sleep(fault.seconds)
            return False
        if kind == "trickle":
            assert fault is not None
            return await _trickle(writer, exchange, head, content, fault.seconds)
        exchange.content, exchange.completed = content, True
        if kind == "split":
            writer.write(head)
            for i in range(len(content)):
                writer.write(content[i:i + 1])
                await writer.drain()
        else:
            writer.write(head + content)
        await writer.drain()
        return True

    async def _relay_sse(self, writer: asyncio.StreamWriter, exchange: Exchange,
                         response: httpx.Response, headers: dict[str, str],
                         fault: Fault | None) -> bool:
        kind = fault.kind if fault else "pass"
        after = fault.after if fault else 0
        writer.write(_head(response.status_code, headers, length=None))
        await writer.drain()
        buffer = b""
        sent = 0
        async for data in response.aiter_raw():
            buffer += data
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                event += b"\n\n"
                if sent == after and kind in ("cut", "delay_after", "inband_error"):
                    return await self._end_sse(writer, exchange, fault)
                payload = event.decode().removeprefix("data: ").rstrip("\n")
                if kind == "corrupt" and sent == after:
                    event = event.replace(b"{", b"{,", 1)
                    payload = payload.replace("{", "{,", 1)
                exchange.events.append(payload)  # logged before the client can see it
                if kind == "trickle":
                    assert fault is not None
                    for i in range(len(event)):
                        await _chunk(writer, event[i:i + 1])
                        await asyncio.sleep(fault.seconds)
                elif kind == "split":
                    for i in range(len(event)):
                        await _chunk(writer, event[i:i + 1])
                else:
                    await _chunk(writer, event)
                sent += 1
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        exchange.completed = True
        return True

    async def _end_sse(self, writer: asyncio.StreamWriter, exchange: Exchange,
                       fault: Fault | None) -> bool:
        assert fault is not None
        if fault.kind == "delay_after":
            await asyncio.sleep(fault.seconds)
            return False
        if fault.kind == "inband_error":
            error = json.dumps({"error": {
                "message": "injected in-band error by the fault proxy",
                "type": "InternalServerError", "param": None, "code": fault.status_code}})
            for payload in (error, "[DONE]"):
                exchange.events.append(payload)
                await _chunk(writer, f"data: {payload}\n\n".encode())
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            exchange.completed = True
            return True
        return False  # "cut": the chunked body is never terminated


def _head(status: int, headers: dict[str, str], *, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"content-length: {length}" if length is not None
                 else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0) instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _trickle(writer: asyncio.StreamWriter, exchange: Exchange, head: bytes,
                   content: bytes, seconds: float) -> bool:
    writer.write(head)
    await writer.drain()
    for i in range(len(content)):
        exchange.content = content[: i + 1]
        writer.write(content[i:i + 1])
        await writer.drain()
        await asyncio.sleep(seconds)
    exchange.completed = True
    return True


async def _answer_html(writer: asyncio.StreamWriter, exchange: Exchange, fault: Fault,
                       stream: bool) -> bool:
    code = fault.status_code
    page = _HTML_PAGE.format(code=code, reason=_REASONS.get(code, "Error")).encode()
    exchange.status, exchange.content, exchange.completed = code, page, True
    writer.write(_head(code, {"content-type": "text/html"}, length=len(page)) + page)
    await writer.drain()
    return True


_ENDLESS_CHUNK = json.dumps({"id": "chatcmpl-endless", "object": "chat.completion.chunk",
                             "created": 0, "model": "smollm2", "choices": [{
                                 "index": 0, "delta": {"content": "."},
                                 "finish_reason": None}]})


async def _answer_endless(writer: asyncio.StreamWriter, exchange: Exchange, fault: Fault,
                          stream: bool) -> bool:
    exchange.status = 200
    kind = "text/event-stream" if stream else "application/json"
    writer.write(_head(200, {"content-type": kind}, length=None))
    await writer.drain()
    piece = f"data: {_ENDLESS_CHUNK}\n\n".encode() if stream else b" "
    if not stream:
        await _chunk(writer, b"{")
    while True:  # until the client hangs up (the write then fails) or the proxy stops
        if stream:
            exchange.events.append(_ENDLESS_CHUNK)
        await _chunk(writer, piece)
        await asyncio.sleep(fault.seconds)


async def _answer_huge(writer: asyncio.StreamWriter, exchange: Exchange, fault: Fault,
                       stream: bool) -> bool:
    exchange.status = 200
    kind = "text/event-stream" if stream else "application/json"
    writer.write(_head(200, {"content-type": kind}, length=None))
    await writer.drain()
    block = (f"data: {_ENDLESS_CHUNK}\n\n".encode() if stream
             else b'{"pad": "' + b"x" * 65536)
    sent = 0
    while sent < fault.after:
        await _chunk(writer, block)
        sent += len(block)
        if not stream:
            block = b"x" * 65536
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    exchange.completed = True
    return True


_ANSWERS = {"html": _answer_html, "endless": _answer_endless, "huge": _answer_huge}


class Blackhole:
    """A loopback port that never completes a TCP handshake (a black-holed address).

    A listening socket with a backlog of 0 whose accept queue is filled by a few connections
    that are never accepted: the kernel then drops further SYNs, so a client's connect waits
    for its connect timeout, as with a firewall that drops packets. Loopback only.
    """

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = int(self._listener.getsockname()[1])
        self._fillers: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)
        time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        for sock in (*self._fillers, self._listener):
            sock.close()

    def __enter__(self) -> Blackhole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

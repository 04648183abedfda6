"""A stream closed by one thread (or task) while another is reading its last chunks is recorded
exactly once, on the real server.

Each stream has a reader that iterates it to the end and a closer that calls ``close()`` as soon
as the reader has seen a chosen chunk: the first one (a cancel mid-stream) or the one carrying
the finish reason (the closer then races the reader's read of the usage chunk and ``[DONE]``).
For every stream the settle step must fire once, the reader must simply stop, and the client's
statistics must hold one record per stream: no double count, no lost one, no error.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from support.faultproxy import Fault, FaultProxy

from vllm_accel import AsyncVLLMClient, ChatCompletionChunk, VLLMClient

pytestmark = pytest.mark.live

STREAMS = 200
ASYNC_STREAMS = 60
WORKERS = 8
JOIN_TIMEOUT = 10.0  # a closed stream's reader ends in milliseconds; 10 s means it hangs
READ_TIMEOUT = 60.0  # longer than JOIN_TIMEOUT, so a hang is not ended by a read timeout
STALL = 30.0  # the proxy's stall after the first chunk: longer than JOIN_TIMEOUT
PARAMS: dict[str, Any] = {"max_tokens": 4, "temperature": 0.0}  # short: the race, not the text
MESSAGES = [{"role": "user", "content": "Count from one to ten."}]


def _counting(stream: Any) -> list[BaseException | None]:
    """Wrap the stream's settle callback (the one thing settling fires) to count its calls."""
    settles: list[BaseException | None] = []
    inner: Callable[[Any, BaseException | None], None] = stream._finish_cb

    def finish(state: Any, error: BaseException | None) -> None:
        settles.append(error)
        inner(state, error)

    stream._finish_cb = finish
    return settles


def _is_last(chunk: ChatCompletionChunk) -> bool:
    return any(c.finish_reason for c in chunk.choices)


def _race_one(client: VLLMClient, at_last: bool) -> tuple[int, list[BaseException]]:
    stream = client.stream_chat(MESSAGES, **PARAMS)
    settles = _counting(stream)
    seen = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for chunk in stream:
                if not at_last or _is_last(chunk):
                    seen.set()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            seen.set()

    stream.open()
    reader = threading.Thread(target=read)
    reader.start()
    seen.wait(READ_TIMEOUT)
    stream.close()
    reader.join(JOIN_TIMEOUT)
    assert not reader.is_alive(), (
        f"the reader is still inside the closed stream {JOIN_TIMEOUT} s after close():\n"
        + _stack_of(reader))
    return len(settles), errors


def _stack_of(thread: threading.Thread) -> str:
    """Where ``thread`` is blocked now (the diagnostic a hang needs)."""
    frame = sys._current_frames().get(thread.ident or -1)
    return "".join(traceback.format_stack(frame)) if frame is not None else "(no frame)"


def _check(snapshot: Any, counts: list[int], errors: list[BaseException], n: int) -> None:
    assert errors == []
    assert counts == [1] * n
    assert snapshot.total_requests == n
    assert snapshot.total_errors == 0
    records = [r for r in snapshot.recent if r.route == "/v1/chat/completions"]
    assert len(records) == n


def test_sync_close_races_the_last_chunk(chat_server_url: str) -> None:
    with VLLMClient(chat_server_url, timeout=READ_TIMEOUT) as client, \
            ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda i: _race_one(client, at_last=i % 2 == 1), range(STREAMS)))
        snapshot = client.stats()
    _check(snapshot, [n for n, _ in results], [e for _, es in results for e in es], STREAMS)
    cancelled = sum(r.cancelled for r in snapshot.recent)
    print(f"{STREAMS} streams: {cancelled} recorded as cancelled, "
          f"{STREAMS - cancelled} as complete")


def test_a_late_wake_up_never_reaches_the_next_request_on_the_connection(
        chat_server_url: str) -> None:
    # httpx closes a response itself when its body ends, in the reading thread, and the
    # connection goes back to the pool while the reader is still inside the stream's
    # iteration; a close() from another thread then wakes that reader (Stream._wake, the step
    # run when the iteration is busy). The wake-up must not shut down the socket, which the next
    # request may already be reading: one stream in 200 of the race above was cut that way.
    # One connection, so the next request surely takes the same socket.
    http = httpx.Client(timeout=READ_TIMEOUT, limits=httpx.Limits(max_connections=1))
    with http, VLLMClient(chat_server_url, http_client=http) as client:
        first = client.stream_chat(MESSAGES, **PARAMS).open()
        assert first.response is not None
        for _ in first.response.iter_bytes():  # the body to its end, as the reader reads it
            pass
        second = client.stream_chat(MESSAGES, **PARAMS).open()
        assert second.response is not None
        assert (second.response.extensions["network_stream"]
                is first.response.extensions["network_stream"])  # the same connection
        first._wake()  # the closer's wake-up, late: after the body's end
        chunks = list(second)  # would raise IncompleteStreamError: peer closed connection
        first.close()
    assert any(_is_last(chunk) for chunk in chunks)
    assert second.usage is not None


async def _arace_one(client: AsyncVLLMClient, at_last: bool) -> tuple[int, list[BaseException]]:
    stream = await client.stream_chat(MESSAGES, **PARAMS)
    settles = _counting(stream)
    seen = asyncio.Event()
    errors: list[BaseException] = []

    async def read() -> None:
        try:
            async for chunk in stream:
                if not at_last or _is_last(chunk):
                    seen.set()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            seen.set()

    reader = asyncio.create_task(read())
    await asyncio.wait_for(seen.wait(), 120)
    await stream.aclose()
    await asyncio.wait_for(reader, 120)
    return len(settles), errors


async def test_async_aclose_races_the_last_chunk(chat_server_url: str) -> None:
    async with AsyncVLLMClient(chat_server_url, timeout=READ_TIMEOUT) as client:
        limit = asyncio.Semaphore(WORKERS)

        async def one(i: int) -> tuple[int, list[BaseException]]:
            async with limit:
                return await _arace_one(client, at_last=i % 2 == 1)

        results = await asyncio.gather(*(one(i) for i in range(ASYNC_STREAMS)))
        snapshot = client.stats()
    _check(snapshot, [n for n, _ in results], [e for _, es in results for e in es],
           ASYNC_STREAMS)


@pytest.fixture
def stalling(chat_server_url: str) -> Iterator[FaultProxy]:
    """A proxy that relays the real server's first SSE event, then sends nothing for STALL s."""
    with FaultProxy(chat_server_url) as proxy:
        proxy.script(Fault.delay_after(1, STALL))
        yield proxy


def _check_cancelled_once(snapshot: Any, settles: list[BaseException | None],
                          errors: list[BaseException], proxy: FaultProxy) -> None:
    """One request, settled once as cancelled, with no error."""
    assert errors == []
    assert [type(e) for e in settles] == [GeneratorExit]
    assert snapshot.total_requests == 1
    assert snapshot.total_errors == 0
    assert [r.cancelled for r in snapshot.recent] == [True]
    assert proxy.count() == 1


def test_sync_close_wakes_a_reader_blocked_in_the_read(stalling: FaultProxy) -> None:
    """The deterministic form of the race above: the reader is blocked in the socket read
    (nothing arrives) when another thread calls ``close()``. Closing the socket under it did
    not wake it (Linux: ``close(fd)`` does not end a ``poll()`` on it); the reader stayed until
    the proxy gave up. ``close()`` now shuts the socket down and the reader ends at once,
    with no error, the stream recorded once, as cancelled."""
    with VLLMClient(stalling.url, timeout=READ_TIMEOUT) as client:
        stream = client.stream_chat(MESSAGES, **PARAMS)
        settles = _counting(stream)
        first, errors = threading.Event(), []

        def read() -> None:
            try:
                for _ in stream:
                    first.set()
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        assert first.wait(READ_TIMEOUT)
        stream.close()
        reader.join(JOIN_TIMEOUT)
        assert not reader.is_alive(), (
            f"the reader is still inside the closed stream {JOIN_TIMEOUT} s after close():\n"
            + _stack_of(reader))
        snapshot = client.stats()
    _check_cancelled_once(snapshot, settles, errors, stalling)


async def test_async_aclose_wakes_a_task_blocked_in_the_read(stalling: FaultProxy) -> None:
    """The async twin of the test above: ``aclose()`` from another task while the reader
    task awaits a read on which nothing arrives."""
    async with AsyncVLLMClient(stalling.url, timeout=READ_TIMEOUT) as client:
        stream = await client.stream_chat(MESSAGES, **PARAMS)
        settles = _counting(stream)
        first, errors = asyncio.Event(), []

        async def read() -> None:
            try:
                async for _ in stream:
                    first.set()
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        reader = asyncio.create_task(read())
        await asyncio.wait_for(first.wait(), READ_TIMEOUT)
        await stream.aclose()
        await asyncio.wait_for(reader, JOIN_TIMEOUT)
        snapshot = client.stats()
    _check_cancelled_once(snapshot, settles, errors, stalling)

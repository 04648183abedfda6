"""A stream settles (records its end) exactly once when ``close()`` races its reader.

The live proof, on the real server and across many streams, is
``tests/live/reliability/test_stream_settle.py``. This one pins the interleaving down without a
server (the bytes stand for the network, as in ``test_core_sse.py``): ``close()`` called from
another thread while the reader is blocked inside the stream's generator, once mid-stream and
once between the last chunk and ``[DONE]``. Before the settle was made atomic, ``close()`` raised
"generator already executing" here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from vllm_accel import ChatCompletionChunk
from vllm_accel._accumulate import ChatAccumulator
from vllm_accel._stream import ChatStream, StreamState

pytestmark = pytest.mark.unit

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}
CHUNK = (b'data: {"id": "c", "model": "smollm2", "object": "chat.completion.chunk", '
         b'"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n')


def _state() -> StreamState[ChatCompletionChunk, object]:
    return StreamState(ChatCompletionChunk.model_validate_json, ChatAccumulator(),
                       request_id="r")


@pytest.mark.parametrize("chunks_before_block", [1, 2])
def test_close_from_another_thread_while_the_reader_is_inside(chunks_before_block: int) -> None:
    """``close()`` while another thread is inside ``next()``: no "generator already
    executing" error, the reader just stops, and the stream is recorded once, as cancelled
    (2: the reader has had the last chunk and is waiting for ``[DONE]``)."""
    inside, release = threading.Event(), threading.Event()

    def body() -> Iterator[bytes]:
        for n in range(2):
            if n == chunks_before_block:
                inside.set()
                release.wait(10)  # the reader blocks here, inside the stream's generator
            yield CHUNK
        if chunks_before_block == 2:
            inside.set()
            release.wait(10)
        yield b"data: [DONE]\n\n"

    finished: list[BaseException | None] = []
    stream = ChatStream(lambda: httpx.Response(200, headers=SSE_HEADERS, content=body()),
                        _state(), lambda s, e: finished.append(e))
    got: list[object] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            got.extend(stream)
        except BaseException as exc:  # the test reports whatever escaped
            errors.append(exc)

    reader = threading.Thread(target=read)
    with stream:
        reader.start()
        assert inside.wait(10)
        stream.close()  # the reader is inside next(): its generator is executing
        release.set()
        reader.join(10)
    assert not reader.is_alive()
    assert errors == []
    assert len(finished) == 1
    assert isinstance(finished[0], GeneratorExit)  # closed before [DONE]: cancelled
    assert len(got) >= chunks_before_block
    stream.close()
    assert len(finished) == 1

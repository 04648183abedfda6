"""Waking a thread blocked reading a response, without closing the socket under it.

A sync stream closed by one thread while another reads it must not close the socket: on
Linux ``close(fd)`` does not wake a thread blocked in ``poll()``/``recv()`` on that fd (the
poll holds its own reference to the file, so not even a FIN is sent), and when the poll is
woken it looks the fd *number* up again, which the kernel may by then have given to another
connection opened by another thread. The reader then waits on a socket that is not its own
until its read timeout. httpcore 1.0.9 does exactly that when a response is closed from
another thread: ``HTTP11ConnectionByteStream.close()`` -> ``HTTP11Connection._response_closed()``
-> ``close()`` -> ``SyncStream.close()`` -> ``socket.close()`` (``httpcore/_sync/http11.py``
lines 238-258, ``httpcore/_backends/sync.py`` line 141; the read is ``sock.recv`` at line 128),
with no lock around it ("unilaterally closes the connection, and does not have any kind of
locking in place around it", line 255). A ``shutdown()`` wakes the reader (its read returns
end-of-file) and keeps the fd its own until the reader's own thread closes the response.

A wake-up must also never reach a connection that is no longer the stream's: httpx closes a
response itself when its body ends (``Response.iter_raw``), in the reading thread, and the
connection goes back to the pool, where another thread's request may take it while the reader
is still inside the stream's iteration. A closer that shut that socket down cut the other
request ("peer closed connection without sending complete message body"; seen once in 200
streams of ``test_stream_settle.py``). :class:`HandBack` reports that close to the stream, under
the stream's lock, so the wake-up knows the socket is gone from it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import httpx

__all__ = ["HandBack", "wake_reader"]


class HandBack(httpx.SyncByteStream):
    """A response's byte stream whose ``close()`` goes through ``on_close``.

    Whoever closes it (httpx at the body's end, or the stream), ``on_close`` closes ``inner``
    under the stream's lock.
    """

    def __init__(self, inner: httpx.SyncByteStream,
                 on_close: Callable[[httpx.SyncByteStream], None]) -> None:
        self._inner, self._on_close = inner, on_close

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        self._on_close(self._inner)


def wake_reader(response: httpx.Response) -> bool:
    """Shut ``response``'s socket down so a read blocked on it returns; True if one was found.

    The socket stays open (its fd is not freed): closing it is left to the reading thread.
    The server sees the connection end (vLLM aborts the generation). False when the
    transport exposes no socket (a mock or a custom transport): the caller closes instead.
    """
    stream = response.extensions.get("network_stream")
    get_info = getattr(stream, "get_extra_info", None)
    sock = get_info("socket") if callable(get_info) else None
    if not isinstance(sock, socket.socket):
        return False
    with contextlib.suppress(OSError):  # already shut down or closed: nothing to wake
        sock.shutdown(socket.SHUT_RDWR)
    return True

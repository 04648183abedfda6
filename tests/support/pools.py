"""Endpoint pools for the frameworks' live failover tests: one shared server, two URLs, one dead.

``http://127.0.0.1:PORT`` and ``http://localhost:PORT`` are two endpoints of the pool that reach
the same real server; the third is a free, closed port on 127.0.0.1 (connection refused). The
dead endpoint comes first, so the first request of a fresh pool meets it and fails over.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit


def dead_url() -> str:
    """A URL on 127.0.0.1 that refuses connections (a free port nobody listens on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def pool_urls(server_url: str) -> list[str]:
    """``[dead, 127.0.0.1:PORT, localhost:PORT]`` for the server at ``server_url``."""
    port = urlsplit(server_url).port
    return [dead_url(), f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


def assert_failed_over(client: Any, dead: str, answered: int) -> None:
    """The dead endpoint failed, the live ones answered ``answered`` requests between them."""
    stats = client.pool.stats()
    assert stats[dead].last_error is not None
    assert "Connect" in stats[dead].last_error
    live = [s for name, s in stats.items() if name != dead]
    assert sum(s.requests.total_requests - s.requests.total_errors for s in live) >= answered

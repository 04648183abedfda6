"""An httpx transport for unit tests that proves no request was sent."""

from __future__ import annotations

import httpx

__all__ = ["NoRequests"]


class NoRequests(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A transport that counts requests; every one fails (none may be sent)."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        raise httpx.ConnectError("no request may be sent", request=request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self.handle_request(request)

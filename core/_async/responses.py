"""The OpenAI Responses API: create, stream, retrieve and cancel responses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import APIConnectionError, NotFoundError, VLLMError
from ._transport import AsyncTransport

if TYPE_CHECKING:  # imported by the methods that need them (import cost)
    from .._responses import Response
    from .._responses_stream import AsyncResponseStream

__all__ = ["AsyncResponses"]


class AsyncResponses(AsyncTransport):
    """``create_response``, ``stream_response``, ``get_response``, ``cancel_response``."""

    async def create_response(self, input: Any, *, model: str | None = None,
                              **params: Any) -> Response:
        """``POST /v1/responses`` (the OpenAI Responses API); ``.output_text`` is the text.

        Args:
            input: a string, or a list of input items (messages with a ``role``, or items with
                a ``type``).
            model: a served model or LoRA adapter name (default: the client's).
            **params: typed :class:`ResponseParams` fields (``instructions``,
                ``max_output_tokens``, ``store``, ``background``, ``previous_response_id``,
                vLLM's sampling extras, ...); ``extra_body`` for anything else.

        Raises:
            InvalidRequestError: a parameter is invalid (nothing was sent).
            APIError: the request failed (see the error tree).
        """
        from .._responses import Response

        call = self._response_call(input, model, params, stream=False)
        return self._parse(call, await self._send(call), Response)

    def stream_response(self, input: Any, *, model: str | None = None,
                        **params: Any) -> AsyncResponseStream:
        """Streamed ``POST /v1/responses``: a context manager iterating typed events.

        Leaving the ``with`` block early closes the HTTP response, and vLLM aborts the
        generation; ``final()`` gives the :class:`Response`, ``text_deltas()`` the text.
        """
        from .._responses_stream import AsyncResponseStream

        call = self._response_call(input, model, params, stream=True)
        return AsyncResponseStream(lambda: self._send(call), self._response_state(call),
                                   self._stream_finish(call))

    async def get_response(self, response_id: str) -> Response:
        """``GET /v1/responses/{id}``: a stored response.

        The server must store responses (``VLLM_ENABLE_RESPONSES_API_STORE=1``, which the
        embedded chat server sets); otherwise every id is a 404. With a pool, the endpoints
        are asked in turn until one has it.

        Raises:
            NotFoundError: no such response (or the server does not store responses).
        """
        from .._responses import Response

        if self.pool is not None:
            return await self._response_on_pool(response_id, "")
        call = self._stored_response_call("GET", response_id)
        return self._parse(call, await self._send(call), Response)

    async def cancel_response(self, response_id: str) -> Response:
        """``POST /v1/responses/{id}/cancel``: stop a ``background=True`` response.

        Returns the response with ``status="cancelled"``.

        Raises:
            BadRequestError: the response was not a background one.
            NotFoundError: no such response.
        """
        from .._responses import Response

        if self.pool is not None:
            return await self._response_on_pool(response_id, "/cancel")
        call = self._stored_response_call("POST", response_id, "/cancel")
        return self._parse(call, await self._send(call), Response)

    async def _response_on_pool(self, response_id: str, action: str) -> Response:
        """A stored response lives on the endpoint that made it: ask each until one has it."""
        assert self.pool is not None
        causes: dict[str, VLLMError] = {}
        for state in self.pool.endpoints:
            child = self._on(state)
            method = child.cancel_response if action else child.get_response
            try:
                return await method(response_id)
            except (NotFoundError, APIConnectionError) as exc:
                causes[state.name] = exc
        raise self._response_missing(response_id, causes)

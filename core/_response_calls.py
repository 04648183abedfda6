"""Request building and answer handling of the Responses API and the batch-chat route.

A mixin of :class:`~vllm_accel._base.BaseClient` (no I/O): the twins' methods build a
:class:`~vllm_accel._call.Call` here and send it through their one send loop (retries,
statistics, pool routing, typed errors). The payload modules are imported on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._errors import AllEndpointsFailedError, NotFoundError, VLLMError

if TYPE_CHECKING:

    from ._batch import BatchItem, Plan
    from ._call import Call
    from ._client_half import ClientHalf
    from ._responses import ResponseEvent
    from ._stream import StreamState

__all__ = ["ResponseCalls"]

logger = logging.getLogger("vllm_accel")


class ResponseCalls:
    """The pure half of the Responses API methods and of the one-request chat batch."""

    def _response_call(self: ClientHalf, input: Any, model: str | None,
                       params: Mapping[str, Any], *, stream: bool) -> Call:
        from ._responses import response_payload

        m = self._model(model)
        return self._call("POST", "/v1/responses", model=m, stream=stream,
                          json=response_payload(input, m, params, stream=stream))

    def _response_state(self, call: Call) -> StreamState[ResponseEvent, Any]:
        from ._responses import parse_event
        from ._responses_stream import ResponseAccumulator, ResponseStreamState

        call.state = ResponseStreamState(parse_event, ResponseAccumulator(),
                                         request_id=call.request_id)
        return call.state

    def _stored_response_call(self: ClientHalf, method: str, response_id: str,
                              action: str = "") -> Call:
        from ._responses import response_path

        call = self._call(method, response_path(response_id, action))
        call.route = "/v1/responses/{id}" + action  # one statistics group, not one per id
        return call

    def _batch_chat_call(self: ClientHalf, plan: Plan, model: str | None,
                         params: Mapping[str, Any]) -> Call:
        from ._params import batch_chat_payload

        m = self._model(model)
        return self._call("POST", "/v1/chat/completions/batch", model=m,
                          json=batch_chat_payload(plan.conversations(), m, params))

    def _batch_failed(self: ClientHalf, plan: Plan, error: VLLMError,
                      latency: float) -> list[BatchItem] | None:
        """After the one-request batch failed: None to go item by item, else every item's error.

        A missing batch-chat route is remembered for this server; one bad prompt (400/422)
        fails the whole request, so it goes item by item; any other failure (after the
        retries) is every item's failure.
        """
        from . import _batch

        if plan.chat and _batch.route_missing(error):
            self._no_batch_chat.add(self.base_url)
            logger.info("%s has no /v1/chat/completions/batch (%s): chat batches fan out",
                        self.base_url, error.status_code)
            return None
        return None if _batch.splits_on(error) else plan.items_failed(error, latency)

    def _response_missing(self, response_id: str, causes: dict[str, VLLMError]) -> VLLMError:
        """The error when no endpoint of the pool had stored response ``response_id``."""
        if all(isinstance(e, NotFoundError) for e in causes.values()):
            return NotFoundError(f"response {response_id!r} is stored on no endpoint of the pool",
                                 status_code=404)
        return AllEndpointsFailedError(
            f"response {response_id!r}: no endpoint had it, some could not be asked",
            causes=causes)

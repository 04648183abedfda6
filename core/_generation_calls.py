"""Request building of the generation, embedding and tokenizer routes (no I/O).

A mixin of :class:`~vllm_accel._base.BaseClient`, like ``_pooling_calls`` and
``_response_calls``: the twins' methods build a :class:`~vllm_accel._call.Call` here and send
it through their one send loop. The payload module is imported on first use (import cost).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._errors import InvalidRequestError
from ._limits import split_limits

if TYPE_CHECKING:

    from ._call import Call
    from ._client_half import ClientHalf

__all__ = ["GenerationCalls"]


@functools.cache
def _params() -> Any:
    """The request-parameter module, imported on first use (it is costly to import)."""
    from . import _params as module

    return module


class GenerationCalls:
    """The pure half of ``chat``, ``complete``, ``embed``, ``tokenize`` and ``detokenize``."""

    def _chat_call(self: ClientHalf, messages: Any, model: str | None, params: Mapping[str, Any],
                   *, stream: bool) -> Call:
        m, (params, limits) = self._model(model), split_limits(params)
        return self._call("POST", "/v1/chat/completions", model=m, stream=stream,
                          json=_params().chat_payload(messages, m, params, stream=stream),
                          **limits)

    def _completion_call(self: ClientHalf, prompt: Any, model: str | None,
                         params: Mapping[str, Any], *, stream: bool) -> Call:
        m, (params, limits) = self._model(model), split_limits(params)
        return self._call("POST", "/v1/completions", model=m, stream=stream,
                          json=_params().completion_payload(prompt, m, params, stream=stream),
                          **limits)

    def _embed_call(self: ClientHalf, input: Any, model: str | None, params: Mapping[str, Any],
                    messages: Any = None) -> Call:
        m, (params, limits) = self._model(model), split_limits(params)
        return self._call("POST", "/v1/embeddings", model=m,
                          json=_params().embedding_payload(input, m, params, messages), **limits)

    def _tokenize_call(self: ClientHalf, prompt: str | None, messages: Any, model: str | None,
                       extra: dict[str, Any]) -> Call:
        if (prompt is None) == (messages is None):
            raise InvalidRequestError("pass exactly one of prompt or messages")
        body: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
        body["prompt" if prompt is not None else "messages"] = (
            prompt if prompt is not None
            else _params().chat_payload(messages, None, {}, stream=False)["messages"]
        )
        m = self._model(model)
        if m:
            body["model"] = m
        return self._call("POST", "/tokenize", json=body, model=m)

    def _detokenize_call(self: ClientHalf, tokens: list[int], model: str | None) -> Call:
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise InvalidRequestError("tokens must be a list of ints")
        m = self._model(model)
        body: dict[str, Any] = {"tokens": tokens, **({"model": m} if m else {})}
        return self._call("POST", "/detokenize", json=body, model=m)

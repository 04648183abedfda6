"""Request building of the generation, embedding and tokenizer routes (no I/O).

A mixin of :class:`~vllm_accel._base.BaseClient`, like ``_pooling_calls`` and
``_response_calls``: the twins' methods build a :class:`~vllm_accel._call.Call` here and send
it through their one send loop. The payload module is imported on first use (import cost).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import InvalidRequestError
from ._limits import split_limits

if TYPE_CHECKING:
    import httpx

    from ._call import Call
    from ._secret import SecretLike

__all__ = ["GenerationCalls"]


def _params() -> Any:
    """The request-parameter module, imported on first use (it is costly to import)."""
    from . import _params as module

    return module


class _Client(Protocol):
    """What this mixin needs of :class:`~vllm_accel._base.BaseClient`."""

    def _model(self, model: str | None) -> str | None: ...

    def _call(self, method: str, path_or_url: str, *, json: Any = None,
              model: str | None = None, stream: bool = False, retryable: bool = True,
              api_key: str | SecretLike | None = None,
              timeout: float | httpx.Timeout | None = None, max_retries: int | None = None,
              deadline: float | None = None, max_response_bytes: int | None = None) -> Call: ...


class GenerationCalls:
    """The pure half of ``chat``, ``complete``, ``embed``, ``tokenize`` and ``detokenize``."""

    def _chat_call(self: _Client, messages: Any, model: str | None, params: Mapping[str, Any],
                   *, stream: bool) -> Call:
        m, (params, limits) = self._model(model), split_limits(params)
        return self._call("POST", "/v1/chat/completions", model=m, stream=stream,
                          json=_params().chat_payload(messages, m, params, stream=stream),
                          **limits)

    def _completion_call(self: _Client, prompt: Any, model: str | None, params: Mapping[str, Any],
                         *, stream: bool) -> Call:
        m, (params, limits) = self._model(model), split_limits(params)
        return self._call("POST", "/v1/completions", model=m, stream=stream,
                          json=_params().completion_payload(prompt, m, params, stream=stream),
                          **limits)

    def _embed_call(self: _Client, input: Any, model: str | None, params: Mapping[str, Any],
                    messages: Any = None) -> Call:
        m, (params, limits) = self._model(model), split_limits(params)
        return self._call("POST", "/v1/embeddings", model=m,
                          json=_params().embedding_payload(input, m, params, messages), **limits)

    def _tokenize_call(self: _Client, prompt: str | None, messages: Any, model: str | None,
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

    def _detokenize_call(self: _Client, tokens: list[int], model: str | None) -> Call:
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise InvalidRequestError("tokens must be a list of ints")
        m = self._model(model)
        body: dict[str, Any] = {"tokens": tokens, **({"model": m} if m else {})}
        return self._call("POST", "/detokenize", json=body, model=m)

# Generated from core/_async/generation.py by tests/support/generate_sync.py
# (make generate); do not edit.
"""Generation: chat, completions (plain and streamed) and embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._call import chat_state, completion_state
from ._transport import Transport

if TYPE_CHECKING:  # imported by the methods that need them (import cost)
    from .._models import ChatCompletion, Completion, EmbeddingResponse
    from .._stream import ChatStream, CompletionStream

__all__ = ["Generation"]


class Generation(Transport):
    """``chat``, ``stream_chat``, ``complete``, ``stream_generation``, ``embed``."""

    def chat(self, messages: Any, *, model: str | None = None,
                   **params: Any) -> ChatCompletion:
        """``POST /v1/chat/completions``.

        Args:
            messages: a list of ``{"role", "content", ...}`` dicts, or one user message string.
            model: a served model or LoRA adapter name (default: the client's).
            **params: typed :class:`ChatParams` fields; ``extra_body`` for anything else.

        Raises:
            InvalidRequestError: a parameter is invalid (nothing was sent).
            APIError: the request failed (see the error tree).
        """
        from .._models import ChatCompletion

        call = self._chat_call(messages, model, params, stream=False)
        return self._parse(call, self._send(call), ChatCompletion)

    def stream_chat(self, messages: Any, *, model: str | None = None,
                    **params: Any) -> ChatStream:
        """Streamed ``POST /v1/chat/completions``; use as a context manager and iterate chunks.

        Usage is requested by default (``stream_options.include_usage``).
        """
        from .._stream import ChatStream

        call = self._chat_call(messages, model, params, stream=True)
        return ChatStream(lambda: self._send(call), chat_state(call),
                               self._stream_finish(call))

    def complete(self, prompt: Any, *, model: str | None = None, **params: Any) -> Completion:
        """``POST /v1/completions`` (``prompt`` may be a list: one choice per prompt and sample).

        Args:
            prompt: a string, a list of strings, a token-id list, or a list of token-id lists.
            model: a served model or LoRA adapter name.
            **params: typed :class:`CompletionParams` fields; ``extra_body`` for anything else.
        """
        from .._models import Completion

        call = self._completion_call(prompt, model, params, stream=False)
        return self._parse(call, self._send(call), Completion)

    def stream_generation(self, prompt: Any, *, model: str | None = None,
                          **params: Any) -> CompletionStream:
        """Streamed ``POST /v1/completions``; iterate ``CompletionChunk`` or ``text_deltas()``."""
        from .._stream import CompletionStream

        call = self._completion_call(prompt, model, params, stream=True)
        return CompletionStream(lambda: self._send(call), completion_state(call),
                                     self._stream_finish(call))

    def embed(self, input: Any, *, model: str | None = None,
                    **params: Any) -> EmbeddingResponse:
        """``POST /v1/embeddings`` (one request for a whole list; ``.vectors()`` keeps order)."""
        from .._models import EmbeddingResponse

        call = self._embed_call(input, model, params)
        return self._parse(call, self._send(call), EmbeddingResponse)

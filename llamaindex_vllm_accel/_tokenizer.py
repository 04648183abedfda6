"""A LlamaIndex tokenizer that counts with the served model's own tokenizer (``/tokenize``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vllm_accel import VLLMClient

__all__ = ["ServerTokenizer"]


class ServerTokenizer:
    """``str -> list[int]`` through ``POST /tokenize``: what LlamaIndex calls a tokenizer.

    ``PromptHelper``, ``ChatMemoryBuffer``, ``TokenCounter`` and ``Settings.tokenizer`` take any
    callable returning the tokens of a text; this one returns the ids the server would feed its
    model (no special tokens: LlamaIndex counts pieces of a prompt, not whole prompts).
    Identical texts are counted once (the last 1,024 are remembered).
    """

    def __init__(self, client: VLLMClient, model: str | None) -> None:
        self._client = client
        self._model = model
        self._cache: dict[str, list[int]] = {}

    def __call__(self, text: str) -> list[int]:
        """The token ids of ``text``."""
        tokens = self._cache.get(text)
        if tokens is None:
            response = self._client.tokenize(text, model=self._model, add_special_tokens=False)
            tokens = list(response.tokens)
            if len(self._cache) >= 1024:
                self._cache.pop(next(iter(self._cache)))
            self._cache[text] = tokens
        return tokens

    def encode(self, text: str, *args: Any, **kwargs: Any) -> list[int]:
        """The ``Tokenizer`` protocol of ``llama_index.core.utils``."""
        return self(text)

    def __repr__(self) -> str:
        return f"ServerTokenizer(model={self._model!r})"

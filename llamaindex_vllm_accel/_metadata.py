"""Server-derived metadata of the LlamaIndex ``VLLM``: context window, tools, tokenizer."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import LLMMetadata
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUTS

from vllm_accel._integration import FACTS

from ._connection import safe_url

if TYPE_CHECKING:
    from vllm_accel import VLLMClient

__all__ = ["MetadataMixin"]


class MetadataMixin:
    """What the server tells about the model, asked once per server (shared server facts)."""

    if TYPE_CHECKING:
        adapter: str | None
        model: str | None
        base_url: str | None
        context_window: int | None
        is_function_calling: bool | None
        max_tokens: int | None
        temperature: float | None

        @property
        def client(self) -> VLLMClient: ...
        @property
        def _server(self) -> str: ...

        def _ensure_adapter(self) -> None: ...
        @classmethod
        def class_name(cls) -> str: ...

    def _served_name(self) -> str:
        """The name requests go to: the adapter, the model, or the server's first model."""
        name = self.adapter or self.model
        if name:
            return name
        self._ensure_adapter()
        bases = FACTS.models(self.client, self._server).base_models()
        if not bases:
            raise ValueError("the vLLM server serves no model")
        return bases[0].id

    def _server_context_window(self) -> int:
        self._ensure_adapter()
        name = self._served_name()
        max_len = FACTS.max_model_len(self.client, self._server, name)
        if max_len is None:
            raise ValueError(f"the server reports no max_model_len for {name!r}")
        return max_len

    def _server_accepts_tools(self) -> bool:
        return FACTS.accepts_tools(self.client, self._server, self.adapter or self.model)

    @property
    def tokenizer(self) -> Callable[[str], list[int]]:
        """A LlamaIndex tokenizer counting with the served model's own ``/tokenize``.

        Pass it where LlamaIndex counts tokens: ``Settings.tokenizer = llm.tokenizer``,
        ``ChatMemoryBuffer.from_defaults(llm=llm, tokenizer_fn=llm.tokenizer)``,
        ``PromptHelper.from_llm_metadata(llm.metadata, tokenizer=llm.tokenizer)``.
        """
        from ._tokenizer import ServerTokenizer

        return ServerTokenizer(self.client, self.adapter or self.model)

    @property
    def metadata(self) -> LLMMetadata:
        """LLM metadata from the server (looked up once): context window, tools, model name."""
        try:
            context_window = self.context_window or self._server_context_window()
            function_calling = (
                self.is_function_calling
                if self.is_function_calling is not None
                else self._server_accepts_tools()
            )
            model_name = self._served_name()
        except Exception as exc:  # the server is not reachable (yet): say so, don't cache
            warnings.warn(
                f"vLLM server metadata unavailable ({exc}); using LlamaIndex defaults",
                RuntimeWarning,
                stacklevel=2,
            )
            context_window = self.context_window or DEFAULT_CONTEXT_WINDOW
            function_calling = (
                bool(FACTS.cached_tools(self._server, self.adapter or self.model))
                if self.is_function_calling is None
                else self.is_function_calling
            )
            model_name = self.adapter or self.model or "unknown"
        return LLMMetadata(
            context_window=context_window,
            num_output=self.max_tokens or DEFAULT_NUM_OUTPUTS,
            is_chat_model=True,
            is_function_calling_model=function_calling,
            model_name=model_name,
        )

    def to_payload(self) -> dict[str, Any]:
        """What events and callbacks show of this LLM: no credentials and no network calls."""
        models = FACTS.cached_models(self._server)
        model_name = self.adapter or self.model
        if model_name is None and models is not None and models.base_models():
            model_name = models.base_models()[0].id
        return {
            "class_name": self.class_name(),
            "model_name": model_name,
            "adapter": self.adapter,
            "base_url": safe_url(self.base_url),
            "context_window": self.context_window,
            "num_output": self.max_tokens or DEFAULT_NUM_OUTPUTS,
            "is_chat_model": True,
            "is_function_calling_model": self.is_function_calling
            if self.is_function_calling is not None
            else FACTS.cached_tools(self._server, self.adapter or self.model),
            "temperature": self.temperature,
        }

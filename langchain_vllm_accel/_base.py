"""What `ChatVLLM` and `VLLM` share (the connection fields are ``_connection.VLLMConnection``).

Typed vLLM sampling fields, request-parameter merging, LoRA adapter selection and the
LangChain plumbing (serialization, LangSmith parameters) of the two language models. Clients,
adapters and server facts come from the shared integration idiom, ``vllm_accel._integration``.

The core client is imported lazily, on the first request, so ``import langchain_vllm_accel``
stays cheap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from vllm_accel._integration import (
    ADAPTERS,
    NOT_SENT,
    request_fields,
)

from ._connection import VLLMConnection
from ._convert import merge_extra_body

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from langchain_core.language_models.base import LangSmithParams


# Per-call values replace (rather than merge into) the defaults for these dict-valued fields:
# merging two constraints would produce a request vLLM rejects.
_REPLACED_DICTS = frozenset({"response_format", "structured_outputs", "tool_choice"})


class VLLMSampling(VLLMConnection):
    """What the chat and completion models share: typed sampling fields, LoRA selection, plumbing.

    Every field a subclass declares is a request field unless marked ``NOT_SENT``; subclasses
    set ``_ls_model_type`` and their own ``get_lc_namespace``.
    """

    _ls_model_type: ClassVar[Literal["chat", "llm"]]
    if TYPE_CHECKING:  # a field of LangChain's BaseLanguageModel
        custom_get_token_ids: Callable[[str], list[int]] | None

    adapter: Annotated[str | None, NOT_SENT] = Field(default=None, alias="lora_adapter")
    """LoRA adapter to use (sent as the request ``model``); per call: ``adapter=`` or ``model=``."""
    adapter_path: Annotated[str | None, NOT_SENT] = None
    """Folder of ``adapter`` on the server; when set, the adapter is loaded on first use."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    """vLLM: consider only the k most likely tokens (``-1``/``0`` = off)."""
    min_p: float | None = None
    """vLLM: minimum probability of a token relative to the most likely one."""
    repetition_penalty: float | None = None
    """vLLM: > 1 discourages repeating prompt and generated tokens."""
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    n: int | None = None
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    """Stop strings (vLLM accepts at most 4)."""
    stop_token_ids: list[int] | None = None
    ignore_eos: bool | None = None
    min_tokens: int | None = None
    include_stop_str_in_output: bool | None = None
    skip_special_tokens: bool | None = None
    logit_bias: dict[str, float] | None = None
    priority: int | None = None
    """vLLM: scheduling priority (needs ``--scheduling-policy priority``)."""
    truncate_prompt_tokens: int | None = None
    structured_outputs: dict[str, Any] | None = None
    """vLLM: a constraint (``json``, ``regex``, ``choice``, ``grammar``, ...) for every request."""
    model_kwargs: Annotated[dict[str, Any], NOT_SENT] = Field(default_factory=dict)
    """Other request fields known to the core client, sent with every request."""
    extra_body: Annotated[dict[str, Any] | None, NOT_SENT] = None
    """Raw fields merged into the JSON body last; per-call ``extra_body`` is deep-merged in."""
    streaming: Annotated[bool, NOT_SENT] = False
    """Stream internally even for ``invoke`` (callbacks then see every token)."""

    # ------------------------------------------------------------------ LangChain plumbing

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Instances serialize with ``dumpd`` (the API key as a secret reference)."""
        return True

    @property
    def lc_secrets(self) -> dict[str, str]:
        """The API key is serialized as a reference to ``VLLM_API_KEY``."""
        return {"api_key": "VLLM_API_KEY"}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        from vllm_accel import redact_url

        return {
            "model": self.model,
            "adapter": self.adapter,
            "base_url": redact_url(self.base_url) if self.base_url else None,
            "endpoints": (redact_url(self._client_settings().server)
                          if self.endpoints is not None else None),
            **self._default_params,
        }

    def to_json(self) -> Any:
        """LangChain's serialized form, with credentials in ``base_url`` masked."""
        from vllm_accel import redact_url

        data = super().to_json()  # type: ignore[misc]  # the LangChain class it is mixed into
        kwargs = data.get("kwargs")
        if isinstance(kwargs, dict) and isinstance(kwargs.get("base_url"), str):
            kwargs["base_url"] = redact_url(kwargs["base_url"])
        return data

    def __repr_args__(self) -> Any:
        from vllm_accel import redact_url

        for name, value in super().__repr_args__():
            yield name, (redact_url(value) if name == "base_url" and isinstance(value, str)
                         else value)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        from langchain_core.language_models.base import LangSmithParams

        params = LangSmithParams(
            ls_provider="vllm",
            ls_model_name=self._ls_model_name(kwargs),
            ls_model_type=self._ls_model_type,
        )
        temperature = kwargs.get("temperature", self.temperature)
        if isinstance(temperature, int | float):
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if isinstance(max_tokens, int):
            params["ls_max_tokens"] = max_tokens
        if stop := stop or self.stop:
            params["ls_stop"] = stop
        return params

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` from the served model's own tokenizer (``/tokenize``)."""
        if self.custom_get_token_ids is not None:
            return self.custom_get_token_ids(text)
        from ._errors import map_errors

        with map_errors():
            return list(self.client.tokenize(text, model=self.adapter or self.model).tokens)

    async def aget_num_tokens(self, text: str) -> int:
        """Async ``get_num_tokens``: tokens of ``text``, counted by the server."""
        if self.custom_get_token_ids is not None:
            return len(self.custom_get_token_ids(text))
        from ._errors import map_errors

        with map_errors():
            response = await self.async_client.tokenize(text, model=self.adapter or self.model)
        return response.count

    # ------------------------------------------------------------------ requests

    def _param_field_names(self) -> tuple[str, ...]:
        """Every request field of this model class: its own declared fields (once per class)."""
        from langchain_core.language_models import BaseChatModel, BaseLLM

        return request_fields(type(self), VLLMConnection, BaseChatModel, BaseLLM)

    @property
    def _default_params(self) -> dict[str, Any]:
        """The request fields set on this instance (``None`` = server default, not sent)."""
        own = self.__dict__  # pydantic keeps field values here: no getattr per field
        params = {name: own[name] for name in self._param_field_names()
                  if own.get(name) is not None}
        if not params.get("stop"):
            params.pop("stop", None)
        params.update(self.model_kwargs)
        return params

    def _resolve_model(self, kwargs: dict[str, Any]) -> str | None:
        """Pop ``adapter``/``model`` from call kwargs; adapter > model > own adapter > own model."""
        adapter = kwargs.pop("adapter", None) or kwargs.pop("lora_adapter", None)
        model = kwargs.pop("model", None) or kwargs.pop("model_name", None)
        return adapter or model or self.adapter or self.model

    def _ls_model_name(self, kwargs: Mapping[str, Any]) -> str:
        for key in ("adapter", "lora_adapter", "model", "model_name"):
            value = kwargs.get(key)
            if isinstance(value, str) and value:
                return value
        return self.adapter or self.model or ""

    def _request(
        self, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any]]:
        """The request ``model`` and parameters: defaults deep-merged with per-call values.

        Per-call values win; dict-valued fields (``chat_template_kwargs``, ``extra_body``, ...)
        merge key by key, except constraints (``response_format``, ``structured_outputs``,
        ``tool_choice``), which a per-call value replaces.
        """
        kwargs.pop("stream", None)  # set by LangChain's streaming path; the route decides
        model = self._resolve_model(kwargs)
        params = self._default_params
        extra_body = merge_extra_body(
            self.extra_body, params.pop("extra_body", None), kwargs.pop("extra_body", None)
        )
        for key, value in kwargs.items():
            old = params.get(key)
            if key not in _REPLACED_DICTS and isinstance(old, dict) and isinstance(value, dict):
                params[key] = merge_extra_body(old, value)
            else:
                params[key] = value
        if stop is not None:
            params["stop"] = stop
        if not params.get("stop"):
            params.pop("stop", None)
        if extra_body:
            params["extra_body"] = extra_body
        return model, params

    def _own_adapter(self, model: str | None) -> tuple[str, str] | None:
        """``(name, path)`` when the request uses this instance's adapter and its path is set."""
        if self.adapter_path and self.adapter and model == self.adapter:
            return self.adapter, self.adapter_path
        return None

    def _ensure_adapter(self, model: str | None) -> None:
        if (own := self._own_adapter(model)) is not None:
            ADAPTERS.ensure(self.client, self._client_settings().server, *own)

    async def _aensure_adapter(self, model: str | None) -> None:
        if (own := self._own_adapter(model)) is not None:
            await ADAPTERS.aensure(self.async_client, self._client_settings().server, *own)

    def _adapter_scope(self, model: str | None) -> AbstractContextManager[None]:
        """Around a request: a 404 for this instance's adapter makes the next use reload it."""
        own = self._own_adapter(model)
        if own is None:  # nothing to forget: no scope (per-request cost)
            return contextlib.nullcontext()
        return ADAPTERS.forget_on_404(self._client_settings().server, own[0])


__all__ = ["VLLMConnection", "VLLMSampling"]

"""What `ChatVLLM`, `VLLM` and `VLLMEmbeddings` share.

Connection fields, cached core clients, typed vLLM sampling fields, request-parameter merging,
LoRA adapter selection and the LangChain plumbing (serialization, LangSmith parameters) of the
two language models.

The core client (``vllm_accel``, which imports httpx) is imported lazily, on the first request,
so that ``import langchain_vllm_accel`` stays cheap.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

from ._convert import merge_extra_body

if TYPE_CHECKING:
    from langchain_core.language_models.base import LangSmithParams

    from vllm_accel import AsyncVLLMClient, VLLMClient

ENV_BASE_URL = "VLLM_BASE_URL"
ENV_API_KEY = "VLLM_API_KEY"
ENV_MODEL = "VLLM_MODEL"
DEFAULT_BASE_URL = "http://localhost:8000"

# Clients are shared by every instance with the same connection settings (a `configurable_fields`
# call builds a new model instance per call; it must not build a new connection pool each time).
# Async clients are kept per event loop: an httpx.AsyncClient must not cross loops.
_ClientKey = tuple[Any, ...]
_SYNC_CLIENTS: dict[_ClientKey, VLLMClient] = {}
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[_ClientKey, AsyncVLLMClient]
] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_LOADED_ADAPTERS: set[tuple[str, str]] = set()

# Per-call values replace (rather than merge into) the defaults for these dict-valued fields:
# merging two constraints would produce a request vLLM rejects.
_REPLACED_DICTS = frozenset({"response_format", "structured_outputs", "tool_choice"})
# Fields that are connection or LangChain settings, not request parameters.
_NOT_PARAMS = frozenset(
    {
        "model",
        "base_url",
        "api_key",
        "timeout",
        "max_retries",
        "default_headers",
        "http_client",
        "http_async_client",
        "adapter",
        "adapter_path",
        "model_kwargs",
        "extra_body",
        "streaming",
        "stream_usage",
        "batch_size",
        "max_concurrency",
    }
)
_PARAM_NAMES: dict[type, tuple[str, ...]] = {}


def _env(name: str) -> Any:
    return lambda: os.environ.get(name) or None


def _env_secret(name: str) -> Any:
    def factory() -> SecretStr | None:
        value = os.environ.get(name)
        return SecretStr(value) if value else None

    return factory


class VLLMConnection(BaseModel):
    """Connection settings and the lazily built, shared core clients."""

    model_config = ConfigDict(
        populate_by_name=True, arbitrary_types_allowed=True, protected_namespaces=()
    )

    model: str | None = Field(default_factory=_env(ENV_MODEL), alias="model_name")
    """Served model name (env ``VLLM_MODEL``); ``None`` = the server's first base model."""
    base_url: str = Field(default_factory=lambda: os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
    """Server root, with or without ``/v1`` (env ``VLLM_BASE_URL``)."""
    api_key: SecretStr | None = Field(default_factory=_env_secret(ENV_API_KEY))
    """The server's ``--api-key`` (env ``VLLM_API_KEY``; ``OPENAI_API_KEY`` is never read)."""
    timeout: float | None = Field(default=None, alias="request_timeout")
    """Seconds per request (connect: 5 s); ``None`` = the core default (600 s)."""
    max_retries: int = 2
    """Retries of failed requests (connection errors, 408/409/429/5xx)."""
    default_headers: dict[str, str] | None = None
    """Extra headers sent with every request."""
    http_client: Any | None = Field(default=None, exclude=True)
    """Optional ``httpx.Client`` to send sync requests with (tests, proxies, custom TLS)."""
    http_async_client: Any | None = Field(default=None, exclude=True)
    """Optional ``httpx.AsyncClient`` to send async requests with."""

    _own_sync: Any = PrivateAttr(default=None)
    _own_async: Any = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _build_model_kwargs(cls, values: Any) -> Any:
        if isinstance(values, dict):
            return _split_unknown(cls, dict(values))
        return values

    def _client_key(self) -> _ClientKey:
        key = self.api_key.get_secret_value() if self.api_key is not None else None
        headers = tuple(sorted((self.default_headers or {}).items()))
        return (self.base_url, key, self.timeout, self.max_retries, headers)

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "api_key": self.api_key.get_secret_value() if self.api_key is not None else None,
            "max_retries": self.max_retries,
            "headers": self.default_headers,
        }
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return kwargs

    @property
    def client(self) -> VLLMClient:
        """The sync core client (built on first use, shared by equal settings)."""
        if self._own_sync is not None:
            return self._own_sync  # type: ignore[no-any-return]
        from vllm_accel import VLLMClient

        if self.http_client is not None:
            self._own_sync = VLLMClient(
                self.base_url, http_client=self.http_client, **self._client_kwargs()
            )
            return self._own_sync  # type: ignore[no-any-return]
        key = self._client_key()
        client = _SYNC_CLIENTS.get(key)
        if client is None:
            with _LOCK:
                client = _SYNC_CLIENTS.get(key)
                if client is None:
                    client = VLLMClient(self.base_url, **self._client_kwargs())
                    _SYNC_CLIENTS[key] = client
        return client

    @property
    def async_client(self) -> AsyncVLLMClient:
        """The async core client of the running event loop (built on first use)."""
        if self._own_async is not None:
            return self._own_async  # type: ignore[no-any-return]
        from vllm_accel import AsyncVLLMClient

        if self.http_async_client is not None:
            self._own_async = AsyncVLLMClient(
                self.base_url, http_client=self.http_async_client, **self._client_kwargs()
            )
            return self._own_async  # type: ignore[no-any-return]
        loop = asyncio.get_running_loop()
        per_loop = _ASYNC_CLIENTS.get(loop)
        if per_loop is None:
            per_loop = _ASYNC_CLIENTS.setdefault(loop, {})
        key = self._client_key()
        client = per_loop.get(key)
        if client is None:
            client = per_loop[key] = AsyncVLLMClient(self.base_url, **self._client_kwargs())
        return client


def _split_unknown(cls: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Move constructor kwargs that are not fields into ``model_kwargs`` (LangChain's way)."""
    names = set(cls.model_fields)
    names |= {f.alias for f in cls.model_fields.values() if f.alias}
    extra = {k: values.pop(k) for k in list(values) if k not in names}
    if extra:
        model_kwargs = dict(values.get("model_kwargs") or {})
        clash = set(extra) & set(model_kwargs)
        if clash:
            msg = f"Parameters {sorted(clash)} were given both directly and in model_kwargs"
            raise ValueError(msg)
        values["model_kwargs"] = {**model_kwargs, **extra}
    return values


class VLLMSampling(VLLMConnection):
    """What the chat and completion models share: typed sampling fields, LoRA selection, plumbing.

    Subclasses set ``_ls_model_type`` and their own ``get_lc_namespace``.
    """

    _ls_model_type: ClassVar[Literal["chat", "llm"]]
    if TYPE_CHECKING:  # a field of LangChain's BaseLanguageModel
        custom_get_token_ids: Callable[[str], list[int]] | None

    adapter: str | None = Field(default=None, alias="lora_adapter")
    """LoRA adapter to use (sent as the request ``model``); per call: ``adapter=`` or ``model=``."""
    adapter_path: str | None = None
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
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Other request fields known to the core client, sent with every request."""
    extra_body: dict[str, Any] | None = None
    """Raw fields merged into the JSON body last; per-call ``extra_body`` is deep-merged in."""
    streaming: bool = False
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
            "base_url": redact_url(self.base_url),
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

    # ------------------------------------------------------------------ requests

    def _param_field_names(self) -> tuple[str, ...]:
        """Every typed request field of this model class (computed once per class)."""
        cls = type(self)
        names = _PARAM_NAMES.get(cls)
        if names is None:
            from langchain_core.language_models import BaseChatModel, BaseLLM

            skip = _NOT_PARAMS | set(BaseChatModel.model_fields) | set(BaseLLM.model_fields)
            names = _PARAM_NAMES[cls] = tuple(n for n in cls.model_fields if n not in skip)
        return names

    @property
    def _default_params(self) -> dict[str, Any]:
        """The request fields set on this instance (``None`` = server default, not sent)."""
        params = {}
        for name in self._param_field_names():
            value = getattr(self, name)
            if value is not None:
                params[name] = value
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

    def _adapter_to_load(self, model: str | None) -> tuple[str, str] | None:
        """``(name, path)`` when the request uses this instance's adapter and it is not loaded."""
        if not (self.adapter_path and self.adapter and model == self.adapter):
            return None
        if (self.base_url, self.adapter) in _LOADED_ADAPTERS:
            return None
        return self.adapter, self.adapter_path

    def _ensure_adapter(self, model: str | None) -> None:
        todo = self._adapter_to_load(model)
        if todo is not None:
            self.client.load_lora_adapter(*todo)  # a no-op when already loaded from that path
            _LOADED_ADAPTERS.add((self.base_url, todo[0]))

    async def _aensure_adapter(self, model: str | None) -> None:
        todo = self._adapter_to_load(model)
        if todo is not None:
            await self.async_client.load_lora_adapter(*todo)
            _LOADED_ADAPTERS.add((self.base_url, todo[0]))

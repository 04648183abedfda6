"""``VLLMClient``: the synchronous twin.

Only the send/sleep loop lives here; everything else is in the shared, I/O-free
:class:`~vllm_accel._base.BaseClient` and helpers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from ._base import LIMITS, BaseClient, Call
from ._config import DEFAULT_BATCH_CONCURRENCY, ENDPOINT_TEST_TIMEOUT, RetryPolicy
from ._errors import BadRequestError, VLLMError, error_from_httpx, error_from_response
from ._secret import SecretLike

if TYPE_CHECKING:  # imported by the methods that need them (import cost)
    from . import _batch, _metrics
    from ._models import (
        ChatCompletion,
        Completion,
        DetokenizeResponse,
        EmbeddingResponse,
        LoRAAdapter,
        ModelInfo,
        ModelList,
        ModelStatistics,
        TokenizeResponse,
    )
    from ._stream import ChatStream, CompletionStream, RawStream

__all__ = ["VLLMClient"]


class VLLMClient(BaseClient):
    """A synchronous client for a vLLM OpenAI-compatible server.

    Args:
        base_url: the server root (``/v1`` suffix optional); env ``VLLM_BASE_URL``, default
            ``http://localhost:8000``.
        api_key: sent as ``Authorization: Bearer``; env ``VLLM_API_KEY`` (never
            ``OPENAI_API_KEY``). Kept in a :class:`Secret`; rotate with :meth:`set_api_key`.
        model: the default model or LoRA adapter; env ``VLLM_MODEL``. None lets the server use
            its first served (base) model.
        timeout: seconds (connect: 5 s) or an ``httpx.Timeout``; default 600 s.
        max_retries: retries of failed requests (default 2); or pass ``retry``.
        retry: a full :class:`RetryPolicy`.
        headers: extra headers for every request.
        http_client: an ``httpx.Client`` to use (not closed by :meth:`close`).

    Example:
        >>> with VLLMClient("http://localhost:8000") as client:  # doctest: +SKIP
        ...     print(client.chat("Hello!", max_tokens=16).text)
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | SecretLike | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url, api_key=api_key, model=model, timeout=timeout,
                         max_retries=max_retries, retry=retry, headers=headers)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self.timeout, limits=LIMITS)

    # -- the I/O loop ---------------------------------------------------------------------------

    _sleep = staticmethod(time.sleep)

    def _send(self, call: Call) -> httpx.Response:
        """Send ``call`` with retries; return the 2xx response (unread when streaming)."""
        while True:
            request = self._request(self._http, call)
            try:
                response = self._http.send(request, stream=call.stream)
            except httpx.HTTPError as exc:
                error = error_from_httpx(exc, request_id=call.request_id)
            else:
                if response.is_success:
                    return response
                response.read()
                response.close()
                error = error_from_response(response, request_id=call.request_id)
            self._sleep(self._retry_delay(call, error))

    def close(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> VLLMClient:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- generation -----------------------------------------------------------------------------

    def chat(self, messages: Any, *, model: str | None = None, **params: Any) -> ChatCompletion:
        """``POST /v1/chat/completions``.

        Args:
            messages: a list of ``{"role", "content", ...}`` dicts, or one user message string.
            model: a served model or LoRA adapter name (default: the client's).
            **params: typed :class:`ChatParams` fields; ``extra_body`` for anything else.

        Raises:
            InvalidRequestError: a parameter is invalid (nothing was sent).
            APIError: the request failed (see the error tree).
        """
        from ._models import ChatCompletion

        call = self._chat_call(messages, model, params, stream=False)
        return self._parse(call, self._send(call), ChatCompletion)

    def stream_chat(self, messages: Any, *, model: str | None = None, **params: Any) -> ChatStream:
        """Streamed ``POST /v1/chat/completions``; use as a context manager and iterate chunks.

        Usage is requested by default (``stream_options.include_usage``).
        """
        from ._stream import ChatStream

        call = self._chat_call(messages, model, params, stream=True)
        return ChatStream(lambda: self._send(call), self._chat_state(call),
                          self._stream_finish(call))

    def complete(self, prompt: Any, *, model: str | None = None, **params: Any) -> Completion:
        """``POST /v1/completions`` (``prompt`` may be a list: one choice per prompt and sample).

        Args:
            prompt: a string, a list of strings, a token-id list, or a list of token-id lists.
            model: a served model or LoRA adapter name.
            **params: typed :class:`CompletionParams` fields; ``extra_body`` for anything else.
        """
        from ._models import Completion

        call = self._completion_call(prompt, model, params, stream=False)
        return self._parse(call, self._send(call), Completion)

    def stream_generation(self, prompt: Any, *, model: str | None = None,
                          **params: Any) -> CompletionStream:
        """Streamed ``POST /v1/completions``; iterate ``CompletionChunk`` or ``text_deltas()``."""
        from ._stream import CompletionStream

        call = self._completion_call(prompt, model, params, stream=True)
        return CompletionStream(lambda: self._send(call), self._completion_state(call),
                                self._stream_finish(call))

    def embed(self, input: Any, *, model: str | None = None,
              **params: Any) -> EmbeddingResponse:
        """``POST /v1/embeddings`` (one request for a whole list; ``.vectors()`` keeps order)."""
        from ._models import EmbeddingResponse

        call = self._embed_call(input, model, params)
        return self._parse(call, self._send(call), EmbeddingResponse)

    # -- utilities ------------------------------------------------------------------------------

    def tokenize(self, prompt: str | None = None, *, messages: Any = None,
                 model: str | None = None, add_special_tokens: bool | None = None,
                 return_token_strs: bool | None = None, **extra: Any) -> TokenizeResponse:
        """``POST /tokenize`` of a prompt, or of chat ``messages`` rendered by the template."""
        from ._models import TokenizeResponse

        call = self._tokenize_call(prompt, messages, model, {
            "add_special_tokens": add_special_tokens, "return_token_strs": return_token_strs,
            **extra})
        return self._parse(call, self._send(call), TokenizeResponse)

    def detokenize(self, tokens: list[int], *, model: str | None = None) -> DetokenizeResponse:
        """``POST /detokenize``."""
        from ._models import DetokenizeResponse

        call = self._detokenize_call(tokens, model)
        return self._parse(call, self._send(call), DetokenizeResponse)

    def models(self) -> ModelList:
        """``GET /v1/models``: base models and LoRA adapters."""
        from ._models import ModelList

        call = self._call("GET", "/v1/models")
        return self._parse(call, self._send(call), ModelList)

    def health(self) -> bool:
        """``GET /health``: True if the server answers 200; never raises."""
        call = self._call("GET", "/health", max_retries=0)
        try:
            response = self._send(call)
        except VLLMError:
            return False
        self._record(call, status=response.status_code)
        return True

    def version(self) -> str:
        """``GET /version``: the vLLM version string."""
        call = self._call("GET", "/version")
        return str(self._body(call, self._send(call)).get("version", ""))

    def metrics(self) -> _metrics.MetricsSnapshot:
        """``GET /metrics``, parsed (Prometheus text format)."""
        from . import _metrics

        call = self._call("GET", "/metrics")
        response = self._send(call)
        self._record(call, status=response.status_code)
        return _metrics.parse_metrics(response.text)

    # -- raw escape hatches and the seed's endpoint helpers ---------------------------------------

    def make_post_request(self, path_or_url: str, data: Mapping[str, Any], *,
                          api_key: str | SecretLike | None = None,
                          timeout: float | None = None) -> Any:
        """POST ``data`` as JSON to a route (``"/v1/completions"``) or full URL; returns the body.

        Retried like every request. The body is parsed JSON, or text when it is not JSON.
        """
        call = self._call("POST", path_or_url, json=dict(data), model=data.get("model"),
                          api_key=api_key, timeout=timeout)
        return self._body(call, self._send(call))

    def make_stream_request(self, path_or_url: str, data: Mapping[str, Any], *,
                            api_key: str | SecretLike | None = None) -> RawStream:
        """POST ``data`` with ``stream: true`` (and usage on) and iterate the JSON events."""
        from ._stream import RawStream

        body = {"stream_options": {"include_usage": True}, **data, "stream": True}
        call = self._call("POST", path_or_url, json=body, model=data.get("model"), stream=True,
                          api_key=api_key)
        return RawStream(lambda: self._send(call), self._raw_state(call),
                         self._stream_finish(call))

    def create_endpoint_handler(
        self, url: str | None = None, *, api_key: str | SecretLike | None = None
    ) -> Callable[[Mapping[str, Any]], Any]:
        """A callable that POSTs its dict to ``url`` (default ``/v1/completions``)."""
        target = url or "/v1/completions"
        return lambda data: self.make_post_request(target, data, api_key=api_key)

    def create_chat_endpoint_handler(
        self, url: str | None = None, *, api_key: str | SecretLike | None = None
    ) -> Callable[[Mapping[str, Any]], Any]:
        """A callable that POSTs its dict to ``url`` (default ``/v1/chat/completions``)."""
        return self.create_endpoint_handler(url or "/v1/chat/completions", api_key=api_key)

    def test_endpoint(self, url: str | None = None, model: str | None = None) -> bool:
        """Whether a one-token completion on ``url`` succeeds; never raises, never retries."""
        from . import _batch

        body = _batch.probe_body(False, model or self.model)
        return self._probe(url or "/v1/completions", body)

    def test_chat_endpoint(self, url: str | None = None, model: str | None = None) -> bool:
        """Whether a one-token chat completion on ``url`` succeeds; never raises."""
        from . import _batch

        body = _batch.probe_body(True, model or self.model)
        return self._probe(url or "/v1/chat/completions", body)

    def _probe(self, url: str, body: dict[str, Any]) -> bool:
        from . import _batch

        try:
            # The client's timeout, not a short one: a busy server is not a down server.
            call = self._call("POST", url, json=body, model=body.get("model"), max_retries=0)
            return _batch.probe_ok(self._body(call, self._send(call)))
        except VLLMError:
            return False

    def is_compatible_model(self, model: str) -> bool:
        """True if the server serves ``model``; if it is unreachable, a name heuristic decides."""
        from . import _lora
        from ._factory import model_name_heuristic
        from ._models import ModelList

        call = self._call("GET", "/v1/models", timeout=ENDPOINT_TEST_TIMEOUT, max_retries=0)
        try:
            served = self._parse(call, self._send(call), ModelList)
        except VLLMError:
            return model_name_heuristic(model)
        return _lora.is_served(served, model)

    # -- model information ------------------------------------------------------------------------

    def get_model_info(self, model: str | None = None) -> ModelInfo:
        """What the server tells about ``model`` (default: the client's, else the first base)."""
        from . import _metrics

        return _metrics.model_info(self.models(), self.metrics(), self.version(),
                                   model or self.model)

    def get_model_statistics(self, model: str | None = None) -> ModelStatistics:
        """Server-side statistics of ``model`` computed from ``/metrics``."""
        from . import _metrics

        models, metrics = self.models(), self.metrics()
        return _metrics.model_statistics(models, metrics, model or self.model)

    # -- LoRA -----------------------------------------------------------------------------------

    def list_lora_adapters(self) -> list[LoRAAdapter]:
        """The LoRA adapters the server has loaded (``/v1/models`` entries with a parent)."""
        from . import _lora

        return _lora.adapters(self.models())

    def load_lora_adapter(self, name: str, path: str, *,
                          load_inplace: bool = False) -> LoRAAdapter:
        """Load an adapter; loading one that is already loaded from the same path is a no-op.

        Raises:
            InvalidRequestError: bad name/path, or ``name`` is loaded from another path (pass
                ``load_inplace=True`` to replace it).
        """
        from . import _lora

        _lora.check_load(self.base_url, name, path)
        if not load_inplace:
            existing = _lora.existing(self.models(), name, path)
            if existing is not None:
                return existing
        call = self._call("POST", "/v1/load_lora_adapter", retryable=False,
                          json=_lora.load_body(name, path, load_inplace))
        try:
            self._body(call, self._send(call))
        except BadRequestError as exc:
            if not _lora.is_dup(exc):
                raise
            existing = _lora.existing(self.models(), name, path)
            if existing is None:
                raise
            return existing
        return _lora.loaded(self.models(), name, path)

    def unload_lora_adapter(self, name: str, *, missing_ok: bool = True) -> None:
        """Unload an adapter; a missing one is a no-op unless ``missing_ok=False``.

        Raises:
            NotFoundError: the adapter is not loaded and ``missing_ok`` is False.
        """
        from . import _lora

        call = self._call("POST", "/v1/unload_lora_adapter", retryable=False,
                          json=_lora.unload_body(name))
        try:
            self._body(call, self._send(call))
        except VLLMError as exc:
            if not (missing_ok and _lora.is_missing(exc)):
                raise

    def set_quantization(self, method: str | None, *, model: str | None = None) -> ModelInfo:
        """Relaunch the managed server of this ``base_url`` with another quantization.

        vLLM fixes quantization at launch, so this only works for a server started by
        ``vllm_accel.server`` in this process; if the new server fails to start, the old one
        is restored and :class:`QuantizationError` is raised.

        Raises:
            QuantizationNotSupportedError: the server is not managed by this process.
        """
        from . import _managed

        _managed.relaunch(self.base_url, method, model)
        info = self.get_model_info(model)
        info.quantization = method
        return info

    # -- batching -------------------------------------------------------------------------------

    def process_batch(
        self, prompts: Sequence[Any], *, model: str | None = None,
        max_concurrency: int = DEFAULT_BATCH_CONCURRENCY,
        progress: Callable[[int, int], None] | None = None, mode: _batch.Mode = "completions",
        **params: Any,
    ) -> list[_batch.BatchItem]:
        """Run many prompts; results keep input order, a failure only fails its own item.

        Plain strings in ``"completions"`` mode go in one ``/v1/completions`` request (the
        fastest path; if the server rejects it (400/422: a bad prompt), it goes one request per
        prompt; any other failure, after the retries, is every item's error). Message
        lists, or ``mode="chat"``, fan out chat requests with at most ``max_concurrency`` in
        flight. ``progress(done, total)`` is called as items finish.
        """
        return self.process_batch_with_metrics(
            prompts, model=model, max_concurrency=max_concurrency, progress=progress, mode=mode,
            **params)[0]

    def process_batch_with_metrics(
        self, prompts: Sequence[Any], *, model: str | None = None,
        max_concurrency: int = DEFAULT_BATCH_CONCURRENCY,
        progress: Callable[[int, int], None] | None = None, mode: _batch.Mode = "completions",
        **params: Any,
    ) -> tuple[list[_batch.BatchItem], _batch.BatchMetrics]:
        """:meth:`process_batch` plus total time, time per item, tokens/s and item latencies."""
        from . import _batch

        plan = _batch.Plan.make(prompts, mode, max_concurrency, params)
        started = time.perf_counter()
        items: list[_batch.BatchItem] | None = None
        usage = None
        if plan.single_request:
            t0 = time.perf_counter()
            try:
                completion = self.complete(list(plan.prompts), model=model, **params)
                items = plan.items_from_completion(completion, time.perf_counter() - t0)
                usage = completion.usage
                plan.report(progress, len(items))
            except VLLMError as exc:
                # One bad prompt fails the whole request: go item by item. Any other failure
                # (after the retries) is every item's failure.
                items = (None if _batch.splits_on(exc)
                         else plan.items_failed(exc, time.perf_counter() - t0))
        if items is None:
            items = self._fan_out(plan, model, params, progress)
        return items, _batch.metrics_of(items, time.perf_counter() - started, usage)

    def _fan_out(self, plan: _batch.Plan, model: str | None, params: dict[str, Any],
                 progress: Callable[[int, int], None] | None) -> list[_batch.BatchItem]:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        def run(index: int) -> _batch.BatchItem:
            t0 = time.perf_counter()
            try:
                if plan.chat:
                    result: Any = self.chat(plan.messages(index), model=model, **params)
                else:
                    result = self.complete(plan.prompts[index], model=model, **params)
                return plan.item(index, result, None, time.perf_counter() - t0)
            except VLLMError as exc:
                return plan.item(index, None, exc, time.perf_counter() - t0)

        items: list[_batch.BatchItem | None] = [None] * len(plan.prompts)
        with ThreadPoolExecutor(max_workers=plan.workers) as pool:
            futures = [pool.submit(run, i) for i in range(len(plan.prompts))]
            for done, future in enumerate(as_completed(futures), 1):
                item = future.result()
                items[item.index] = item
                plan.report(progress, done)
        return [item for item in items if item is not None]

"""``AsyncVLLMClient``: the asynchronous twin of ``VLLMClient``, method for method.

Only the send/sleep loop differs; everything else is in the shared, I/O-free
:class:`~vllm_accel._base.BaseClient` and helpers. Keep the two files in step (a test checks
that every public method exists on both with the same signature).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from ._base import LIMITS, BaseClient, Call, logger
from ._config import DEFAULT_BATCH_CONCURRENCY, ENDPOINT_TEST_TIMEOUT, RetryPolicy
from ._errors import (
    APIConnectionError,
    BadRequestError,
    InvalidRequestError,
    NotFoundError,
    QuantizationNotSupportedError,
    VLLMError,
    error_from_httpx,
    error_from_response,
)
from ._fanout import FanOut, aggregate_statistics, merge_models
from ._pool import Endpoint, EndpointPool, EndpointState
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
    from ._pooling_models import (
        ClassificationResponse,
        PoolingResponse,
        RerankResponse,
        ScoreResponse,
        ServerLoad,
        TokenizerInfo,
        Transcription,
    )
    from ._stream import AsyncChatStream, AsyncCompletionStream, AsyncRawStream

__all__ = ["AsyncVLLMClient"]


class AsyncVLLMClient(BaseClient):
    """An asynchronous client for a vLLM OpenAI-compatible server.

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
        http_client: an ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`).
        endpoints: several servers instead of ``base_url``: an :class:`EndpointPool`, or a
            list of :class:`Endpoint` / base URLs. Requests are routed, fail over, and stay
            placed on the endpoints that serve their LoRA adapter (see ``vllm_accel._pool``);
            ``api_key`` is then only the key of the endpoints that have none of their own.

    Example:
        >>> async with AsyncVLLMClient("http://localhost:8000") as client:  # doctest: +SKIP
        ...     print((await client.chat("Hello!", max_tokens=16)).text)
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
        http_client: httpx.AsyncClient | None = None,
        endpoints: EndpointPool | Sequence[Endpoint | str] | None = None,
    ) -> None:
        super().__init__(base_url, api_key=api_key, model=model, timeout=timeout,
                         max_retries=max_retries, retry=retry, headers=headers,
                         endpoints=endpoints)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout, limits=LIMITS)
        self._freed = asyncio.Event()
        self._placing = asyncio.Lock()
        self._health_task: asyncio.Task[None] | None = None

    # -- the I/O loop ---------------------------------------------------------------------------

    _sleep = staticmethod(asyncio.sleep)

    async def _send(self, call: Call) -> httpx.Response:
        """Send ``call`` with retries; return the 2xx response (unread when streaming)."""
        if self.pool is not None and call.route is not None:
            return await self._send_pooled(call)
        while True:
            request = self._request(self._http, call)
            try:
                response = await self._http.send(request, stream=call.stream)
            except httpx.HTTPError as exc:
                error = error_from_httpx(exc, request_id=call.request_id)
            else:
                if response.is_success:
                    return response
                await response.aread()
                await response.aclose()
                error = error_from_response(response, request_id=call.request_id)
            await self._sleep(self._retry_delay(call, error))

    async def _send_pooled(self, call: Call) -> httpx.Response:
        """Route ``call`` over the pool, failing over while nothing has been answered."""
        self._start_health_checks()
        await self._place(call.model)
        while True:
            state = await self._acquire(call)
            try:
                result = await self._attempt(call, state)
            except BaseException as exc:
                if not isinstance(exc, VLLMError):  # cancelled or interrupted mid-attempt
                    self._release(state, "neutral")
                raise
            if isinstance(result, httpx.Response):
                return result
            delay = self._failover_delay(call, state, result)
            if delay:
                await self._sleep(delay)

    async def _attempt(self, call: Call, state: EndpointState) -> httpx.Response | VLLMError:
        """One attempt on ``state``: the 2xx response, or the error to fail over from.

        On success ``call`` holds the endpoint until it is recorded. A non-streamed answer
        that breaks while its body is read is returned like any failure (the caller has seen
        nothing of it, so it may be sent again, as a single server's client does); a stream
        commits to the endpoint once its first chunk is in.
        """
        request = self._request(self._http, call, state)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            return error_from_httpx(exc, request_id=call.request_id)
        if not response.is_success:
            await response.aread()
            await response.aclose()
            return error_from_response(response, request_id=call.request_id)
        if call.stream:  # fail over only until the first chunk is in
            raw = response.aiter_raw()
            try:
                first = await anext(raw, b"")
            except httpx.HTTPError as exc:
                await response.aclose()
                return error_from_httpx(exc, request_id=call.request_id)
            if not first:
                await response.aclose()
                return APIConnectionError("the stream closed before its first chunk",
                                          request_id=call.request_id)
            from ._stream import replay_response

            call.lease = state
            return replay_response(response, first, raw)
        try:
            await response.aread()
        except httpx.HTTPError as exc:  # nothing reached the caller: as if it never answered
            await response.aclose()
            return error_from_httpx(exc, request_id=call.request_id)
        call.lease = state
        return response

    async def _acquire(self, call: Call) -> EndpointState:
        while (state := self._acquire_now(call)) is None:
            self._freed.clear()
            # woken by a release; the timeout covers circuit timers
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), 0.05)
        return state

    def _notify_free(self) -> None:
        self._freed.set()

    async def _place(self, model: str | None) -> None:
        """Learn which endpoints serve ``model``, and load it first if asked (pool only)."""
        pool = self.pool
        assert pool is not None
        if not pool.needs_models(model) and pool.load_target(model) is None:
            return
        async with self._placing:
            states = pool.needs_models(model)
            answers = await asyncio.gather(
                *(self._on(s, max_retries=0).models() for s in states), return_exceptions=True)
            for state, answer in zip(states, answers, strict=True):
                if isinstance(answer, BaseException) and not isinstance(answer, VLLMError):
                    raise answer
                pool.learn_models(state, answer)
            target = pool.load_target(model)
            if target is not None and model is not None:
                try:
                    await self._on(target).load_lora_adapter(model, pool.lora_paths[model])
                except VLLMError as exc:
                    pool.record_failure(target, exc)  # the next request may pick another
                    raise
                pool.add_model(target, model)

    def _on(self, state: EndpointState, *, max_retries: int | None = None) -> AsyncVLLMClient:
        """A plain client of one pool endpoint (its own key only), sharing the connections."""
        child = AsyncVLLMClient(
            state.base_url, api_key=state.api_key or self._api_key, model=self.model,
            timeout=state.endpoint.timeout or self.timeout, headers=self._headers,
            retry=self.retry if max_retries is None else RetryPolicy(max_retries=max_retries),
            http_client=self._http)
        child._stats = FanOut.recorder(self._stats, state)
        return child

    async def check_health(self) -> dict[str, bool]:
        """``GET /health`` on every endpoint of the pool now; updates their circuits.

        Returns:
            endpoint name -> healthy. A single-server client gives ``{base_url: health()}``.
        """
        if self.pool is None:
            return {self.base_url: await self.health()}
        states = self.pool.endpoints
        answers = await asyncio.gather(*(self._on(s, max_retries=0).health() for s in states))
        for state, ok in zip(states, answers, strict=True):
            self.pool.record_health(state, ok, None if ok else APIConnectionError(
                "active health check failed"))
        self._notify_free()
        return {s.name: ok for s, ok in zip(states, answers, strict=True)}

    def _start_health_checks(self) -> None:
        pool = self.pool
        if pool is None or pool.health_check_interval is None or self._health_task is not None:
            return
        interval = pool.health_check_interval

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.check_health()
                except Exception:  # pragma: no cover - never let the prober die
                    logger.exception("active health check failed")

        self._health_task = asyncio.get_running_loop().create_task(loop())

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in) and stop health probes."""
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncVLLMClient:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    # -- generation -----------------------------------------------------------------------------

    async def chat(self, messages: Any, *, model: str | None = None,
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
        from ._models import ChatCompletion

        call = self._chat_call(messages, model, params, stream=False)
        return self._parse(call, await self._send(call), ChatCompletion)

    def stream_chat(self, messages: Any, *, model: str | None = None,
                    **params: Any) -> AsyncChatStream:
        """Streamed ``POST /v1/chat/completions``; use as a context manager and iterate chunks.

        Usage is requested by default (``stream_options.include_usage``).
        """
        from ._stream import AsyncChatStream

        call = self._chat_call(messages, model, params, stream=True)
        return AsyncChatStream(lambda: self._send(call), self._chat_state(call),
                          self._stream_finish(call))

    async def complete(self, prompt: Any, *, model: str | None = None, **params: Any) -> Completion:
        """``POST /v1/completions`` (``prompt`` may be a list: one choice per prompt and sample).

        Args:
            prompt: a string, a list of strings, a token-id list, or a list of token-id lists.
            model: a served model or LoRA adapter name.
            **params: typed :class:`CompletionParams` fields; ``extra_body`` for anything else.
        """
        from ._models import Completion

        call = self._completion_call(prompt, model, params, stream=False)
        return self._parse(call, await self._send(call), Completion)

    def stream_generation(self, prompt: Any, *, model: str | None = None,
                          **params: Any) -> AsyncCompletionStream:
        """Streamed ``POST /v1/completions``; iterate ``CompletionChunk`` or ``text_deltas()``."""
        from ._stream import AsyncCompletionStream

        call = self._completion_call(prompt, model, params, stream=True)
        return AsyncCompletionStream(lambda: self._send(call), self._completion_state(call),
                                self._stream_finish(call))

    async def embed(self, input: Any = None, *, messages: Any = None, model: str | None = None,
                    **params: Any) -> EmbeddingResponse:
        """``POST /v1/embeddings`` (one request for a whole list; ``.vectors()`` keeps order).

        Pass ``input`` (a string or a list), or chat-style ``messages`` (one conversation, or
        a list of them: one vector each). ``encoding_format="base64"`` vectors are decoded
        to floats (float32, float16 and bfloat16 ``embed_dtype``).
        """
        call = self._embed_call(input, model, params, messages)
        return self._embeddings(call, await self._send(call))

    # -- reranking, scoring, pooling, audio -----------------------------------------------------

    async def rerank(self, query: str, documents: Sequence[Any], *, model: str | None = None,
                     top_n: int | None = None, route: str = "/rerank",
                     **params: Any) -> RerankResponse:
        """``POST /rerank``: ``documents`` ordered by relevance to ``query``, best first.

        Works on an embedding model (bi-encoder: cosine similarity) and on a classification
        model (cross-encoder). ``route="/v2/rerank"`` (Jina / Cohere) or ``"/v1/rerank"`` reach
        the same handler.

        Args:
            query: the query text.
            documents: non-empty texts (or ``{"text": ...}`` dicts); results carry their index.
            model: a served model name (default: the client's).
            top_n: keep only the ``top_n`` best (>= 1; default: all).
            route: ``"/rerank"``, ``"/v1/rerank"`` or ``"/v2/rerank"``.
            **params: typed :class:`RerankParams` fields; ``extra_body`` for anything else.

        Raises:
            InvalidRequestError: empty documents, ``top_n`` < 1, a non-string document...
                (nothing was sent).
        """
        from ._pooling_models import RerankResponse

        call = self._rerank_call(query, documents, model, top_n, route, params)
        return self._parse(call, await self._send(call), RerankResponse)

    async def score(self, text_1: Any, text_2: Any, *, model: str | None = None,
                    **params: Any) -> ScoreResponse:
        """``POST /score``: one ``text_1`` against each ``text_2``, or pairwise (N x N).

        Raises:
            InvalidRequestError: an empty text, or lists of different lengths (nothing sent).
        """
        from ._pooling_models import ScoreResponse

        call = self._score_call(text_1, text_2, model, params)
        return self._parse(call, await self._send(call), ScoreResponse)

    async def classify(self, input: Any = None, *, messages: Any = None,
                       model: str | None = None, **params: Any) -> ClassificationResponse:
        """``POST /classify`` (a classification model): ``label`` and ``probs`` per input.

        Pass ``input`` (a string or a list) or chat ``messages`` (rendered by the template).
        """
        from ._pooling_models import ClassificationResponse

        call = self._classify_call(input, messages, model, params)
        return self._parse(call, await self._send(call), ClassificationResponse)

    async def pooling(self, input: Any = None, *, messages: Any = None,
                      model: str | None = None, **params: Any) -> PoolingResponse:
        """``POST /pooling``: the raw pooler output per input (``task=`` picks the pooler).

        ``encoding_format="base64"`` outputs are decoded to floats, as in :meth:`embed`.
        """
        call = self._pooling_call(input, messages, model, params)
        return self._pooling_result(call, await self._send(call))

    async def transcribe(self, file: Any, *, model: str | None = None,
                         **params: Any) -> Transcription:
        """``POST /v1/audio/transcriptions``: a multipart upload of ``file`` (a speech model).

        Args:
            file: a path, bytes, ``(filename, bytes[, content_type])`` or a binary file object.
            model: a served speech-to-text model.
            **params: typed :class:`AudioParams` form fields (``language``, ``prompt``,
                ``response_format``, ``temperature``...).

        Raises:
            InvalidRequestError: the file does not exist or is empty, a bad field (nothing
                was sent).
            NotFoundError: the server serves no speech-to-text model (no such route).
        """
        call = self._audio_call("/v1/audio/transcriptions", file, model, params)
        return self._transcription(call, await self._send(call))

    async def translate(self, file: Any, *, model: str | None = None,
                        **params: Any) -> Transcription:
        """``POST /v1/audio/translations``: like :meth:`transcribe`, translated to English."""
        call = self._audio_call("/v1/audio/translations", file, model, params)
        return self._transcription(call, await self._send(call))

    async def server_load(self) -> ServerLoad:
        """``GET /load``: requests in flight (0 unless ``--enable-server-load-tracking``)."""
        from ._pooling_models import ServerLoad

        call = self._call("GET", "/load")
        return self._parse(call, await self._send(call), ServerLoad)

    async def tokenizer_info(self) -> TokenizerInfo:
        """``GET /tokenizer_info`` (``--enable-tokenizer-info-endpoint``, else NotFoundError)."""
        from ._pooling_models import TokenizerInfo

        call = self._call("GET", "/tokenizer_info")
        return self._parse(call, await self._send(call), TokenizerInfo)

    # -- end of reranking, scoring, pooling, audio ----------------------------------------------

    # -- utilities ------------------------------------------------------------------------------

    async def tokenize(self, prompt: str | None = None, *, messages: Any = None,
                       model: str | None = None, add_special_tokens: bool | None = None,
                       return_token_strs: bool | None = None,
                       **extra: Any) -> TokenizeResponse:
        """``POST /tokenize`` of a prompt, or of chat ``messages`` rendered by the template."""
        from ._models import TokenizeResponse

        call = self._tokenize_call(prompt, messages, model, {
            "add_special_tokens": add_special_tokens, "return_token_strs": return_token_strs,
            **extra})
        return self._parse(call, await self._send(call), TokenizeResponse)

    async def detokenize(self, tokens: list[int], *,
                         model: str | None = None) -> DetokenizeResponse:
        """``POST /detokenize``."""
        from ._models import DetokenizeResponse

        call = self._detokenize_call(tokens, model)
        return self._parse(call, await self._send(call), DetokenizeResponse)

    async def models(self) -> ModelList:
        """``GET /v1/models``: base models and LoRA adapters.

        With a pool: every endpoint is asked (and the pool learns what each serves); the
        answer lists each name once. Unreachable endpoints are skipped.

        Raises:
            AllEndpointsFailedError: no endpoint of the pool answered.
        """
        from ._models import ModelList

        if self.pool is not None:
            pool = self.pool
            ops: FanOut[ModelList] = FanOut(pool)
            answers = await asyncio.gather(*(self._on(s).models() for s in pool.endpoints),
                                           return_exceptions=True)
            for state, answer in zip(pool.endpoints, answers, strict=True):
                if isinstance(answer, VLLMError):
                    ops.failed(state, answer)
                elif isinstance(answer, BaseException):
                    raise answer
                else:
                    ops.ok(state, answer)
                    pool.learn_models(state, answer)
            ops.check("GET /v1/models", partial_ok=True)
            return merge_models(ops.results.values())
        call = self._call("GET", "/v1/models")
        return self._parse(call, await self._send(call), ModelList)

    async def health(self) -> bool:
        """``GET /health``: True if the server answers 200; never raises.

        With a pool: True if any endpoint is healthy (see :meth:`check_health` for each).
        """
        if self.pool is not None:
            return any((await self.check_health()).values())
        call = self._call("GET", "/health", max_retries=0)
        try:
            response = await self._send(call)
        except VLLMError:
            return False
        self._record(call, status=response.status_code)
        return True

    async def version(self) -> str:
        """``GET /version``: the vLLM version string."""
        call = self._call("GET", "/version")
        return str(self._body(call, await self._send(call)).get("version", ""))

    async def metrics(self) -> _metrics.MetricsSnapshot:
        """``GET /metrics``, parsed (Prometheus text format)."""
        from . import _metrics

        call = self._call("GET", "/metrics")
        response = await self._send(call)
        self._record(call, status=response.status_code)
        return _metrics.parse_metrics(response.text)

    # -- raw escape hatches and the seed's endpoint helpers ---------------------------------------

    async def make_post_request(self, path_or_url: str, data: Mapping[str, Any] | None = None,
                                *, files: Mapping[str, Any] | None = None,
                                api_key: str | SecretLike | None = None,
                                timeout: float | None = None) -> Any:
        """POST ``data`` as JSON to a route (``"/v1/completions"``) or full URL; returns the body.

        With ``files`` (field name -> a path, bytes, ``(filename, bytes[, content_type])`` or
        a binary file object) the request is a multipart upload and ``data`` its form fields.
        Retried like every request. The body is parsed JSON, or text when it is not JSON.
        """
        call = self._post_call(path_or_url, data, files, api_key, timeout)
        return self._body(call, await self._send(call))

    def make_stream_request(self, path_or_url: str, data: Mapping[str, Any], *,
                            api_key: str | SecretLike | None = None) -> AsyncRawStream:
        """POST ``data`` with ``stream: true`` (and usage on) and iterate the JSON events."""
        from ._stream import AsyncRawStream

        body = {"stream_options": {"include_usage": True}, **data, "stream": True}
        call = self._call("POST", path_or_url, json=body, model=data.get("model"), stream=True,
                          api_key=api_key)
        return AsyncRawStream(lambda: self._send(call), self._raw_state(call),
                         self._stream_finish(call))

    def create_endpoint_handler(
        self, url: str | None = None, *, api_key: str | SecretLike | None = None
    ) -> Callable[[Mapping[str, Any]], Awaitable[Any]]:
        """A callable that POSTs its dict to ``url`` (default ``/v1/completions``)."""
        target = url or "/v1/completions"

        async def handler(data: Mapping[str, Any]) -> Any:
            return await self.make_post_request(target, data, api_key=api_key)

        return handler

    def create_chat_endpoint_handler(
        self, url: str | None = None, *, api_key: str | SecretLike | None = None
    ) -> Callable[[Mapping[str, Any]], Awaitable[Any]]:
        """A callable that POSTs its dict to ``url`` (default ``/v1/chat/completions``)."""
        return self.create_endpoint_handler(url or "/v1/chat/completions", api_key=api_key)

    async def test_endpoint(self, url: str | None = None, model: str | None = None) -> bool:
        """Whether a one-token completion on ``url`` succeeds; never raises, never retries."""
        from . import _batch

        body = _batch.probe_body(False, model or self.model)
        return await self._probe(url or "/v1/completions", body)

    async def test_chat_endpoint(self, url: str | None = None, model: str | None = None) -> bool:
        """Whether a one-token chat completion on ``url`` succeeds; never raises."""
        from . import _batch

        body = _batch.probe_body(True, model or self.model)
        return await self._probe(url or "/v1/chat/completions", body)

    async def _probe(self, url: str, body: dict[str, Any]) -> bool:
        from . import _batch

        try:
            # The client's timeout, not a short one: a busy server is not a down server.
            call = self._call("POST", url, json=body, model=body.get("model"), max_retries=0)
            return _batch.probe_ok(self._body(call, await self._send(call)))
        except VLLMError:
            return False

    async def is_compatible_model(self, model: str) -> bool:
        """True if the server serves ``model``; if it is unreachable, a name heuristic decides."""
        from . import _lora
        from ._factory import model_name_heuristic
        from ._models import ModelList

        call = self._call("GET", "/v1/models", timeout=ENDPOINT_TEST_TIMEOUT, max_retries=0)
        try:
            served = self._parse(call, await self._send(call), ModelList)
        except VLLMError:
            return model_name_heuristic(model)
        return _lora.is_served(served, model)

    # -- model information ------------------------------------------------------------------------

    async def get_model_info(self, model: str | None = None) -> ModelInfo:
        """What the server tells about ``model`` (default: the client's, else the first base)."""
        from . import _metrics

        return _metrics.model_info(await self.models(), await self.metrics(), await self.version(),
                                   model or self.model)

    async def get_model_statistics(self, model: str | None = None) -> ModelStatistics:
        """Server-side statistics of ``model`` computed from ``/metrics``.

        With a pool: summed over the endpoints that serve ``model`` and answer (averages
        weighted by requests); :meth:`get_model_statistics_by_endpoint` gives each one.

        Raises:
            AllEndpointsFailedError: no endpoint of the pool answered.
        """
        from . import _metrics
        from ._models import ModelStatistics

        if self.pool is not None:
            by_endpoint = await self.get_model_statistics_by_endpoint(model)
            found = [v for v in by_endpoint.values() if isinstance(v, ModelStatistics)]
            if not found:
                raise self.pool.all_failed(self.pool.endpoints, {
                    k: v for k, v in by_endpoint.items() if isinstance(v, VLLMError)})
            return aggregate_statistics(found)
        models, metrics = await self.models(), await self.metrics()
        return _metrics.model_statistics(models, metrics, model or self.model)

    async def get_model_statistics_by_endpoint(
        self, model: str | None = None
    ) -> dict[str, ModelStatistics | VLLMError]:
        """Each endpoint's statistics of ``model``, or the error it gave.

        A single-server client gives one entry, named by its ``base_url``.
        """
        if self.pool is None:
            return {self.base_url: await self.get_model_statistics(model)}
        states = self.pool.endpoints
        answers = await asyncio.gather(
            *(self._on(s).get_model_statistics(model) for s in states), return_exceptions=True)
        out: dict[str, ModelStatistics | VLLMError] = {}
        for state, answer in zip(states, answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, VLLMError):
                raise answer
            out[state.name] = answer
        return out

    # -- LoRA -----------------------------------------------------------------------------------

    async def list_lora_adapters(self) -> list[LoRAAdapter]:
        """The LoRA adapters the server has loaded (``/v1/models`` entries with a parent)."""
        from . import _lora

        return _lora.adapters(await self.models())

    async def load_lora_adapter(self, name: str, path: str, *, load_inplace: bool = False,
                                everywhere: bool = False) -> LoRAAdapter:
        """Load an adapter; loading one that is already loaded from the same path is a no-op.

        With a pool, the adapter is loaded on the least-loaded endpoint (or left where it is
        already loaded), or on every endpoint with ``everywhere=True``; the pool remembers
        where it is and routes its requests there, and remembers its path (for
        ``auto_load_lora``). ``everywhere`` changes nothing for a single server.

        Raises:
            InvalidRequestError: bad name/path, or ``name`` is loaded from another path (pass
                ``load_inplace=True`` to replace it).
            EndpointsFailedError: ``everywhere`` and some endpoints failed (the others have it).
            AllEndpointsFailedError: no endpoint could load it.
        """
        from . import _lora

        if self.pool is not None:
            return await self._load_on_pool(name, path, load_inplace, everywhere)
        _lora.check_load(self.base_url, name, path)
        if not load_inplace:
            existing = _lora.existing(await self.models(), name, path)
            if existing is not None:
                return existing
        call = self._call("POST", "/v1/load_lora_adapter", retryable=False,
                          json=_lora.load_body(name, path, load_inplace))
        try:
            self._body(call, await self._send(call))
        except BadRequestError as exc:
            if not _lora.is_dup(exc):
                raise
            existing = _lora.existing(await self.models(), name, path)
            if existing is None:
                raise
            return existing
        return _lora.loaded(await self.models(), name, path)

    async def _load_on_pool(self, name: str, path: str, load_inplace: bool,
                            everywhere: bool) -> LoRAAdapter:
        from ._models import LoRAAdapter

        pool = self.pool
        assert pool is not None
        pool.lora_paths[name] = path
        if everywhere:
            targets = list(pool.endpoints)
        else:
            await self._place(name)  # learn who serves it
            targets = [s for s in pool.endpoints if s.serves(name)]
            if not targets or load_inplace:
                best = pool.least_loaded(targets or None)
                targets = [best] if best is not None else list(pool.endpoints)[:1]
        answers = await asyncio.gather(
            *(self._on(s).load_lora_adapter(name, path, load_inplace=load_inplace)
              for s in targets), return_exceptions=True)
        ops: FanOut[LoRAAdapter] = FanOut(pool)
        for state, answer in zip(targets, answers, strict=True):
            if isinstance(answer, LoRAAdapter):
                ops.ok(state, answer)
                pool.add_model(state, name)
            elif isinstance(answer, VLLMError) and not isinstance(answer, InvalidRequestError):
                ops.failed(state, answer)
            else:
                raise answer  # a local check or a name clash: the same answer everywhere
        ops.check(f"loading LoRA adapter {name!r}")
        return next(iter(ops.results.values()))

    async def unload_lora_adapter(self, name: str, *, missing_ok: bool = True) -> None:
        """Unload an adapter; a missing one is a no-op unless ``missing_ok=False``.

        With a pool, it is unloaded from every endpoint (and forgotten for ``auto_load_lora``);
        ``missing_ok=False`` then raises only if no endpoint had it.

        Raises:
            NotFoundError: the adapter is not loaded and ``missing_ok`` is False.
            EndpointsFailedError: some endpoints could not be asked.
        """
        from . import _lora

        if self.pool is not None:
            pool = self.pool
            pool.lora_paths.pop(name, None)
            answers = await asyncio.gather(
                *(self._on(s).unload_lora_adapter(name, missing_ok=False)
                  for s in pool.endpoints), return_exceptions=True)
            ops: FanOut[bool] = FanOut(pool)
            for state, answer in zip(pool.endpoints, answers, strict=True):
                if answer is None:
                    ops.ok(state, True)
                elif isinstance(answer, VLLMError) and _lora.is_missing(answer):
                    ops.ok(state, False)
                elif isinstance(answer, VLLMError):
                    ops.failed(state, answer)
                else:
                    raise answer
                pool.remove_model(state, name)
            ops.check(f"unloading LoRA adapter {name!r}")
            if not missing_ok and not any(ops.results.values()):
                raise NotFoundError(f"LoRA adapter {name!r} is not loaded on any endpoint",
                                    status_code=404)
            return
        call = self._call("POST", "/v1/unload_lora_adapter", retryable=False,
                          json=_lora.unload_body(name))
        try:
            self._body(call, await self._send(call))
        except VLLMError as exc:
            if not (missing_ok and _lora.is_missing(exc)):
                raise

    async def set_quantization(self, method: str | None, *, model: str | None = None) -> ModelInfo:
        """Relaunch the managed server of this ``base_url`` with another quantization.

        vLLM fixes quantization at launch, so this only works for a server started by
        ``vllm_accel.server`` in this process; if the new server fails to start, the old one
        is restored and :class:`QuantizationError` is raised.

        Raises:
            QuantizationNotSupportedError: the server is not managed by this process, or the
                client has an endpoint pool (relaunch each endpoint's server instead).
        """
        from . import _managed

        if self.pool is not None:
            raise QuantizationNotSupportedError(
                "set_quantization relaunches one managed server; with an endpoint pool, "
                "relaunch each endpoint's server with --quantization")
        # Supervising a process is blocking (it waits for /health up to minutes); run it off the
        # event loop. This is process management, not HTTP: the client itself stays natively async.
        await asyncio.to_thread(_managed.relaunch, self.base_url, method, model)
        info = await self.get_model_info(model)
        info.quantization = method
        return info

    # -- batching -------------------------------------------------------------------------------

    async def process_batch(
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
        return (await self.process_batch_with_metrics(
            prompts, model=model, max_concurrency=max_concurrency, progress=progress, mode=mode,
            **params))[0]

    async def process_batch_with_metrics(
        self, prompts: Sequence[Any], *, model: str | None = None,
        max_concurrency: int = DEFAULT_BATCH_CONCURRENCY,
        progress: Callable[[int, int], None] | None = None, mode: _batch.Mode = "completions",
        **params: Any,
    ) -> tuple[list[_batch.BatchItem], _batch.BatchMetrics]:
        """:meth:`process_batch` plus total time, time per item, tokens/s and item latencies."""
        from . import _batch

        plan = _batch.Plan.make(prompts, mode, max_concurrency, params)
        if self.pool is not None and len(self.pool) > 1:
            plan.single_request = False  # one request per prompt spreads over the endpoints
        started = time.perf_counter()
        items: list[_batch.BatchItem] | None = None
        usage = None
        if plan.single_request:
            t0 = time.perf_counter()
            try:
                completion = await self.complete(list(plan.prompts), model=model, **params)
                items = plan.items_from_completion(completion, time.perf_counter() - t0)
                usage = completion.usage
                plan.report(progress, len(items))
            except VLLMError as exc:
                # One bad prompt fails the whole request: go item by item. Any other failure
                # (after the retries) is every item's failure.
                items = (None if _batch.splits_on(exc)
                         else plan.items_failed(exc, time.perf_counter() - t0))
        if items is None:
            items = await self._fan_out(plan, model, params, progress)
        return items, _batch.metrics_of(items, time.perf_counter() - started, usage)

    async def _fan_out(self, plan: _batch.Plan, model: str | None, params: dict[str, Any],
                       progress: Callable[[int, int], None] | None) -> list[_batch.BatchItem]:
        limit = asyncio.Semaphore(plan.workers)
        done = 0

        async def run(index: int) -> _batch.BatchItem:
            nonlocal done
            async with limit:
                t0 = time.perf_counter()
                try:
                    if plan.chat:
                        result: Any = await self.chat(plan.messages(index), model=model, **params)
                    else:
                        result = await self.complete(plan.prompts[index], model=model, **params)
                    item = plan.item(index, result, None, time.perf_counter() - t0)
                except VLLMError as exc:
                    item = plan.item(index, None, exc, time.perf_counter() - t0)
            done += 1
            plan.report(progress, done)
            return item

        return list(await asyncio.gather(*(run(i) for i in range(len(plan.prompts)))))

# Generated from core/_async/admin.py by tests/support/generate_sync.py
# (make generate); do not edit.
"""Administration: tokenizing, models, health, version, metrics, model statistics and LoRA.

With an endpoint pool, ``models``, ``check_health``, ``get_model_statistics_by_endpoint`` and
the LoRA loads and unloads ask every endpoint at once (the ``gather`` primitive) and fold the
answers with one ``vllm_accel._fanout.fold_*`` function each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import BadRequestError, QuantizationNotSupportedError, VLLMError
from .._fanout import (
    aggregate_statistics,
    fold_health,
    fold_loads,
    fold_models,
    fold_statistics,
    fold_unloads,
)
from .._urls import redact_url
from ._primitives import gather, run_blocking
from ._transport import Transport

if TYPE_CHECKING:  # imported by the methods that need them (import cost)
    from .. import _metrics
    from .._models import (
        DetokenizeResponse,
        LoRAAdapter,
        ModelInfo,
        ModelList,
        ModelStatistics,
        TokenizeResponse,
    )

__all__ = ["Admin"]


class Admin(Transport):
    """Tokenizer, server information, model statistics and LoRA adapters."""

    def tokenize(self, prompt: str | None = None, *, messages: Any = None,
                       model: str | None = None, add_special_tokens: bool | None = None,
                       return_token_strs: bool | None = None,
                       **extra: Any) -> TokenizeResponse:
        """``POST /tokenize`` of a prompt, or of chat ``messages`` rendered by the template."""
        from .._models import TokenizeResponse

        call = self._tokenize_call(prompt, messages, model, {
            "add_special_tokens": add_special_tokens, "return_token_strs": return_token_strs,
            **extra})
        return self._parse(call, self._send(call), TokenizeResponse)

    def detokenize(self, tokens: list[int], *,
                         model: str | None = None) -> DetokenizeResponse:
        """``POST /detokenize``."""
        from .._models import DetokenizeResponse

        call = self._detokenize_call(tokens, model)
        return self._parse(call, self._send(call), DetokenizeResponse)

    def models(self) -> ModelList:
        """``GET /v1/models``: base models and LoRA adapters.

        With a pool: every endpoint is asked (and the pool learns what each serves); the
        answer lists each name once. Unreachable endpoints are skipped.

        Raises:
            AllEndpointsFailedError: no endpoint of the pool answered.
        """
        from .._models import ModelList

        if self.pool is not None:
            states = self.pool.endpoints
            answers = gather([self._on(s).models for s in states])
            return fold_models(self.pool, states, answers)
        call = self._call("GET", "/v1/models")
        return self._parse(call, self._send(call), ModelList)

    def health(self) -> bool:
        """``GET /health``: True if the server answers 200; never raises.

        With a pool: True if any endpoint is healthy (see :meth:`check_health` for each).
        """
        if self.pool is not None:
            return any((self.check_health()).values())
        call = self._call("GET", "/health", max_retries=0)
        try:
            response = self._send(call)
        except VLLMError:
            return False
        self._record(call, status=response.status_code)
        return True

    def check_health(self) -> dict[str, bool]:
        """``GET /health`` on every endpoint of the pool now; updates their circuits.

        Returns:
            endpoint name -> healthy. A single-server client gives ``{base_url: health()}``.
        """
        if self.pool is None:
            return {redact_url(self.base_url): self.health()}
        states = self.pool.endpoints
        answers = gather([self._on(s, max_retries=0).health for s in states])
        result = fold_health(self.pool, states, answers)
        self._notify_free()
        return result

    def version(self) -> str:
        """``GET /version``: the vLLM version string."""
        call = self._call("GET", "/version")
        return str(self._body(call, self._send(call)).get("version", ""))

    def metrics(self) -> _metrics.MetricsSnapshot:
        """``GET /metrics``, parsed (Prometheus text format)."""
        from .. import _metrics

        call = self._call("GET", "/metrics")
        response = self._send(call)
        self._record(call, status=response.status_code)
        return _metrics.parse_metrics(response.text)

    # -- model information ------------------------------------------------------------------------

    def get_model_info(self, model: str | None = None) -> ModelInfo:
        """What the server tells about ``model`` (default: the client's, else the first base)."""
        from .. import _metrics

        return _metrics.model_info(self.models(), self.metrics(), self.version(),
                                   model or self.model)

    def get_model_statistics(self, model: str | None = None) -> ModelStatistics:
        """Server-side statistics of ``model`` computed from ``/metrics``.

        With a pool: summed over the endpoints that serve ``model`` and answer (averages
        weighted by requests); :meth:`get_model_statistics_by_endpoint` gives each one.

        Raises:
            AllEndpointsFailedError: no endpoint of the pool answered.
        """
        from .. import _metrics
        from .._models import ModelStatistics

        if self.pool is not None:
            by_endpoint = self.get_model_statistics_by_endpoint(model)
            found = [v for v in by_endpoint.values() if isinstance(v, ModelStatistics)]
            if not found:
                raise self.pool.all_failed(self.pool.endpoints, {
                    k: v for k, v in by_endpoint.items() if isinstance(v, VLLMError)})
            return aggregate_statistics(found)
        models, metrics = self.models(), self.metrics()
        return _metrics.model_statistics(models, metrics, model or self.model)

    def get_model_statistics_by_endpoint(
        self, model: str | None = None
    ) -> dict[str, ModelStatistics | VLLMError]:
        """Each endpoint's statistics of ``model``, or the error it gave.

        A single-server client gives one entry, named by its ``base_url``.
        """
        import functools

        if self.pool is None:
            return {redact_url(self.base_url): self.get_model_statistics(model)}
        states = self.pool.endpoints
        answers = gather([functools.partial(self._on(s).get_model_statistics, model)
                                for s in states])
        return fold_statistics(self.pool, states, answers)

    # -- LoRA -----------------------------------------------------------------------------------

    def list_lora_adapters(self) -> list[LoRAAdapter]:
        """The LoRA adapters the server has loaded (``/v1/models`` entries with a parent)."""
        from .. import _lora

        return _lora.adapters(self.models())

    def load_lora_adapter(self, name: str, path: str, *, load_inplace: bool = False,
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
        from .. import _lora

        if self.pool is not None:
            return self._load_on_pool(name, path, load_inplace, everywhere)
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

    def _load_on_pool(self, name: str, path: str, load_inplace: bool,
                            everywhere: bool) -> LoRAAdapter:
        import functools

        pool = self.pool
        assert pool is not None
        pool.lora_paths[name] = path
        if everywhere:
            targets = list(pool.endpoints)
        else:
            self._place(name)  # learn who serves it
            targets = [s for s in pool.endpoints if s.serves(name)]
            if not targets or load_inplace:
                best = pool.least_loaded(targets or None)
                targets = [best] if best is not None else list(pool.endpoints)[:1]
        answers = gather([
            functools.partial(self._on(s).load_lora_adapter, name, path,
                              load_inplace=load_inplace) for s in targets])
        return fold_loads(pool, name, targets, answers)

    def unload_lora_adapter(self, name: str, *, missing_ok: bool = True) -> None:
        """Unload an adapter; a missing one is a no-op unless ``missing_ok=False``.

        With a pool, it is unloaded from every endpoint (and forgotten for ``auto_load_lora``);
        ``missing_ok=False`` then raises only if no endpoint had it.

        Raises:
            NotFoundError: the adapter is not loaded and ``missing_ok`` is False.
            EndpointsFailedError: some endpoints could not be asked.
        """
        import functools

        from .. import _lora

        if self.pool is not None:
            self.pool.lora_paths.pop(name, None)
            states = self.pool.endpoints
            answers = gather([
                functools.partial(self._on(s).unload_lora_adapter, name, missing_ok=False)
                for s in states])
            fold_unloads(self.pool, name, states, answers, missing_ok=missing_ok)
            return
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
            QuantizationNotSupportedError: the server is not managed by this process, or the
                client has an endpoint pool (relaunch each endpoint's server instead).
        """
        from .. import _managed

        if self.pool is not None:
            raise QuantizationNotSupportedError(
                "set_quantization relaunches one managed server; with an endpoint pool, "
                "relaunch each endpoint's server with --quantization")
        # Supervising a process blocks (it waits for /health up to minutes): run_blocking keeps
        # it off an event loop. This is process management, not HTTP.
        run_blocking(_managed.relaunch, self.base_url, method, model)
        info = self.get_model_info(model)
        info.quantization = method
        return info

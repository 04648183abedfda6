"""The seed's module-level factory: ``create_api_backend``, ``find_compatible_backend``.

Part of the seed-compatibility surface, with the client methods of ``vllm_accel._async.seed``.
This module imports the client (lazily); nothing in the client imports it, so there is no
import cycle. The model-name heuristic is ``vllm_accel._model_names``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._errors import InvalidRequestError
from ._model_names import model_name_heuristic

__all__ = [
    "available_backends",
    "create_api_backend",
    "find_compatible_backend",
    "is_compatible_model",
    "model_name_heuristic",
]

_BACKENDS = ("vllm",)


def _pick(metadata: Mapping[str, Any], *keys: str) -> Any:
    return next((metadata[k] for k in keys if metadata.get(k) not in (None, "")), None)


def available_backends() -> list[str]:
    """The backend names ``create_api_backend`` accepts."""
    return list(_BACKENDS)


def create_api_backend(
    name: str = "vllm",
    resources: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """The seed's factory: a :class:`VLLMClient` configured from the seed's metadata keys.

    Args:
        name: the backend name; only ``"vllm"`` exists here.
        resources: accepted for compatibility with the seed; unused.
        metadata: ``vllm_api_url``/``vllmApiUrl``, ``vllm_model``/``vllmModel``,
            ``vllm_api_key``/``vllmApiKey``, and ``timeout`` **in milliseconds** (as in the
            seed). Missing keys fall back to ``VLLM_BASE_URL``/``VLLM_API_URL``, ``VLLM_MODEL``
            and ``VLLM_API_KEY``.

    Raises:
        InvalidRequestError: unknown backend name or bad timeout.
    """
    from ._sync.client import VLLMClient

    if name.lower() not in _BACKENDS:
        raise InvalidRequestError(
            f"API backend {name!r} not found. Available backends: {', '.join(_BACKENDS)}"
        )
    meta = dict(metadata or {})
    timeout_ms = _pick(meta, "timeout", "timeout_ms", "timeoutMs")
    timeout = None
    if timeout_ms is not None:
        try:
            timeout = float(timeout_ms) / 1000.0
        except (TypeError, ValueError):
            raise InvalidRequestError("metadata timeout must be a number of milliseconds") from None
        if timeout <= 0:
            raise InvalidRequestError("metadata timeout must be > 0 milliseconds")
    return VLLMClient(
        _pick(meta, "vllm_api_url", "vllmApiUrl") or os.environ.get("VLLM_API_URL"),
        api_key=_pick(meta, "vllm_api_key", "vllmApiKey"),
        model=_pick(meta, "vllm_model", "vllmModel", "model"),
        timeout=timeout,
    )


def find_compatible_backend(
    model: str,
    resources: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """A configured client if ``model`` is compatible (see ``is_compatible_model``), else None.

    The client is closed again when the model is not compatible.
    """
    client = create_api_backend("vllm", resources, metadata)
    if client.is_compatible_model(model):
        return client
    client.close()
    return None


def is_compatible_model(model: str, base_url: str | None = None) -> bool:
    """Ask the server at ``base_url`` (or ``VLLM_BASE_URL``); fall back to the name heuristic."""
    from ._sync.client import VLLMClient

    with VLLMClient(base_url, max_retries=0) as client:
        return client.is_compatible_model(model)

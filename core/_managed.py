"""``set_quantization`` support: relaunching a server that ``vllm_accel.server`` manages.

vLLM reads ``--quantization`` once, at launch; there is no HTTP route to change it. The only
honest way to "set" it is to restart the server process, which this process can do only for a
server it started itself. ``vllm_accel.server`` is imported lazily, here only.
"""

from __future__ import annotations

from typing import Any

from ._errors import InvalidRequestError, QuantizationError, QuantizationNotSupportedError
from ._urls import redact_url

__all__ = ["find_managed", "relaunch"]


def find_managed(base_url: str, model: str | None) -> Any:
    """The managed ``VLLMServer`` serving ``base_url`` (and ``model``, if given).

    Raises:
        QuantizationNotSupportedError: no server of this process serves ``base_url``.
        InvalidRequestError: the managed server serves another model.
    """
    from .server import managed_server  # lazy: the launcher is heavy and optional

    server = managed_server(base_url)
    if server is None:
        raise QuantizationNotSupportedError(
            f"the server at {redact_url(base_url)} is not managed by this process: vLLM sets "
            "quantization at launch (--quantization), so restart that server with the new setting"
        )
    served = server.spec.served_model_name
    if model is not None and model != served:
        raise InvalidRequestError(
            f"the server at {redact_url(base_url)} serves {served!r}, not {model!r}")
    return server


def relaunch(base_url: str, method: str | None, model: str | None) -> None:
    """Restart the managed server with ``--quantization method`` (None: no quantization).

    Raises:
        QuantizationError: the new server did not start; the previous one was restored.
    """
    if method is not None and (not isinstance(method, str) or not method.strip()):
        raise InvalidRequestError("quantization method must be a non-empty string or None")
    server = find_managed(base_url, model)
    from .server import ServerStartError

    try:
        server.restart(quantization=method)
    except ServerStartError as exc:
        restored = "was restored" if server.running else "could not be restarted either"
        raise QuantizationError(
            f"vLLM failed to start with quantization={method!r}; the previous server "
            f"{restored}: {exc}"
        ) from exc

# Generated from core/_async/seed.py by tests/support/generate_sync.py
# (make generate); do not edit.
"""The seed-compatibility surface: the raw request helpers of the original client.

These are the calls the seed project's code makes (and that stay for it): a raw POST or
stream to any route (``make_post_request`` / ``make_stream_request``), callables bound to a
route (``create_endpoint_handler`` / ``create_chat_endpoint_handler``), probes that never
raise (``test_endpoint`` / ``test_chat_endpoint``) and ``is_compatible_model``. The seed's
module-level factory (``create_api_backend``, ``find_compatible_backend``) is
``vllm_accel._factory``. New code should prefer the typed methods (``chat``, ``complete``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._call import raw_state
from .._config import ENDPOINT_TEST_TIMEOUT
from .._errors import VLLMError
from .._secret import SecretLike
from ._primitives import Returns
from ._transport import Transport

if TYPE_CHECKING:
    from .._stream import RawStream

__all__ = ["Seed"]


class Seed(Transport):
    """The seed's raw request helpers, endpoint handlers and probes."""

    def make_post_request(self, path_or_url: str, data: Mapping[str, Any] | None = None,
                                *, files: Mapping[str, Any] | None = None,
                                api_key: str | SecretLike | None = None,
                                timeout: float | None = None,
                                send_api_key: bool = False) -> Any:
        """POST ``data`` as JSON to a route (``"/v1/completions"``) or full URL; returns the body.

        With ``files`` (field name -> a path, bytes, ``(filename, bytes[, content_type])`` or
        a binary file object) the request is a multipart upload and ``data`` its form fields.
        Retried like every request. The body is parsed JSON, or text when it is not JSON.
        The client's key goes only to its own server's origin (scheme, host, port): a full
        URL elsewhere gets no ``Authorization`` unless ``send_api_key=True`` or ``api_key=``.
        """
        call = self._post_call(path_or_url, data, files, api_key, timeout, send_api_key)
        return self._body(call, self._send(call))

    def make_stream_request(self, path_or_url: str, data: Mapping[str, Any], *,
                            api_key: str | SecretLike | None = None) -> RawStream:
        """POST ``data`` with ``stream: true`` (and usage on) and iterate the JSON events."""
        from .._stream import RawStream

        body = {"stream_options": {"include_usage": True}, **data, "stream": True}
        call = self._call("POST", path_or_url, json=body, model=data.get("model"), stream=True,
                          api_key=api_key)
        return RawStream(lambda: self._send(call), raw_state(call),
                              self._stream_finish(call))

    def create_endpoint_handler(
        self, url: str | None = None, *, api_key: str | SecretLike | None = None
    ) -> Callable[[Mapping[str, Any]], Returns[Any]]:
        """A callable that POSTs its dict to ``url`` (default ``/v1/completions``)."""
        target = url or "/v1/completions"

        def handler(data: Mapping[str, Any]) -> Any:
            return self.make_post_request(target, data, api_key=api_key)

        return handler

    def create_chat_endpoint_handler(
        self, url: str | None = None, *, api_key: str | SecretLike | None = None
    ) -> Callable[[Mapping[str, Any]], Returns[Any]]:
        """A callable that POSTs its dict to ``url`` (default ``/v1/chat/completions``)."""
        return self.create_endpoint_handler(url or "/v1/chat/completions", api_key=api_key)

    def test_endpoint(self, url: str | None = None, model: str | None = None) -> bool:
        """Whether a one-token completion on ``url`` succeeds; never raises, never retries."""
        from .. import _batch

        body = _batch.probe_body(False, model or self.model)
        return self._probe(url or "/v1/completions", body)

    def test_chat_endpoint(self, url: str | None = None, model: str | None = None) -> bool:
        """Whether a one-token chat completion on ``url`` succeeds; never raises."""
        from .. import _batch

        body = _batch.probe_body(True, model or self.model)
        return self._probe(url or "/v1/chat/completions", body)

    def _probe(self, url: str, body: dict[str, Any]) -> bool:
        from .. import _batch

        try:
            # The client's timeout, not a short one: a busy server is not a down server.
            call = self._call("POST", url, json=body, model=body.get("model"), max_retries=0)
            return _batch.probe_ok(self._body(call, self._send(call)))
        except VLLMError:
            return False

    def is_compatible_model(self, model: str) -> bool:
        """True if the server serves ``model``; if it is unreachable, a name heuristic decides."""
        from .. import _lora
        from .._model_names import model_name_heuristic
        from .._models import ModelList

        call = self._call("GET", "/v1/models", timeout=ENDPOINT_TEST_TIMEOUT, max_retries=0)
        try:
            served = self._parse(call, self._send(call), ModelList)
        except VLLMError:
            return model_name_heuristic(model)
        return _lora.is_served(served, model)

"""Request building and answer handling of the pooling, audio and server-info routes.

A mixin of :class:`~vllm_accel._base.BaseClient` (no I/O): the twins' methods build a
:class:`~vllm_accel._base.Call` here, send it through their one send loop (retries, statistics,
pool routing, typed errors) and hand the response back here. The payload modules are imported
on first use (import cost).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import InvalidRequestError

if TYPE_CHECKING:
    import httpx

    from ._audio import AudioFile
    from ._base import Call
    from ._client_half import ClientHalf
    from ._models import EmbeddingResponse
    from ._pooling_models import PoolingResponse, Transcription


__all__ = ["PoolingCalls"]


def _decoder(call: Call) -> Callable[[str], list[float]] | None:
    """How to decode the base64 vectors ``call`` asked for (None: floats, or undecodable)."""
    from ._codec import DECODABLE, decode_vector

    body = call.json if isinstance(call.json, dict) else {}
    dtype = str(body.get("embed_dtype") or "float32")
    if body.get("encoding_format") != "base64" or dtype not in DECODABLE:
        return None
    endianness = str(body.get("endianness") or "native")
    return lambda text: decode_vector(text, dtype, endianness)


class PoolingCalls:
    """The pure half of ``rerank``, ``score``, ``classify``, ``pooling``, audio and info."""

    def _rerank_call(self: ClientHalf, query: Any, documents: Any, model: str | None,
                     top_n: int | None, route: str, params: Mapping[str, Any]) -> Call:
        from ._pooling_params import RERANK_ROUTES, rerank_payload

        if route not in RERANK_ROUTES:
            raise InvalidRequestError(f"route must be one of {', '.join(RERANK_ROUTES)}")
        m = self._model(model)
        return self._call("POST", route, model=m,
                          json=rerank_payload(query, documents, m, top_n, params))

    def _score_call(self: ClientHalf, text_1: Any, text_2: Any, model: str | None,
                    params: Mapping[str, Any]) -> Call:
        from ._pooling_params import score_payload

        m = self._model(model)
        return self._call("POST", "/score", model=m,
                          json=score_payload(text_1, text_2, m, params))

    def _classify_call(self: ClientHalf, input: Any, messages: Any, model: str | None,
                       params: Mapping[str, Any]) -> Call:
        from ._pooling_params import classify_payload

        m = self._model(model)
        return self._call("POST", "/classify", model=m,
                          json=classify_payload(input, messages, m, params))

    def _pooling_call(self: ClientHalf, input: Any, messages: Any, model: str | None,
                      params: Mapping[str, Any]) -> Call:
        from ._pooling_params import pooling_payload

        m = self._model(model)
        return self._call("POST", "/pooling", model=m,
                          json=pooling_payload(input, messages, m, params))

    def _audio_call(self: ClientHalf, route: str, file: AudioFile, model: str | None,
                    params: Mapping[str, Any]) -> Call:
        from ._audio import audio_form, audio_upload

        m = self._model(model)
        form = audio_form(m, params)  # parameters first: a bad one never reads the file
        return self._call("POST", route, model=m, files={"file": audio_upload(file)},
                          data=form)

    def _post_call(self: ClientHalf, path_or_url: str, data: Mapping[str, Any] | None,
                   files: Mapping[str, Any] | None, api_key: Any, timeout: float | None,
                   send_api_key: bool = False) -> Call:
        """``make_post_request``: JSON, or a multipart form when ``files`` are given."""
        from ._audio import audio_upload, form_fields

        body = dict(data or {})
        model = body.get("model") if isinstance(body.get("model"), str) else None
        if files is None:
            return self._call("POST", path_or_url, json=body, model=model, api_key=api_key,
                              timeout=timeout, send_api_key=send_api_key)
        uploads = {name: audio_upload(f) for name, f in files.items()}
        return self._call("POST", path_or_url, files=uploads, data=form_fields(body),
                          model=model, api_key=api_key, timeout=timeout,
                          send_api_key=send_api_key)

    def _embeddings(self: ClientHalf, call: Call, response: httpx.Response) -> EmbeddingResponse:
        """Parse an embeddings answer; base64 vectors are decoded to floats."""
        from ._models import EmbeddingResponse

        result = self._parse(call, response, EmbeddingResponse)
        decode = _decoder(call)
        if decode is not None:
            for item in result.data:
                if isinstance(item.embedding, str):
                    item.embedding = decode(item.embedding)
        return result

    def _pooling_result(self: ClientHalf, call: Call, response: httpx.Response) -> PoolingResponse:
        """Parse a pooling answer; base64 outputs are decoded to floats."""
        from ._pooling_models import PoolingResponse

        result = self._parse(call, response, PoolingResponse)
        decode = _decoder(call)
        if decode is not None:
            for item in result.data:
                if isinstance(item.data, str):
                    item.data = decode(item.data)
        return result

    def _transcription(self: ClientHalf, call: Call, response: httpx.Response) -> Transcription:
        """A transcription: JSON formats parsed, text formats (text/srt/vtt) as ``.text``."""
        from ._pooling_models import Transcription

        fmt = (call.data or {}).get("response_format", "json")
        if fmt in ("json", "verbose_json"):
            return self._parse(call, response, Transcription)
        self._record(call, status=response.status_code)
        return Transcription(text=response.text)

"""Audio uploads for ``/v1/audio/transcriptions`` and ``/v1/audio/translations`` (pure).

The file is read into memory once, before anything is sent, so a retried request sends the
same bytes again; the form fields are typed and checked like every other request's.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from ._errors import InvalidRequestError
from ._params import _prepare

__all__ = ["AudioFile", "AudioParams", "audio_form", "audio_upload", "form_fields"]

AudioFile = str | os.PathLike[str] | bytes | tuple[str, bytes] | tuple[str, bytes, str] | Any
"""A path, raw bytes, ``(filename, bytes[, content_type])``, or a binary file object."""


class AudioParams(TypedDict, total=False):
    """The typed optional fields of ``transcribe`` / ``translate`` (vLLM's form fields)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    language: str
    to_language: str
    prompt: str
    response_format: Literal["json", "text", "srt", "verbose_json", "vtt"]
    timestamp_granularities: list[Literal["word", "segment"]]
    temperature: Annotated[float, Field(ge=0.0, le=2.0)]
    top_p: Annotated[float, Field(gt=0.0, le=1.0)]
    top_k: Annotated[int, Field(ge=-1)]
    min_p: Annotated[float, Field(ge=0.0, le=1.0)]
    seed: int
    frequency_penalty: float
    presence_penalty: float
    repetition_penalty: Annotated[float, Field(gt=0.0)]
    max_completion_tokens: Annotated[int, Field(ge=1)]
    hotwords: str
    vllm_xargs: dict[str, Any]


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _from_path(file: str | os.PathLike[str]) -> tuple[str, bytes, str]:
    path = Path(file)
    if not path.is_file():
        raise InvalidRequestError(f"audio file {str(path)!r} does not exist (or is not a file)")
    return path.name, path.read_bytes(), _content_type(path.name)


def audio_upload(file: AudioFile) -> tuple[str, bytes, str]:
    """``(filename, content, content_type)`` of ``file``, read now.

    Raises:
        InvalidRequestError: a missing file, an empty one, or an unsupported kind of value.
    """
    if isinstance(file, str | os.PathLike):
        upload = _from_path(file)
    elif isinstance(file, bytes | bytearray):
        upload = ("audio", bytes(file), "application/octet-stream")
    elif isinstance(file, tuple) and len(file) in (2, 3) and isinstance(file[1], bytes):
        name = str(file[0])
        upload = (name, file[1], str(file[2]) if len(file) == 3 else _content_type(name))
    elif callable(getattr(file, "read", None)):
        content = file.read()  # type: ignore[union-attr]
        if not isinstance(content, bytes):
            raise InvalidRequestError("audio file objects must be opened in binary mode ('rb')")
        name = Path(str(getattr(file, "name", "audio"))).name
        upload = (name, content, _content_type(name))
    else:
        raise InvalidRequestError(
            "file must be a path, bytes, (filename, bytes) or a binary file object, "
            f"got {type(file).__name__}")
    if not upload[1]:
        raise InvalidRequestError(f"audio file {upload[0]!r} is empty")
    return upload


def form_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Multipart form values: strings (lists stay lists of strings, dicts become JSON)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            out[key] = [str(v) for v in value]
        elif isinstance(value, Mapping):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out


def audio_form(model: str | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The checked form fields of an audio request (``extra_body`` merged in)."""
    payload, extra = _prepare(AudioParams, params, stream=False)
    if model:
        payload["model"] = model
    return form_fields({**payload, **extra})

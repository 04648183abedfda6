"""The JSON Lines side of ``batch`` (pure file logic, no network).

Input: one request per line, either a JSON string (a prompt), ``{"prompt": "..."}`` or
``{"messages": [...]}``, each optionally with an ``"id"`` that is copied to its result. Blank
lines are skipped; lines are numbered as in the file (1-based).

Output: one result per input line, in input order::

    {"line": 1, "id": "q1", "ok": true, "text": "...", "finish_reason": "stop", ...}
    {"line": 2, "ok": false, "error": {"type": "BadRequestError", "message": "..."}, ...}

Resuming: a line is finished when the output holds an ``ok`` result for it whose ``input_hash``
matches the line's current text, so a rerun skips finished lines, retries failed ones, and redoes
lines that were edited. Every record also holds ``settings``, a hash of the model, the mode and
the sampling parameters it was made with: a rerun with other settings is refused (``--restart``
runs every line again) rather than mixing old answers into new ones. An existing output file that
is not such a results file is never touched. Results are appended as they finish (an interrupted
run keeps them) and the file is rewritten in input order (through a fresh temporary file that is
created exclusively, never through a symlink) at the start and the end of every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .. import ChatCompletion, Completion, VLLMError

__all__ = [
    "Line",
    "error_record",
    "finished",
    "ok_record",
    "parse_line",
    "read_input",
    "read_results",
    "rewrite",
    "settings_hash",
    "write_records",
]


class ResultsFileError(ValueError):
    """The output file exists but is not a results file (or holds other settings' results)."""

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Line:
    """One request of the input file."""

    number: int
    """1-based line number in the file."""
    digest: str
    """Hash of the line's text: results are reused only for unchanged lines."""
    id: Any = None
    prompt: str | None = None
    messages: list[Any] | None = None
    problem: str | None = None
    """Why the line cannot be sent (it is then recorded as failed without a request)."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


def parse_line(number: int, text: str) -> Line | None:
    """The request on line ``number``; None for a blank line."""
    if not text.strip():
        return None
    digest = _digest(text)
    try:
        data = json.loads(text)
    except ValueError as exc:
        return Line(number, digest, problem=f"not valid JSON: {exc}")
    if isinstance(data, str):
        return Line(number, digest, prompt=data)
    if not isinstance(data, dict):
        return Line(number, digest, problem="expected a JSON string or object")
    ident = data.get("id")
    prompt, messages = data.get("prompt"), data.get("messages")
    if isinstance(prompt, str) and messages is None:
        return Line(number, digest, ident, prompt=prompt)
    if isinstance(messages, list) and messages and prompt is None:
        return Line(number, digest, ident, messages=messages)
    return Line(number, digest, ident,
                problem='expected "prompt" (a string) or "messages" (a non-empty list)')


def read_input(path: Path) -> list[Line]:
    """Every request of a JSON Lines file."""
    with path.open(encoding="utf-8") as fh:
        parsed = (parse_line(n, text) for n, text in enumerate(fh, 1))
        return [line for line in parsed if line is not None]


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A short hash of what the answers depend on (model, mode, sampling parameters)."""
    return hashlib.sha256(json.dumps(dict(settings), sort_keys=True, default=str)
                          .encode()).hexdigest()[:16]


def _is_record(record: Any) -> bool:
    return (isinstance(record, dict) and isinstance(record.get("line"), int)
            and isinstance(record.get("input_hash"), str))


def read_results(path: Path, settings: str | None = None) -> dict[int, Record]:
    """The last result recorded for each line number.

    A last line cut short by a crash is ignored.

    Raises:
        ResultsFileError: the file holds anything else (it is not ours: never rewritten), or
            results made with other ``settings``.
    """
    results: dict[int, Record] = {}
    if not path.exists():
        return results
    texts = [t for t in path.read_text(encoding="utf-8", errors="replace").splitlines()
             if t.strip()]
    for number, text in enumerate(texts, 1):
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not _is_record(record):
            if number == len(texts) and text.lstrip().startswith('{"line"'):
                continue  # a result cut short by a crash
            raise ResultsFileError(f"{path} exists and is not a results file of "
                                   f"`vllm-accel batch` (line {number})")
        results[record["line"]] = record
    other = {r.get("settings") for r in results.values()} - {settings}
    if settings is not None and other:
        raise ResultsFileError(f"{path} holds results made with other settings (model, "
                               "--chat, --max-tokens, --temperature or --seed)")
    return results


def finished(lines: Iterable[Line], results: Mapping[int, Record]) -> set[int]:
    """The line numbers that already have a successful result for their current text."""
    done = set()
    for line in lines:
        record = results.get(line.number)
        if record and record.get("ok") is True and record.get("input_hash") == line.digest:
            done.add(line.number)
    return done


def _head(line: Line) -> Record:
    head: Record = {"line": line.number}
    if line.id is not None:
        head["id"] = line.id
    return head


def ok_record(line: Line, result: ChatCompletion | Completion, latency: float,
              settings: str | None = None) -> Record:
    """The result of a line that succeeded (made with ``settings``)."""
    choice = result.choices[0] if result.choices else None
    record = {**_head(line), "ok": True, "text": result.text, "model": result.model,
              "finish_reason": choice.finish_reason if choice else None}
    if result.usage is not None:
        record["usage"] = {"prompt_tokens": result.usage.prompt_tokens,
                           "completion_tokens": result.usage.completion_tokens}
    record["latency_ms"] = round(latency * 1000, 1)
    record["input_hash"] = line.digest
    if settings is not None:
        record["settings"] = settings
    return record


def error_record(line: Line, error: VLLMError | str, settings: str | None = None) -> Record:
    """The result of a line that failed (locally or on the server)."""
    if isinstance(error, str):
        info: Record = {"type": "InvalidInput", "message": error}
    else:
        info = {"type": type(error).__name__, "message": error.message}
        if error.status_code is not None:
            info["status_code"] = error.status_code
    record = {**_head(line), "ok": False, "error": info, "input_hash": line.digest}
    if settings is not None:
        record["settings"] = settings
    return record


def write_records(fh: IO[str], records: Iterable[Record]) -> None:
    """Append records as JSON Lines and push them to disk."""
    for record in records:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def rewrite(path: Path, lines: Iterable[Line], results: Mapping[int, Record]) -> None:
    """Atomically rewrite ``path`` with one result per input line, in input order.

    Results of lines that are gone or were edited since are dropped.
    """
    # A fresh name created with O_EXCL: an existing file or symlink there is never followed.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write_records(fh, (results[line.number] for line in lines
                               if line.number in results
                               and results[line.number].get("input_hash") == line.digest))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

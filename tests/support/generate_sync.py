"""Generate the sync client ``core/_sync/`` from the async one ``core/_async/`` (as httpcore does).

Run by ``make generate``; ``make check`` runs it with ``--check``, which fails when a generated
file is stale (or missing, or left over). Every module of ``core/_async/`` except the
hand-written ``_primitives.py`` is translated token by token with the ``unasync`` package:
``async``/``await`` go, and the names of :data:`REPLACEMENTS` (plus unasync's own
``__aenter__`` -> ``__enter__``, ...) are mapped, in code and, word by word, in docstrings and
comments. What cannot be translated so lives in each flavour's ``_primitives.py``, under the
same names.

Usage::

    python tests/support/generate_sync.py [--check]
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import tokenize_rt
import unasync

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "core" / "_async"
TARGET = ROOT / "core" / "_sync"
HAND_WRITTEN = frozenset({"_primitives.py"})
"""Written by hand in both packages: everything that differs between the flavours."""

REPLACEMENTS = {
    # httpx's and the builtins' async names (``AsyncX`` -> ``X`` needs no entry, see _Rule)
    "aclose": "close",
    "aread": "read",
    "aiter_raw": "iter_raw",
    "aiter_bytes": "iter_bytes",
    "aiter_lines": "iter_lines",
    "anext": "next",
    "aiter": "iter",
}
"""Async name -> sync name (besides unasync's built-in dunder and typing names)."""

_ASYNC_CLASS = re.compile(r"\bAsync([A-Z]\w*)")
"""``AsyncVLLMClient`` -> ``VLLMClient``, ``AsyncTransport`` -> ``Transport``, ..."""

PROSE = [
    (re.compile(r"\bAn asynchronous\b"), "A synchronous"),
    (re.compile(r"\basynchronous\b"), "synchronous"),
    (re.compile(r"\basync (with|for|def)\b"), r"\1"),
    (re.compile(r"\bawait "), ""),
    (re.compile(r"\b(" + "|".join(map(re.escape, REPLACEMENTS)) + r")\b"),
     lambda match: REPLACEMENTS[match.group(1)]),
    (_ASYNC_CLASS, r"\1"),
]
"""Word-level rewrites of docstrings and comments, so the sync docs speak sync."""

HEADER = ("# Generated from core/_async/{name} by tests/support/generate_sync.py\n"
          "# (make generate); do not edit.\n")


class _Rule(unasync.Rule):  # type: ignore[misc]
    """unasync's rule, with two changes.

    ``AsyncX`` becomes ``X`` (unasync's default is ``SyncX``; httpcore's and this package's
    names are ``X``), and string and comment tokens are rewritten word by word.
    """

    def _unasync_name(self, name: str) -> str:
        if name in self.token_replacements:
            return str(self.token_replacements[name])
        return _ASYNC_CLASS.sub(r"\1", name) if _ASYNC_CLASS.fullmatch(name) else name

    def _unasync_tokens(self, tokens: list[tokenize_rt.Token]) -> Iterator[tokenize_rt.Token]:
        for token in super()._unasync_tokens(tokens):
            if token.name in ("STRING", "COMMENT"):
                text = token.src
                for pattern, replacement in PROSE:
                    text = pattern.sub(replacement, text)  # type: ignore[arg-type]
                token = token._replace(src=text)
            yield token


_RULE = _Rule("/_async/", "/_sync/", additional_replacements=REPLACEMENTS)


def generate(name: str, source: str) -> str:
    """The sync module generated from the async module ``name`` with text ``source``."""
    tokens = tokenize_rt.src_to_tokens(source)
    return HEADER.format(name=name) + tokenize_rt.tokens_to_src(_RULE._unasync_tokens(tokens))


def expected() -> dict[str, str]:
    """File name -> the text it must have in ``core/_sync/``."""
    return {path.name: generate(path.name, path.read_text(encoding="utf-8"))
            for path in sorted(SOURCE.glob("*.py")) if path.name not in HAND_WRITTEN}


def stale() -> list[str]:
    """The generated files of ``core/_sync/`` that are out of date, missing or left over."""
    want = expected()
    have = {path.name for path in TARGET.glob("*.py") if path.name not in HAND_WRITTEN}
    out = sorted(name for name in have - set(want))
    for name, text in want.items():
        path = TARGET / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            out.append(name)
    return out


def write() -> list[str]:
    """Write every generated file (and delete left-over ones); the names that changed."""
    changed = stale()
    want = expected()
    for name in changed:
        path = TARGET / name
        if name in want:
            path.write_text(want[name], encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: list[str]) -> int:
    """``--check``: exit 1 listing the stale files; else regenerate them."""
    if "--check" in argv:
        bad = stale()
        if bad:
            print("core/_sync is stale (run `make generate`): " + ", ".join(bad), file=sys.stderr)
            return 1
        return 0
    for name in write():
        print(f"generated core/_sync/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

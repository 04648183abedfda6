"""Run ``uv`` with the package index settings pip has on this machine.

``make venv`` and the wheel tests' environments (``tests/live/packaging/wheel_envs.py``) install
with uv: the same wheels, resolved the same way, in a fraction of pip's time. uv does not read
pip's configuration (``pip.conf``, ``PIP_*``), so this module reads it with ``pip config list``
and hands it to uv as ``UV_*`` variables: the index URLs, ``find-links``, constraint files, the
CA bundle and the timeout. ``UV_INDEX_STRATEGY=unsafe-best-match`` makes uv pick the best
version over all the indexes, as pip does (uv's default stops at the first index that has the
package). ``UV_COMPILE_BYTECODE=1`` writes the ``.pyc`` files at install time, as pip does: uv
leaves them to the first import by default, and where ``PYTHONDONTWRITEBYTECODE`` is set (it is
on this machine) no import ever writes them, so every interpreter compiled every module again
(measured: ``import langchain_core`` ~3x slower than in a pip-built venv). Settings already
given as ``UV_*`` are kept.

Command line: ``python uv_env.py UV_BINARY ARGS...`` runs ``UV_BINARY ARGS...`` so.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Mapping

_LISTS = {  # pip key -> (uv variable, separator)
    "index-url": ("UV_INDEX_URL", " "),
    "extra-index-url": ("UV_EXTRA_INDEX_URL", " "),
    "find-links": ("UV_FIND_LINKS", ","),
    "constraint": ("UV_CONSTRAINT", " "),
    "trusted-host": ("UV_INSECURE_HOST", " "),
}
_SECTIONS = ("global", "install", ":env:")
"""pip's precedence, lowest first: an install-section or a ``PIP_*`` value replaces a global one."""


def pip_settings(python: str = sys.executable) -> dict[str, str]:
    """pip's effective options (``key -> value``), as ``python -m pip config list`` shows them."""
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True,
                            text=True, check=True, timeout=60).stdout
    found: dict[str, dict[str, str]] = {}
    for line in listed.splitlines():
        name, sep, value = line.partition("=")
        section, _, key = name.rpartition(".")
        if sep and section in _SECTIONS:
            found.setdefault(section, {})[key] = str(ast.literal_eval(value))
    merged: dict[str, str] = {}
    for section in _SECTIONS:
        merged.update(found.get(section, {}))
    return merged


def uv_environ(settings: Mapping[str, str], base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``base`` plus the ``UV_*`` variables that give uv pip's ``settings``."""
    env = {"UV_INDEX_STRATEGY": "unsafe-best-match", "UV_COMPILE_BYTECODE": "1"}
    for key, (variable, sep) in _LISTS.items():
        if settings.get(key):
            env[variable] = sep.join(settings[key].split())
    if settings.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        env["UV_NO_INDEX"] = "1"
    if settings.get("cert"):
        env["SSL_CERT_FILE"] = settings["cert"]
    if settings.get("default-timeout"):
        env["UV_HTTP_TIMEOUT"] = settings["default-timeout"]
    return {**env, **base}


def main(argv: list[str]) -> int:
    """Run ``argv`` (``uv`` and its arguments) with pip's index settings."""
    return subprocess.run(argv, env=uv_environ(pip_settings()), check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

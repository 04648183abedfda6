"""``python -m bench``: the benchmark's own environment first, then the run.

The anchors (openai, langchain-openai, llama-index-llms-openai-like) and matplotlib live only in
``bench/.venv``, never in the package's ``.venv``. Whatever interpreter starts this module, it
creates or refreshes ``bench/.venv`` (``-e '.[langchain,llamaindex,bench]'``, again only when
``pyproject.toml`` changed) and re-executes itself there. No Makefile step is needed.

The set-up counts toward ``make bench``'s 20 minutes, so it installs with uv (bootstrapped into
``bench/.venv`` by pip, then ``uv pip install`` run through ``tests/support/uv_env.py``, the
script that hands uv this machine's pip settings for ``make venv`` too), and falls back to pip
if uv fails. Its seconds are logged (``VLLM_ACCEL_BENCH_SETUP_S``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv"
EXTRAS = "langchain,llamaindex,bench"
STARTED_ENV = "VLLM_ACCEL_BENCH_STARTED"
SETUP_ENV = "VLLM_ACCEL_BENCH_SETUP_S"
UV_ENV = ROOT / "tests" / "support" / "uv_env.py"
"""The one translation of this machine's pip settings for uv (``make venv`` uses it too)."""


def _in_bench_env() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _fingerprint() -> str:
    data = (ROOT / "pyproject.toml").read_bytes() + EXTRAS.encode()
    return hashlib.sha256(data).hexdigest()


def _install(python: Path, out: IO[str]) -> bool:
    """``-e .[extras]`` into ``python``'s venv with uv (pip bootstraps it); pip if uv fails."""
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    target = ["-e", f"{ROOT}[{EXTRAS}]"]
    if subprocess.run([*pip, "install", "-q", "uv"], stdout=out, stderr=subprocess.STDOUT,
                      check=False).returncode == 0:
        uv = [str(python), str(UV_ENV), str(python.parent / "uv"), "pip", "install",
              "--python", str(python), *target]
        if subprocess.run(uv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode == 0:
            return True
        out.write("bench: uv failed, installing with pip\n")
    return subprocess.run([*pip, "install", "-q", *target], stdout=out,
                          stderr=subprocess.STDOUT, check=False).returncode == 0


def ensure_env() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".ready"
    want = _fingerprint()
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    print(f"bench: preparing {VENV.relative_to(ROOT)} (anchors: bench extra) ...", flush=True)
    t0 = time.perf_counter()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    log = ROOT / "bench" / "results" / "tmp-pip.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        ok = _install(python, out)
    if not ok:
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"bench: install failed (log: {log})")
    stamp.write_text(want)
    os.environ[SETUP_ENV] = f"{time.perf_counter() - t0:.1f}"
    print(f"bench: {VENV.relative_to(ROOT)} ready in {os.environ[SETUP_ENV]} s", flush=True)
    return python


def main() -> int:
    # The run's time budget counts from here, the bench environment's set-up included.
    os.environ.setdefault(STARTED_ENV, str(time.time()))
    if not _in_bench_env():
        python = ensure_env()
        os.chdir(ROOT)
        os.execv(str(python), [str(python), "-m", "bench", *sys.argv[1:]])
    from .run import main as run_main

    return run_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())

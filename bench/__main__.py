"""``python -m bench``: the benchmark's own environment first, then the run.

The anchors (openai, langchain-openai, llama-index-llms-openai-like) and matplotlib live only in
``bench/.venv``, never in the package's ``.venv``. Whatever interpreter starts this module, it
creates or refreshes ``bench/.venv`` (``pip install -e '.[langchain,llamaindex,bench]'``, again
only when ``pyproject.toml`` changed) and re-executes itself there. No Makefile step is needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv"
EXTRAS = "langchain,llamaindex,bench"
STARTED_ENV = "VLLM_ACCEL_BENCH_STARTED"


def _in_bench_env() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _fingerprint() -> str:
    data = (ROOT / "pyproject.toml").read_bytes() + EXTRAS.encode()
    return hashlib.sha256(data).hexdigest()


def ensure_env() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".ready"
    want = _fingerprint()
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    print(f"bench: preparing {VENV.relative_to(ROOT)} (anchors: bench extra) ...", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    log = ROOT / "bench" / "results" / "tmp-pip.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
             "-e", f"{ROOT}[{EXTRAS}]"], stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"bench: pip install failed (log: {log})")
    stamp.write_text(want)
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

"""The wheel of the repository and one fresh virtual environment per extra, built in the
background (``conftest.py`` launches the build early; ``test_wheel_install.py`` waits for it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
EXTRAS = (None, "langchain", "llamaindex", "cli")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)


def _venv(tmp: Path, wheel: Path, extra: str | None) -> Path:
    """A fresh environment with the wheel (and ``extra``) installed by this pip (no ensurepip,
    no byte-compiling: the slow parts of making a venv)."""
    env = tmp / (extra or "plain")
    made = run([sys.executable, "-m", "venv", "--without-pip", str(env)], tmp)
    assert made.returncode == 0, made.stderr
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    pip = run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
               "-q", "--no-compile", "--disable-pip-version-check", target], tmp)
    assert pip.returncode == 0, pip.stderr
    return env


def build(out: Path) -> dict[str | None, Path]:
    """The wheel, built once, installed into one fresh venv per case, all at once."""
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                 str(ROOT)], out)
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("vllm_accel-*.whl")
    with ThreadPoolExecutor(len(EXTRAS)) as pool:
        return dict(zip(EXTRAS, pool.map(lambda e: _venv(out, wheel, e), EXTRAS), strict=True))


class WheelEnvs:
    """The build as an early-launched job (``support/early.py``): ``launch`` starts it in a
    thread (pip runs in subprocesses), ``result`` waits for it, ``stop`` removes the files."""

    def __init__(self) -> None:
        self.out = Path(tempfile.mkdtemp(prefix="vllm-accel-wheel-"))
        self._future: Future[dict[str | None, Path]] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="wheel-envs")

    def launch(self) -> WheelEnvs:
        if self._future is None:
            self._future = self._pool.submit(build, self.out)
        return self

    def result(self) -> dict[str | None, Path]:
        """The environments by extra; a failed build raises here (an error in each test)."""
        assert self._future is not None
        return self._future.result(timeout=900)

    def stop(self) -> None:
        self._pool.shutdown(wait=True)
        shutil.rmtree(self.out, ignore_errors=True)

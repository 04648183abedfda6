"""The wheel of the repository and one fresh virtual environment per extra, built in the
background (``conftest.py`` launches the build early; ``test_wheel_install.py`` waits for it)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from support.uv_env import pip_settings, uv_environ
from uv import find_uv_bin

ROOT = Path(__file__).resolve().parents[3]
EXTRAS = (None, "langchain", "llamaindex", "cli")


def run(args: list[str], cwd: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@functools.cache
def _uv_environ() -> dict[str, str]:
    return uv_environ(pip_settings())


def _uv(*args: str, cwd: Path) -> None:
    """``uv ARGS`` with pip's index settings (``support/uv_env.py``); a failure fails the build."""
    done = run([find_uv_bin(), *args], cwd, _uv_environ())
    assert done.returncode == 0, done.stderr


def _venv(tmp: Path, wheel: Path, extra: str | None) -> Path:
    """A fresh environment with the wheel (and ``extra``) installed from the registry: uv
    resolves the wheel's own ``Requires-Dist`` metadata as pip would."""
    env = tmp / (extra or "plain")
    _uv("venv", "-q", "--python", sys.executable, str(env), cwd=tmp)
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    _uv("pip", "install", "-q", "--python", str(env / "bin" / "python"), target, cwd=tmp)
    return env


def build(out: Path) -> dict[str | None, Path]:
    """The wheel, built once (by the project's setuptools backend, isolated), installed into one
    fresh venv per case, all at once."""
    _uv("build", "--wheel", "-q", "-o", str(out), str(ROOT), cwd=out)
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

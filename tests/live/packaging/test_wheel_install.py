"""The package installs the way users install it: a wheel, into fresh virtual environments.

The wheel is built once from the repository (``pip wheel --no-deps``); each environment installs
it with no extra or with one extra alone, from the registry through the local pip cache. With
its extra, an integration imports and builds its objects and the ``vllm-accel`` command runs;
without it, each says in one line which extra to install (no traceback from the command).
No server is needed.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]

LANGCHAIN = (
    "from langchain_vllm_accel import ChatVLLM, VLLMEmbeddings\n"
    "m = ChatVLLM(endpoints=['http://127.0.0.1:1', 'http://localhost:1'])\n"
    "print(type(m).__name__, m.profile.get('structured_output'))"
)
LLAMAINDEX = (
    "from llamaindex_vllm_accel import VLLM, VLLMEmbedding\n"
    "m = VLLM(endpoints=['http://127.0.0.1:1'], context_window=9, is_function_calling=False)\n"
    "print(type(m).__name__, m.metadata.context_window)"
)
CORE = "from vllm_accel import VLLMClient; print(VLLMClient('http://127.0.0.1:1').base_url)"


EXTRAS = (None, "langchain", "llamaindex", "cli")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)


def _venv(tmp: Path, wheel: Path, extra: str | None) -> Path:
    """A fresh environment with the wheel (and ``extra``) installed by this pip (no ensurepip,
    no byte-compiling: the slow parts of making a venv)."""
    env = tmp / (extra or "plain")
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(env)], tmp)
    assert made.returncode == 0, made.stderr
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    pip = _run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
                "-q", "--no-compile", "--disable-pip-version-check", target], tmp)
    assert pip.returncode == 0, pip.stderr
    return env


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, Path]:
    """The wheel, built once, installed into one fresh venv per case, all at once."""
    out = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                  str(ROOT)], out)
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("vllm_accel-*.whl")
    with ThreadPoolExecutor(len(EXTRAS)) as pool:
        made = dict(zip(EXTRAS, pool.map(lambda e: _venv(out, wheel, e), EXTRAS), strict=True))
    return made


def _one_line_hint(result: subprocess.CompletedProcess[str], extra: str) -> None:
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert f"pip install 'vllm-accel[{extra}]'" in last, result.stderr


@pytest.mark.parametrize("extra", EXTRAS)
def test_wheel_installs_alone_and_with_each_extra(
    envs: dict[str | None, Path], tmp_path: Path, extra: str | None
) -> None:
    env = envs[extra]
    python, script = str(env / "bin" / "python"), str(env / "bin" / "vllm-accel")

    core = _run([python, "-c", CORE], tmp_path)
    assert core.stdout.strip() == "http://127.0.0.1:1", core.stderr

    for module, code, name in (("langchain", LANGCHAIN, "ChatVLLM True"),
                               ("llamaindex", LLAMAINDEX, "VLLM 9")):
        result = _run([python, "-c", code], tmp_path)
        if extra == module:
            assert result.returncode == 0, result.stderr
            assert result.stdout.strip() == name
        else:
            _one_line_hint(result, module)

    cli = _run([script, "--help"], tmp_path)
    if extra == "cli":
        assert cli.returncode == 0, cli.stderr
        assert "Usage" in cli.stdout
    else:
        _one_line_hint(cli, "cli")
        assert "Traceback" not in cli.stderr
        assert cli.stderr.count("\n") == 1

"""The package installs the way users install it: a wheel, into fresh virtual environments.

The wheel is built once from the repository (``uv build --wheel``: the project's setuptools
backend, as ``pip wheel`` runs it); each environment installs it with no extra or with one extra
alone, from the registry (``uv pip install``, with pip's index settings: it resolves the wheel's
``Requires-Dist`` metadata and extras as pip does, in a fraction of the time). With
its extra, an integration imports and builds its objects and the ``vllm-accel`` command runs;
without it, each says in one line which extra to install (no traceback from the command).
No server is needed. The wheel and environments are built by ``wheel_envs.py``, launched early
by ``conftest.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from wheel_envs import EXTRAS
from wheel_envs import run as _run

pytestmark = pytest.mark.slow

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

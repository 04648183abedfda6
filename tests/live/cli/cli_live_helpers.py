"""Helpers of the CLI live tests: run the installed ``vllm-accel`` script as a user does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BIN = str(Path(sys.executable).parent)
SCRIPT = shutil.which("vllm-accel", path=_BIN)


@dataclass(frozen=True)
class Run:
    """What one invocation of the script did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __str__(self) -> str:  # shown by failed asserts
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any VLLM_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLLM_")}
    env.update(COLUMNS="200", NO_COLOR="1", **extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 300) -> Run:
    """Run ``vllm-accel ARGS`` and wait for it."""
    assert SCRIPT, f"vllm-accel is not installed next to {sys.executable}"
    done = subprocess.run([SCRIPT, *args], env=env if env is not None else clean_env(),
                          input=input, capture_output=True, text=True, timeout=timeout,
                          check=False)
    return Run(done.returncode, done.stdout, done.stderr)


Cli = Callable[..., Run]

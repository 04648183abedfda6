"""Helpers of the CLI live tests: run the installed ``vllm-accel`` script as a user does."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
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


class Serve:
    """``vllm-accel serve --no-embeddings --json --api-key KEY``, as a user starts it: the serve
    test reads its first line and stops it with Ctrl-C. Started by the test, its server's boot
    (~30 s) was waited for while nothing else ran; launched early, it boots while the rest of
    the core and the CLI command tests run."""

    def __init__(self) -> None:
        self.key = f"sk-serve-{uuid.uuid4().hex[:8]}"
        self.folder = Path(tempfile.mkdtemp(prefix="vllm-accel-serve-"))
        self.stderr = self.folder / "serve.stderr"
        self.proc: subprocess.Popen[str] | None = None

    def launch(self) -> Serve:
        if self.proc is None:
            assert SCRIPT is not None
            with self.stderr.open("w") as err:
                self.proc = subprocess.Popen(
                    [SCRIPT, "serve", "--no-embeddings", "--json", "--api-key", self.key],
                    stdout=subprocess.PIPE, stderr=err, text=True, env=clean_env(),
                    # A run started in the background by a non-interactive shell inherits
                    # SIGINT ignored (POSIX); give the child a terminal foreground job's.
                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        return self

    def stop(self) -> None:
        """Ctrl-C it if the test did not (it stops its server), then remove its files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

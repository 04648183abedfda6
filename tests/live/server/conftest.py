"""The launcher tests' own process: the parent of the orphan test, launched early.

``test_stop_leaves_no_process_and_parent_death_kills_server`` needs a Python process that starts
an embedding server and then is killed. Started by the test, its ~30 s boot was waited for while
nothing else ran; planned here (``support/early.py``) it is launched when the pool replicas are
released (or when collection ends if no pool test is selected), so it boots while the tests
before it run (``test_server_that_dies_on_start_quotes_its_log`` alone takes ~20 s).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from support.early import EARLY, Group

from vllm_accel.server import prepare

ORPHAN_TEST = ("tests/live/server/test_embedded_server.py::"
               "test_stop_leaves_no_process_and_parent_death_kills_server")


class OrphanParent:
    """A Python process that starts a real embedding server, prints ``pid base_url`` and sleeps
    until it is killed (the test kills it with SIGKILL: no atexit, no cleanup of its own)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def launch(self) -> OrphanParent:
        if self.proc is None:
            models = prepare()
            script = textwrap.dedent(f"""
                import sys, time
                from pathlib import Path
                from vllm_accel.server import ServerSpec, VLLMServer
                spec = ServerSpec(model=Path({str(models.embedding_model)!r}),
                                  served_model_name="orphan", runner="pooling",
                                  max_model_len=256, dtype="float32",
                                  python=Path({str(models.python)!r}))
                server = VLLMServer(spec).start()
                print(server.pid, server.base_url, flush=True)
                time.sleep(3600)
            """)
            self.proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                         text=True)
        return self

    def stop(self) -> None:
        """Kill the parent if the test did not (its server follows it: the tested behaviour)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


EARLY.plan(Group("orphan", (ORPHAN_TEST,), lambda: [OrphanParent()], after="replicas"))


@pytest.fixture
def orphan_parent() -> subprocess.Popen[str]:
    """The launched parent process (launched now if it was not launched early)."""
    (parent,) = EARLY.take("orphan")
    assert isinstance(parent, OrphanParent)
    proc = parent.launch().proc
    assert proc is not None
    return proc

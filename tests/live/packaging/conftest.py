"""The packaging tests' environments are built early.

Building the wheel and its four fresh environments took ~36 s of the session, waited for while
nothing else ran. The build is planned here (``support/early.py``): it is launched when the
reliability tests end (with the pool replicas), so it runs while the LangChain and LlamaIndex
tests do, or when collection ends if no reliability test is selected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.early import EARLY, Group
from wheel_envs import WheelEnvs

EARLY.plan(Group("wheel", ("tests/live/packaging/",), lambda: [WheelEnvs()], after="keyed"))


@pytest.fixture(scope="module")
def envs() -> Iterator[dict[str | None, Path]]:
    """The environments by extra (built now if the build was not launched early)."""
    (job,) = EARLY.take("wheel")
    assert isinstance(job, WheelEnvs)
    try:
        yield job.launch().result()
    finally:
        job.stop()

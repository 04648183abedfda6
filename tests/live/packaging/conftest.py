"""The packaging tests' environments are built early.

Building the wheel and its four fresh environments (uv, ``wheel_envs.py``) is planned here
(``support/early.py``): it is launched when the CLI serve test ends (with the first pool
replica), so it runs while the docs and the mostly waiting reliability tests do, or when
collection ends if the serve test is not selected. (Launched with the second replica at the
start of the LangChain tests, the pip build of the time took their first agent test from 30 s
to 85-105 s.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.early import EARLY, Group
from wheel_envs import WheelEnvs

EARLY.plan(Group("wheel", ("tests/live/packaging/",), lambda: [WheelEnvs()], after="serve"))


@pytest.fixture(scope="module")
def envs() -> Iterator[dict[str | None, Path]]:
    """The environments by extra (built now if the build was not launched early)."""
    (job,) = EARLY.take("wheel")
    assert isinstance(job, WheelEnvs)
    try:
        yield job.launch().result()
    finally:
        job.stop()

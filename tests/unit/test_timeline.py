"""The run's time table (tests/support/timeline.py)."""

from __future__ import annotations

import pytest
from support.timeline import Timeline

pytestmark = pytest.mark.unit


def test_phases_add_up_per_file_and_per_folder() -> None:
    t = Timeline()
    t.add("tests/live/pool/test_pool_live.py::test_a", 30.0)
    t.add("tests/live/pool/test_pool_live.py::test_a", 1.5)  # its teardown
    t.add("tests/live/core/test_x.py::test_b[sync]", 2.0)
    t.add("tests/unit/test_code_size.py::test_c", 0.5)
    assert t.files["tests/live/pool/test_pool_live.py"] == 31.5
    assert t.folders() == {"live/pool": 31.5, "live/core": 2.0, "unit": 0.5}

    lines: list[str] = []

    class Reporter:
        def section(self, title: str) -> None:
            lines.append(title)

        def write_line(self, line: str) -> None:
            lines.append(line)

    t.write(Reporter(), top=1)
    assert lines[0] == "time per folder (34 s in tests)"
    assert lines[1].endswith("live/pool")
    assert "31.5 s" in lines[1]
    assert lines[-1].endswith("tests/live/pool/test_pool_live.py")

"""Where a test run's time goes: seconds per folder and per file, printed at the end.

Every phase report (setup, call, teardown) adds its duration to its file and to its folder
(``unit/core``, ``live/reliability``, ...); a session fixture's start-up counts in the setup
of the first test that needs it. ``make test`` prints both tables, so a clean-clone CI log says
which tier and file to look at when the run is slow.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class Timeline:
    """Seconds per test file and per folder of ``tests/``."""

    def __init__(self) -> None:
        self.files: defaultdict[str, float] = defaultdict(float)

    def add(self, nodeid: str, seconds: float) -> None:
        """Add one phase report's duration to the file of ``nodeid``."""
        self.files[nodeid.split("::", 1)[0]] += seconds

    def folders(self) -> dict[str, float]:
        """Seconds per folder (the two path parts under ``tests/``), largest first."""
        out: defaultdict[str, float] = defaultdict(float)
        for path, seconds in self.files.items():
            parts = path.removeprefix("tests/").split("/")
            out["/".join(parts[:2]) if len(parts) > 2 else parts[0]] += seconds
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def write(self, reporter: Any, top: int = 15) -> None:
        """The folder table and the ``top`` slowest files, as a terminal summary section."""
        reporter.section(f"time per folder ({sum(self.files.values()):.0f} s in tests)")
        for folder, seconds in self.folders().items():
            reporter.write_line(f"{seconds:8.1f} s  {folder}")
        reporter.write_line(f"slowest {top} files:")
        for path, seconds in sorted(self.files.items(), key=lambda kv: -kv[1])[:top]:
            reporter.write_line(f"{seconds:8.1f} s  {path}")


TIMELINE = Timeline()

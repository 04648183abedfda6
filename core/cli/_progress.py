"""Step progress for long set-up work (the server environment, the models, vLLM loading them).

That work is a handful of steps of unknown length (a pip install, a LoRA training run, a model
load), so each step gets its own line with a spinner, a pulsing bar and its elapsed time, and
keeps its final duration once the next step starts. No percentage is invented. On a console that
is not a terminal (CI logs, pipes) each step is one plain line instead of redrawn bars.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["Steps"]


class Steps:
    """A context manager; call it with each step's description as the step starts.

    It is a ``Callable[[str], None]``, so it can be passed wherever set-up code takes a
    ``progress`` callback (:func:`vllm_accel.server.prepare`, :class:`EmbeddedServers`).
    """

    def __init__(self, console: Console, prefix: str = "[vllm-accel] ") -> None:
        self._console = console
        self._prefix = prefix
        self._live = console.is_terminal
        self._bars = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._current: TaskID | None = None

    def __call__(self, description: str) -> None:
        if not self._live:
            self._console.print(f"{self._prefix}{description}", markup=False, highlight=False,
                               soft_wrap=True)
            return
        self._finish()
        self._current = self._bars.add_task(escape(description), total=None)

    def _finish(self) -> None:
        if self._current is not None:
            self._bars.update(self._current, total=1, completed=1)
            self._bars.stop_task(self._current)
            self._current = None

    def __enter__(self) -> Steps:
        if self._live:
            self._bars.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._live:
            return
        if et is None:
            self._finish()
        self._bars.stop()

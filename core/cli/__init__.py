"""The ``vllm-accel`` command line (needs the ``cli`` extra: typer and rich).

Only the console script (and :class:`Steps`, the set-up progress display ``make demo`` also
uses) imports this package; ``import vllm_accel`` never does.

Example:
    .. code-block:: console

        $ vllm-accel serve &                   # the embedded SmolLM2 + MiniLM servers
        $ export VLLM_BASE_URL=http://127.0.0.1:PORT
        $ vllm-accel chat --once "Hi!"
        $ vllm-accel batch prompts.jsonl       # -> prompts.results.jsonl, resumable
        $ vllm-accel stats --watch

Exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 server unreachable, 130 interrupted.
"""

from __future__ import annotations

from ._app import app, main
from ._progress import Steps

__all__ = ["Steps", "app", "main"]

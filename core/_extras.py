"""One-line messages for a missing optional extra (no traceback for a user's install problem).

``pip install vllm-accel`` installs the core client only; the integrations and the command line
need their extras. Each entry point checks its extra first and says which one to install.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["cli_main", "missing", "require"]


def missing(*modules: str) -> str | None:
    """The first of ``modules`` (dotted names allowed) that is not installed, or None."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            return module
    return None


def _message(what: str, extra: str, module: str) -> str:
    return f"{what} needs the '{extra}' extra ({module} is not installed): " \
           f"pip install 'vllm-accel[{extra}]'"


def require(what: str, extra: str, *modules: str) -> None:
    """Raise a one-line ``ImportError`` naming the extra when one of ``modules`` is missing.

    Raises:
        ImportError: with ``name`` set to the missing module.
    """
    absent = missing(*modules)
    if absent is not None:
        raise ImportError(_message(what, extra, absent), name=absent)


def cli_main() -> None:
    """The ``vllm-accel`` console script: without the ``cli`` extra, one line and exit 1."""
    absent = missing("typer", "rich")
    if absent is not None:
        sys.stderr.write("vllm-accel: " + _message("the command line", "cli", absent) + "\n")
        raise SystemExit(1)
    from .cli import main

    main()

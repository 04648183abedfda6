"""Reading one figure out of a bench result: ``get(data, "throughput", "sizes", "64")``."""

from __future__ import annotations

from typing import Any


def get(data: dict[str, Any], *keys: str) -> Any:
    """The value under ``keys`` in nested dicts, or None where any step is missing."""
    cur: Any = data
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur

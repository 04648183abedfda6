"""Which batch input, if any, the current thread or task is invoking.

Kept apart from ``_batch`` (which imports the core's batch machinery) so that ``ChatVLLM``'s
single requests ask "am I in a batch?" without that import: ``_batch`` sets the slot, this
module only holds and reads it.
"""

from __future__ import annotations

import contextvars
from typing import Any

__all__ = ["SLOT", "current"]

SLOT: contextvars.ContextVar[tuple[Any, int] | None] = contextvars.ContextVar(
    "vllm_accel_batch_slot", default=None)
"""The ``(gather, index)`` of the input the current thread/task is invoking, if in a batch."""


def current() -> tuple[Any, int] | None:
    """The batch slot of this input, once.

    A second ``_generate`` in the same run (e.g. a retry inside a chain) is sent alone.
    """
    slot = SLOT.get()
    if slot is not None and slot[0].claim(slot[1]):
        return slot
    return None

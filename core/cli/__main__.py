"""``python -m vllm_accel.cli``: the same as the ``vllm-accel`` console script."""

from __future__ import annotations

from .._extras import cli_main

cli_main()

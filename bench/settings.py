"""The throughput cell's request settings, shared by its paths and the anchors."""

from __future__ import annotations

from typing import Any

MODEL = "smollm2"
MAX_TOKENS = 6
"""Six answer tokens (was 16, then 8; the issue's table 32): every path does the same server work
in the same repetition, so the ratios still compare the clients; fewer tokens make the fixed
cost of each request (the client, HTTP, the server's rendering) a larger share of the wall time,
so the differences between paths are larger than with long answers. At 8 tokens one repetition
of the 13 paths took ~222 s on a quiet machine (e3768ab, less the diagnostic path since moved
to ``bench/batch_phases.py``), three ~666 s, more than ``make bench``'s 20 minutes leave after
the other sections (~450-480 s measured or scaled, the affinity cell's ~130 s not counted);
decode is about half of a path's server time at 128 prompts (``bench/batch_phases.py``: time
to first token 4.7 s of 10.2 s end-to-end), so 6 tokens take ~14% off, ~570 s for three.
Measured on a one-core chat server at load ~10 (3 interleaved repetitions of the raw fan-out):
6 tokens over 8 took x0.90 the time at 64 prompts and x0.87 at 128 (medians; noisy)."""
LOOP_CAP = 8
NO_EOS = {"0": -100.0, "1": -100.0, "2": -100.0}
"""SmolLM2's ``<|endoftext|>``, ``<|im_start|>`` and ``<|im_end|>`` banned: every answer runs to
``max_tokens``. Unlike ``ignore_eos`` (which ``/v1/chat/completions/batch`` drops silently, so a
batch carrying it fans out), ``logit_bias`` is honoured by every route, so the chat batch paths
go out as one request and every path, the ceiling included, does the same work."""
EXTRA: dict[str, Any] = {"logit_bias": NO_EOS}
FANOUT_EXTRA: dict[str, Any] = {**EXTRA, "ignore_eos": True}
"""The pool rows: ``ignore_eos`` (a no-op next to the bias) keeps them off the batch route, so
they measure the fan-out they stand for."""

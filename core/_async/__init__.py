"""The client, one module per concern; ``vllm_accel._sync`` is generated from ``vllm_accel._async``.

Each concern is a mixin on :class:`~vllm_accel._async._transport.AsyncTransport`, composed in
:mod:`vllm_accel._async.client`. Only ``_primitives.py`` is written for each flavour
(``make generate`` writes the rest of ``vllm_accel._sync``; see ``docs/design.md``).
"""

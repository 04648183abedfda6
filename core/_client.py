"""``vllm_accel._client``: where ``VLLMClient`` used to live (kept for existing imports).

The sync client is generated from the async one: see ``vllm_accel._sync`` and
``docs/design.md``.
"""

from __future__ import annotations

from ._sync.client import VLLMClient

__all__ = ["VLLMClient"]

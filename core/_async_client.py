"""``vllm_accel._async_client``: where ``AsyncVLLMClient`` used to live (kept for imports).

The async client is ``vllm_accel._async`` (one module per concern); see ``docs/design.md``.
"""

from __future__ import annotations

from ._async.client import AsyncVLLMClient

__all__ = ["AsyncVLLMClient"]

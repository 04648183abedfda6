"""The LangChain live tier: the standard suite's multimodal tests do not apply to SmolLM2."""

from __future__ import annotations

from pathlib import Path

import pytest

MULTIMODAL_STANDARD_TESTS = frozenset({
    "test_image_inputs", "test_audio_inputs", "test_pdf_inputs", "test_image_tool_message",
    "test_pdf_tool_message",
})
"""langchain-tests methods that need a multimodal model and images from the internet.

Neither exists here; test_langchain_standard_live.py checks instead that each kind of part
reaches the real text-only server and comes back as a typed 400. They are deselected (and
counted as such in pytest's summary) rather than reported as skips.
"""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the standard multimodal tests of the chat suite."""
    here = Path(__file__).parent
    chosen, dropped = [], []
    for item in items:
        in_suite = Path(str(item.path)).parent == here and "TestChatVLLMIntegration" in item.nodeid
        name = getattr(item, "originalname", item.name)
        (dropped if in_suite and name in MULTIMODAL_STANDARD_TESTS else chosen).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = chosen

"""langchain-tests standard integration suites against the real embedded vLLM servers.

Chat: SmolLM2-135M-Instruct (``smollm2``) with the hermes tool parser and auto tool choice; the
"pirate" LoRA adapter is the ``model_override_value``. Embeddings: MiniLM (``minilm``).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
)

from langchain_vllm_accel import ChatVLLM, VLLMEmbeddings

pytestmark = pytest.mark.live


class TestChatVLLMIntegration(ChatModelIntegrationTests):
    _base_url: str = ""

    @pytest.fixture(autouse=True)
    def _servers(self, chat_server_url: str, pirate_adapter: str) -> None:
        type(self)._base_url = chat_server_url

    @property
    def chat_model_class(self) -> type[ChatVLLM]:
        return ChatVLLM

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "model": "smollm2",
            "base_url": self._base_url,
            "temperature": 0,
            "max_tokens": 64,
        }

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "pirate"


class TestVLLMEmbeddingsIntegration(EmbeddingsIntegrationTests):
    _base_url: str = ""

    @pytest.fixture(autouse=True)
    def _servers(self, embed_server_url: str) -> None:
        type(self)._base_url = embed_server_url

    @property
    def embeddings_class(self) -> type[VLLMEmbeddings]:
        return VLLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "minilm", "base_url": self._base_url}

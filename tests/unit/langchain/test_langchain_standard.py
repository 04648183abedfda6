"""langchain-tests standard unit suites (construction only; no server, sockets blocked)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests

from langchain_vllm_accel import ChatVLLM, VLLMEmbeddings

pytestmark = pytest.mark.unit

ENV = {
    "VLLM_BASE_URL": "http://vllm.example:9000",
    "VLLM_API_KEY": "env-key",
    "VLLM_MODEL": "env-model",
}
EXPECTED = {"base_url": "http://vllm.example:9000", "api_key": "env-key", "model": "env-model"}


class TestChatVLLMUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatVLLM]:
        return ChatVLLM

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "smollm2", "base_url": "http://localhost:8000"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ENV, {}, EXPECTED

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "pirate"

    @pytest.mark.xfail(
        reason="langchain-core limit, not ours: load(allowed_objects='all') admits only classes "
        "listed in langchain-core's own serialization mapping, so no out-of-tree integration "
        "can pass; the round trip with allowed_objects=[ChatVLLM] is tested in "
        "test_langchain_params.py::test_dumpd_load_round_trip_hides_the_key",
        raises=ValueError,
        strict=True,
    )
    def test_serdes(self, model: Any, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)


class TestVLLMEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[VLLMEmbeddings]:
        return VLLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "minilm", "base_url": "http://localhost:8001"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ENV, {}, EXPECTED

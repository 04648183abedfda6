"""langchain-tests standard integration suites against the real embedded vLLM servers.

Chat: SmolLM2-135M-Instruct (``smollm2``) with the hermes tool parser and auto tool choice; the
"pirate" LoRA adapter is the ``model_override_value``; ``test_agent_loop`` runs on the "tools"
adapter. Embeddings: MiniLM (``minilm``).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
)

from langchain_vllm_accel import ChatVLLM, VLLMBadRequestError, VLLMEmbeddings
from vllm_accel.server import TOOLS_LORA_NAME

pytestmark = pytest.mark.live

# A 1x1 transparent PNG and a minimal PDF: enough for the server to see what kind of part it got.
PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF_B64 = "JVBERi0xLjQKJSVFT0YK"
PDF_PART = {"type": "file", "base64": PDF_B64, "mime_type": "application/pdf",
            "filename": "doc.pdf"}
NOT_MULTIMODAL = "smollm2 is not a multimodal model"
NO_FILE_PARTS = "Unsupported chat content part type: 'file'"


def _tool_turn(block: dict[str, Any]) -> list[BaseMessage]:
    call: dict[str, Any] = {"type": "tool_call", "id": "call-1", "name": "fetch_attachment",
                            "args": {}}
    return [
        HumanMessage("Fetch the attachment and describe it."),
        AIMessage("", tool_calls=[call]),
        ToolMessage([block], tool_call_id="call-1", name="fetch_attachment"),
    ]


class TestChatVLLMIntegration(ChatModelIntegrationTests):
    _base_url: str = ""
    sampled_words = ("tool", "structured", "json_mode", "agent_loop", "stop_sequence")
    """The inherited tests whose result is what the 135M model writes (marked ``sampled``)."""

    @pytest.fixture(autouse=True)
    def _servers(self, chat_server_url: str, pirate_adapter: str, tools_adapter: str) -> None:
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
            "max_tokens": 100,
            # SmolLM2-135M loops ("A cat is a cat, a cat is a cat, ...") at temperature 0 on
            # some prompts until max_tokens. A frequency penalty counts the answer's own tokens
            # only; repetition_penalty (1.1, used before) also penalizes every prompt token, so
            # the JSON quotes and braces of the tool schema, and the model, asked to copy a
            # Japanese name into a tool call, never closed the string (with float32 weights).
            "frequency_penalty": 0.5,
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

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True  # Anthropic-style blocks in history (tool_use, thinking, cache_control)

    @property
    def enable_vcr_tests(self) -> bool:
        return True

    # The base 135M model never calls a tool by itself under tool_choice="auto"; the "tools"
    # LoRA adapter (trained by vllm_accel.server.prepare) does, so test_agent_loop gets a model
    # on it. Overriding the fixture, not the test: langchain-tests forbids overridden tests.
    # test_agent_loop is sampled text (``sampled_words``): one rerun.
    @pytest.fixture
    def model(self, request: Any) -> BaseChatModel:
        extra = getattr(request, "param", None) or {}
        if request.node.originalname == "test_agent_loop":
            extra = {**extra, "model": TOOLS_LORA_NAME}
        return self.chat_model_class(**{**self.standard_chat_model_params,
                                        **self.chat_model_params, **extra})

    @pytest.mark.xfail(
        reason="SmolLM2-135M limit: in plain JSON-object mode (no schema) it nests "
        '{"setup": {"setup": ... until max_tokens instead of writing the two requested keys; '
        "schema-constrained output (the json_schema default) passes test_structured_output",
        raises=OutputParserException,
        strict=True,
    )
    def test_json_mode(self, model: BaseChatModel) -> None:
        super().test_json_mode(model)

    @pytest.fixture
    def vcr_config(self, vcr_config: dict[str, Any]) -> dict[str, Any]:
        """``test_stream_time`` records its stream once (from the live server), then replays it."""
        return {**vcr_config, "record_mode": "once"}


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

# The standard suite's five multimodal tests (image/audio/PDF inputs, images/PDFs in tool
# messages) need a multimodal model and fetch their images from the internet; neither exists on
# this machine, so tests/live/langchain/conftest.py deselects them rather than report skips.
# In their place these check, on the real text-only server, that every kind of part reaches
# vLLM in OpenAI shape (none is dropped on the way) and comes back as a typed 400 naming why.


@pytest.fixture
def text_only(chat_server_url: str) -> ChatVLLM:
    return ChatVLLM(model="smollm2", base_url=chat_server_url, max_tokens=5, max_retries=0)


def test_image_parts_reach_the_text_only_server_and_come_back_a_typed_400(
    text_only: ChatVLLM,
) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "image", "base64": PNG_1PX, "mime_type": "image/png"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
    ]
    for block in blocks:
        with pytest.raises(VLLMBadRequestError, match=NOT_MULTIMODAL) as info:
            text_only.invoke([HumanMessage([{"type": "text", "text": "Describe it."}, block])])
        assert info.value.status_code == 400

def test_audio_part_reaches_the_text_only_server_and_comes_back_a_typed_400(
    text_only: ChatVLLM,
) -> None:
    block = {"type": "audio", "base64": PNG_1PX, "mime_type": "audio/wav"}
    with pytest.raises(VLLMBadRequestError, match=NOT_MULTIMODAL):
        text_only.invoke([HumanMessage([{"type": "text", "text": "Transcribe it."}, block])])

def test_pdf_part_reaches_the_server_and_comes_back_a_typed_400(
    text_only: ChatVLLM,
) -> None:
    with pytest.raises(VLLMBadRequestError, match=NO_FILE_PARTS):
        text_only.invoke([HumanMessage([{"type": "text", "text": "Summarize it."}, PDF_PART])])

def test_tool_image_reaches_the_text_only_server_and_comes_back_a_typed_400(
    text_only: ChatVLLM,
) -> None:
    block = {"type": "image", "base64": PNG_1PX, "mime_type": "image/png"}
    with pytest.raises(VLLMBadRequestError, match=NOT_MULTIMODAL):
        text_only.invoke(_tool_turn(block))

def test_tool_pdf_reaches_the_server_and_comes_back_a_typed_400(
    text_only: ChatVLLM,
) -> None:
    with pytest.raises(VLLMBadRequestError, match=NO_FILE_PARTS):
        text_only.invoke(_tool_turn(PDF_PART))


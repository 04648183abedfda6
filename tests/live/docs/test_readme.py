"""Every ```python block of the README runs against the real embedded servers, so it cannot rot.

Blocks read their server from the environment, as the README tells users to:
``VLLM_BASE_URL`` (chat), ``VLLM_EMBEDDING_BASE_URL`` (embeddings), ``VLLM_MODEL``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[3] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, chat_server_url: str, embed_server_url: str,
                           pirate_adapter: str, tools_adapter: str, lora_path: str) -> None:
    env = {**os.environ, "VLLM_BASE_URL": chat_server_url, "VLLM_MODEL": "smollm2",
           "VLLM_EMBEDDING_BASE_URL": embed_server_url, "VLLM_LORA_PATH": lora_path}
    env.pop("VLLM_API_KEY", None)
    done = subprocess.run([sys.executable, "-c", BLOCKS[index]], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, f"README block {index} failed:\n{BLOCKS[index]}\n{done.stderr}"
    assert done.stdout.strip(), f"README block {index} printed nothing"

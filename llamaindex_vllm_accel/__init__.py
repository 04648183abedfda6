"""LlamaIndex integration for vLLM, on the shared ``vllm_accel`` client.

``VLLM`` is an LLM with tools, structured outputs, LoRA adapters and batching; ``VLLMEmbedding``
embeds through ``/v1/embeddings``; ``VLLMRerank`` reranks retrieved nodes through ``/rerank``.

Example:
    >>> from llamaindex_vllm_accel import VLLM, VLLMEmbedding  # doctest: +SKIP
    >>> Settings.llm = VLLM(base_url="http://localhost:8000")  # doctest: +SKIP
    >>> Settings.embed_model = VLLMEmbedding(base_url="http://localhost:8001")  # doctest: +SKIP
    >>> rerank = VLLMRerank(base_url="http://localhost:8001", top_n=2)  # doctest: +SKIP
"""

from vllm_accel._extras import require

require("llamaindex_vllm_accel", "llamaindex", "llama_index.core")

from .embeddings import VLLMEmbedding  # noqa: E402
from .llms import VLLM  # noqa: E402
from .rerank import VLLMRerank  # noqa: E402

__all__ = ["VLLM", "VLLMEmbedding", "VLLMRerank"]

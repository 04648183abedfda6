"""LlamaIndex integration for vLLM, on the shared ``vllm_accel`` client.

``VLLM`` is an LLM with tools, structured outputs, LoRA adapters and batching; ``VLLMEmbedding``
embeds through ``/v1/embeddings``; ``VLLMRerank`` reranks retrieved nodes through ``/rerank``.

Example:
    >>> from llamaindex_vllm_accel import VLLM, VLLMEmbedding  # doctest: +SKIP
    >>> Settings.llm = VLLM(base_url="http://localhost:8000")  # doctest: +SKIP
    >>> Settings.embed_model = VLLMEmbedding(base_url="http://localhost:8001")  # doctest: +SKIP
    >>> rerank = VLLMRerank(base_url="http://localhost:8001", top_n=2)  # doctest: +SKIP
"""

from .embeddings import VLLMEmbedding
from .llms import VLLM
from .rerank import VLLMRerank

__all__ = ["VLLM", "VLLMEmbedding", "VLLMRerank"]

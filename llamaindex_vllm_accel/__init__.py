"""LlamaIndex integration for vLLM."""

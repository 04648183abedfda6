"""LangChain integration for vLLM."""

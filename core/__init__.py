"""vllm-accel: a typed, sync and async client for vLLM's OpenAI-compatible server.

Example:
    >>> from vllm_accel import VLLMClient
    >>> with VLLMClient("http://localhost:8000") as client:  # doctest: +SKIP
    ...     print(client.chat([{"role": "user", "content": "Hi"}], max_tokens=16).text)

Names are imported on first access (PEP 562), so ``import vllm_accel`` stays cheap. The public
names are listed once, in ``__init__.pyi`` (read here by ``lazy_loader`` and by type checkers).
"""

import lazy_loader

__version__ = "0.1.0"

__getattr__, __dir__, _names = lazy_loader.attach_stub(__name__, __file__)
__all__ = [*_names, "__version__"]

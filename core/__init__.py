"""vllm-accel: a typed, sync and async client for vLLM's OpenAI-compatible server.

Example:
    >>> from vllm_accel import VLLMClient
    >>> with VLLMClient("http://localhost:8000") as client:  # doctest: +SKIP
    ...     print(client.chat([{"role": "user", "content": "Hi"}], max_tokens=16).text)

Names are imported on first access (PEP 562), so ``import vllm_accel`` stays cheap. The public
names are listed once, in ``__init__.pyi`` (read here by ``lazy_loader`` on the first name looked
up, not at import, and by type checkers).
"""

from typing import Any

__version__ = "0.1.0"

_lazy: Any = None


def _attached() -> Any:
    """``lazy_loader``'s hooks from the stub, built on the first name looked up (import cost)."""
    global _lazy
    if _lazy is None:
        import lazy_loader

        _lazy = lazy_loader.attach_stub(__name__, __file__)
    return _lazy


def __getattr__(name: str) -> Any:
    lookup, _, names = _attached()
    if name == "__all__":
        value = [*names, "__version__"]
        globals()["__all__"] = value
        return value
    return lookup(name)


def __dir__() -> list[str]:
    return list(_attached()[1]())

# Generated from core/_async/client.py by tests/support/generate_sync.py
# (make generate); do not edit.
"""``VLLMClient``: the client, composed from one mixin per concern.

Adding a concern: write ``vllm_accel._async.<concern>.py`` with one mixin class on
``Transport``, add it to the bases below, and run ``make generate`` (which writes the
sync twin). A mixin that calls another concern's methods subclasses that concern's class
instead (as ``Batch(Generation)``) and comes before it in the bases.
"""

from __future__ import annotations

from .admin import Admin
from .batch import Batch
from .generation import Generation
from .responses import Responses
from .seed import Seed

__all__ = ["VLLMClient"]


class VLLMClient(Batch, Generation, Responses, Admin, Seed):
    """A synchronous client for a vLLM OpenAI-compatible server.

    Args:
        base_url: the server root (``/v1`` suffix optional); env ``VLLM_BASE_URL``, default
            ``http://localhost:8000``.
        api_key: sent as ``Authorization: Bearer``; env ``VLLM_API_KEY`` (never
            ``OPENAI_API_KEY``). Kept in a :class:`Secret`; rotate with :meth:`set_api_key`.
        model: the default model or LoRA adapter; env ``VLLM_MODEL``. None lets the server use
            its first served (base) model.
        timeout: seconds (connect: 5 s) or an ``httpx.Timeout``; default 600 s.
        max_retries: retries of failed requests (default 2); or pass ``retry``.
        retry: a full :class:`RetryPolicy` (its ``sleep`` and ``clock`` are the test seams).
        headers: extra headers for every request.
        http_client: an ``httpx.Client`` to use (not closed by :meth:`close`).
        endpoints: several servers instead of ``base_url``: an :class:`EndpointPool`, or a
            list of :class:`Endpoint` / base URLs. Requests are routed, fail over, and stay
            placed on the endpoints that serve their LoRA adapter (see ``vllm_accel._pool``);
            ``api_key`` is then only the key of the endpoints that have none of their own.
            The pool's health probes start with its first routed request.

    Example:
        >>> with VLLMClient("http://localhost:8000") as client:  # doctest: +SKIP
        ...     print((client.chat("Hello!", max_tokens=16)).text)
        >>> urls = ["http://a:8000", "http://b:8000"]
        >>> with VLLMClient(endpoints=urls) as pool:  # doctest: +SKIP
        ...     print((pool.chat("Hello!", max_tokens=16)).text, pool.pool.stats())
    """

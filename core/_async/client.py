"""``AsyncVLLMClient``: the client, composed from one mixin per concern.

Adding a concern: write ``vllm_accel._async.<concern>.py`` with one mixin class on
``AsyncTransport``, add it to the bases below, and run ``make generate`` (which writes the
sync twin). A mixin that calls another concern's methods subclasses that concern's class
instead (as ``AsyncBatch(AsyncGeneration)``) and comes before it in the bases.
"""

from __future__ import annotations

from .admin import AsyncAdmin
from .batch import AsyncBatch
from .generation import AsyncGeneration
from .responses import AsyncResponses
from .seed import AsyncSeed

__all__ = ["AsyncVLLMClient"]


class AsyncVLLMClient(AsyncBatch, AsyncGeneration, AsyncResponses, AsyncAdmin, AsyncSeed):
    """An asynchronous client for a vLLM OpenAI-compatible server.

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
        http_client: an ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`).
        endpoints: several servers instead of ``base_url``: an :class:`EndpointPool`, or a
            list of :class:`Endpoint` / base URLs. Requests are routed, fail over, and stay
            placed on the endpoints that serve their LoRA adapter (see ``vllm_accel._pool``);
            ``api_key`` is then only the key of the endpoints that have none of their own.
            The pool's health probes start with its first routed request.

    Example:
        >>> async with AsyncVLLMClient("http://localhost:8000") as client:  # doctest: +SKIP
        ...     print((await client.chat("Hello!", max_tokens=16)).text)
        >>> urls = ["http://a:8000", "http://b:8000"]
        >>> async with AsyncVLLMClient(endpoints=urls) as pool:  # doctest: +SKIP
        ...     print((await pool.chat("Hello!", max_tokens=16)).text, pool.pool.stats())
    """

"""``ClientHalf``: what the call-builder mixins need of :class:`~vllm_accel._base.BaseClient`.

One protocol for ``_generation_calls``, ``_pooling_calls`` and ``_response_calls`` (typing
only: the mixins import it under ``TYPE_CHECKING``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel

    from ._call import Call
    from ._capacity import ScrapeCache
    from ._models import Usage
    from ._secret import SecretLike

M = TypeVar("M", bound="BaseModel")

__all__ = ["ClientHalf"]


class ClientHalf(Protocol):
    """The configuration and pure methods of ``BaseClient`` that the mixins call."""

    base_url: str
    _no_batch_chat: set[str]
    _capacity_cache: ScrapeCache

    def _model(self, model: str | None) -> str | None: ...

    def _call(self, method: str, path_or_url: str, *, json: Any = None,
              model: str | None = None, stream: bool = False, retryable: bool = True,
              api_key: str | SecretLike | None = None,
              timeout: float | httpx.Timeout | None = None, max_retries: int | None = None,
              files: Any = None, data: Any = None, send_api_key: bool = False,
              deadline: float | None = None, max_response_bytes: int | None = None) -> Call: ...

    def _parse(self, call: Call, response: httpx.Response, cls: type[M]) -> M: ...

    def _record(self, call: Call, *, status: int | None, usage: Usage | None = None,
                ttft: float | None = None, error: BaseException | None = None,
                model: str | None = None, cancelled: bool = False) -> None: ...

"""``ChatVLLM.profile``: langchain-core's ``ModelProfile``, filled from the server on first read.

Constructing a model never sends a request (offline use, ``configurable_fields``): the profile
is a dict that asks the server when something first reads it, through the shared server facts
of ``vllm_accel._integration`` (one ``/v1/models`` and one one-token tool probe per server).
What vLLM always offers (structured outputs, text in and out, a temperature) is known at once;
if the server cannot be reached, only that is answered, and the server is asked again on the
next read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger("langchain_vllm_accel")

STATIC: dict[str, Any] = {
    "structured_output": True,  # vLLM's structured outputs constrain decoding to a schema
    "text_inputs": True,
    "text_outputs": True,
    "temperature": True,
}
"""What every vLLM chat server offers, whatever it serves."""


class ServerProfile(dict[str, Any]):
    """A ``ModelProfile`` dict that fills itself from the server when first read."""

    def __init__(self, fetch: Callable[[], dict[str, Any]]) -> None:
        super().__init__(STATIC)
        self._fetch = fetch
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        try:
            facts = self._fetch()
        except Exception as exc:  # offline: answer what is known, ask again next time
            logger.warning("vLLM server profile unavailable (%s); using the static part", exc)
            return
        self._loaded = True
        dict.update(self, facts)

    def __getitem__(self, key: str) -> Any:
        self._load()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """``dict.get``, after asking the server."""
        self._load()
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self._load()
        return dict.__contains__(self, key)

    def __iter__(self) -> Iterator[str]:
        self._load()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load()
        return dict.__len__(self)

    def keys(self) -> Any:
        """``dict.keys``, after asking the server."""
        self._load()
        return dict.keys(self)

    def items(self) -> Any:
        """``dict.items``, after asking the server."""
        self._load()
        return dict.items(self)

    def values(self) -> Any:
        """``dict.values``, after asking the server."""
        self._load()
        return dict.values(self)

    def __repr__(self) -> str:
        return dict.__repr__(self) if self._loaded else f"ServerProfile({dict.__repr__(self)}, ...)"

    def __eq__(self, other: object) -> bool:
        self._load()
        return dict.__eq__(self, other)

    __hash__ = None

    def __copy__(self) -> ServerProfile:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ServerProfile:
        return self

    def __reduce__(self) -> Any:
        self._load()
        return (dict, (dict(dict.items(self)),))


def server_facts(
    max_model_len: int | None, accepts_tools: bool, name: str | None
) -> dict[str, Any]:
    """The profile fields the server tells: context length and tool support.

    ``tool_calling`` (the model decides, ``tool_choice="auto"``) needs the server's
    ``--enable-auto-tool-choice``; forcing a call (``tool_choice`` a name or ``"required"``) works
    on every vLLM server, through structured outputs.
    """
    facts: dict[str, Any] = {
        "tool_calling": accepts_tools,
        "tool_choice": True,
        "tool_call_streaming": accepts_tools,
    }
    if max_model_len is not None:
        facts["max_input_tokens"] = max_model_len
    if name:
        facts["name"] = name
    return facts

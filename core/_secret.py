"""``Secret``: an API key holder that never shows its value in repr, str, logs or tracebacks."""

from __future__ import annotations

import hmac
from typing import Any, Protocol

from ._errors import InvalidAPIKeyError

__all__ = ["Secret", "SecretLike", "to_secret"]

_MASK = "**********"


class SecretLike(Protocol):
    """Anything with ``get_secret_value()``, e.g. pydantic's ``SecretStr``."""

    def get_secret_value(self) -> str: ...


class Secret:
    """An API key. ``str()`` and ``repr()`` show a mask; ``get_secret_value()`` gives the key.

    Example:
        >>> key = Secret("sk-123")
        >>> key
        Secret('**********')
        >>> key.get_secret_value()
        'sk-123'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret value must be a str")
        self._value = value

    def get_secret_value(self) -> str:
        """The key itself; only for building the ``Authorization`` header."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        # Refuse to be pickled: a pickled client config would carry the key in clear text.
        raise TypeError("Secret cannot be pickled")


def _is_header_safe(key: str) -> bool:
    """Whether ``key`` can follow ``Bearer `` in a header: visible ASCII and inner spaces."""
    return all(" " <= c <= "~" for c in key)


def to_secret(value: str | SecretLike | None) -> Secret | None:
    """Wrap a str or a ``SecretStr``-like object: stripped, checked; empty or None gives None.

    Surrounding whitespace (a key read from a file ends in a newline) is removed, as the most
    used HTTP clients do before building a header.

    Raises:
        InvalidAPIKeyError: the key holds a character no header value may carry (a control
            character, non-ASCII text); the message never contains the key.
    """
    if value is None:
        return None
    raw = value.get_secret_value() if not isinstance(value, str) else value
    if not isinstance(raw, str):
        raise InvalidAPIKeyError(f"an API key must be a str, not {type(raw).__name__}")
    raw = raw.strip()
    if not raw:
        return None
    if not _is_header_safe(raw):
        bad = next(i for i, c in enumerate(raw) if not " " <= c <= "~")
        raise InvalidAPIKeyError(
            f"the API key cannot be sent in an HTTP header: it has a control or non-ASCII "
            f"character at position {bad} (the key is not shown)")
    return Secret(raw)

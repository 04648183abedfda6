"""``Secret``: an API key holder that never shows its value in repr, str, logs or tracebacks."""

from __future__ import annotations

import hmac
from typing import Any, Protocol

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


def to_secret(value: str | SecretLike | None) -> Secret | None:
    """Wrap a str or a ``SecretStr``-like object; empty or None gives None."""
    if value is None:
        return None
    if isinstance(value, Secret):
        return value or None
    raw = value if isinstance(value, str) else value.get_secret_value()
    return Secret(raw) if raw else None

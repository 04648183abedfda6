"""URLs as they may be shown, and whose they are: credential masking and origin checks (pure).

Every place that shows or serializes a URL (reprs, endpoint names, statistics keys, error
messages, log lines, the CLI, the framework integrations) passes it through :func:`redact_url`;
the ``Authorization`` header goes only where :func:`same_origin` says the configured server is.

Example:
    >>> redact_url("http://user:pw@gpu-a:8000/v1?api_key=sk-1&n=2")
    'http://user:***@gpu-a:8000/v1?api_key=***&n=2'
    >>> same_origin("http://gpu-a:8000/v1/models", "http://GPU-A:8000")
    True
    >>> same_origin("https://gpu-a/v1", "http://gpu-a:443")
    False
"""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

__all__ = ["MASK", "cached_origin", "httpx_url", "origin", "redact_text", "redact_url",
           "same_origin", "url_path"]

MASK = "***"
_SECRET_PARAM = re.compile(r"key|token|secret|passw|auth|sig|cred", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def redact_url(url: str) -> str:
    """``url`` with its credentials masked.

    The password (or a lone user name, often a token) and the values of query parameters
    named like a secret (``api_key``, ``token``, ...) become ``***``.

    A string that is not a URL is returned with any ``scheme://user:pw@`` in it masked.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, sep, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if sep else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAM.search(k) for k, _ in pairs):
            query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs],
                              safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Mask the user information of every ``scheme://user:pw@`` in free text (messages)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, lower-cased, with the scheme's default port."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` is on the origin (scheme, host and port) of ``base_url``."""
    return origin(url) == origin(base_url)


# The hot path asks for the same few URLs on every request: remembered, not parsed again.


@functools.lru_cache(maxsize=128)
def cached_origin(url: str) -> tuple[str, str, int | None]:
    """:func:`origin`, remembered."""
    return origin(url)


@functools.lru_cache(maxsize=256)
def url_path(url: str) -> str:
    """The path of ``url`` (``/`` if none), remembered."""
    return urlsplit(url).path or "/"


@functools.lru_cache(maxsize=256)
def httpx_url(url: str) -> httpx.URL:
    """``url`` as an ``httpx.URL``, parsed once (httpx would parse the string per request)."""
    return httpx.URL(url)

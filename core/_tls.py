"""The verifying TLS context every client's own connection pool uses, built once per setting.

httpx builds a new ``ssl.SSLContext`` for every ``httpx.Client`` / ``AsyncClient`` made without
``verify=``, and loading the CA bundle into it costs ~30 ms of CPU: each client paid it at
construction, even for ``http://`` URLs. One context serves any number of clients and threads
(``SSLContext`` is shareable), so the clients share the one httpx would have built. The trust
settings are httpx's own: ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else certifi's CAs; a
context is kept per value of those two variables, so setting one later still applies to the
clients built after it, as before.
"""

from __future__ import annotations

import functools
import os
import ssl

import httpx

__all__ = ["default_tls"]


def default_tls() -> ssl.SSLContext:
    """The verifying context httpx builds for the current ``SSL_CERT_FILE``/``SSL_CERT_DIR``."""
    return _context(os.environ.get("SSL_CERT_FILE") or None,
                    os.environ.get("SSL_CERT_DIR") or None)


@functools.lru_cache(maxsize=8)
def _context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    # The two arguments are the cache key: httpx reads the same variables, which hold them now.
    del cafile, capath
    return httpx.create_ssl_context()

"""Clients share one verifying TLS context per trust setting instead of loading the CA bundle
each (``vllm_accel._tls``)."""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import httpx
import pytest

from vllm_accel import AsyncVLLMClient, VLLMClient
from vllm_accel._tls import default_tls

pytestmark = pytest.mark.unit


def _context(client: VLLMClient | AsyncVLLMClient) -> ssl.SSLContext:
    context = client._http._transport._pool._ssl_context  # type: ignore[union-attr]
    assert isinstance(context, ssl.SSLContext)
    return context


async def test_clients_share_one_verifying_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    sync, other = VLLMClient("https://a.example"), VLLMClient("http://b.example")
    aclient = AsyncVLLMClient("https://a.example")
    try:
        contexts = {id(_context(c)) for c in (sync, other, aclient)}
        assert contexts == {id(default_tls())}
        context = default_tls()
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0  # certifi's CAs are loaded
    finally:
        sync.close()
        other.close()
        await aclient.aclose()


def test_ssl_cert_file_set_later_still_applies(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    before = default_tls()
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    with VLLMClient("https://a.example") as client:
        assert _context(client) is default_tls()
        assert _context(client) is not before  # the new trust setting, not the cached one
    monkeypatch.delenv("SSL_CERT_FILE")
    assert default_tls() is before


def test_a_passed_http_client_keeps_its_own_trust() -> None:
    own = ssl.create_default_context()
    with httpx.Client(verify=own) as http, VLLMClient("https://a.example",
                                                      http_client=http) as client:
        assert _context(client) is own

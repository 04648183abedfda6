"""Audio uploads reach vLLM's real speech-to-text routes as multipart requests.

No speech-to-text model vLLM 0.32 can serve ships in a PyPI package, so the embedded servers
serve none: vLLM then registers no audio route, and its own 404 must come back typed.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest
from core_live_helpers import resolve, settled

from vllm_accel import NotFoundError

pytestmark = pytest.mark.live


@pytest.fixture
def wav_file(tmp_path: Path) -> Path:
    """One second of a 440 Hz tone, 16 kHz mono 16-bit PCM."""
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 16_000)))
            for i in range(16_000)))
    return path


def _not_found_count(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    for line in text.splitlines():
        if (line.startswith("http_requests_total{") and 'handler="none"' in line
                and 'method="POST"' in line and 'status="4xx"' in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("method", ["transcribe", "translate"])
async def test_audio_upload_gets_the_servers_typed_404(chat_client: Any, chat_server_url: str,
                                                       wav_file: Path, method: str) -> None:
    before = _not_found_count(chat_server_url)
    with pytest.raises(NotFoundError, match="Not Found") as caught:
        await resolve(getattr(chat_client, method)(wav_file, language="en"))
    assert caught.value.status_code == 404
    seen = await settled(lambda: _not_found_count(chat_server_url), lambda n: n >= before + 1)
    assert seen >= before + 1  # it reached vLLM
    route = "/v1/audio/transcriptions" if method == "transcribe" else "/v1/audio/translations"
    assert chat_client.stats().by_route[route].errors == 1


async def test_make_post_request_sends_files_as_multipart(chat_client: Any,
                                                          wav_file: Path) -> None:
    with pytest.raises(NotFoundError):
        await resolve(chat_client.make_post_request(
            "/v1/audio/transcriptions", {"model": "whisper", "language": "en"},
            files={"file": wav_file}))
    # The same helper still sends JSON without files, to a real route.
    body = await resolve(chat_client.make_post_request("/tokenize", {"prompt": "Hello world"}))
    assert body["count"] == 2

"""The README's route table is complete and true, checked against the real servers.

Every path the real chat and embedding servers register (their own ``/openapi.json``) has a
row, and every client method the table names exists on both client flavours.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from vllm_accel import AsyncVLLMClient, VLLMClient

README = Path(__file__).parents[3] / "README.md"
HEADING = "## Every vLLM 0.32 route, and what calls it"


def _rows() -> list[list[str]]:
    text = README.read_text()
    assert HEADING in text, "the README lost its route table"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header row


def _shape(path: str) -> str:
    """``/v1/responses/{response_id}`` and ``/v1/responses/{id}`` are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/"))


def _table_paths() -> set[str]:
    paths: set[str] = set()
    for route, _when, _method in _rows():
        paths.update(_shape(p) for p in re.findall(r"(/[\w/{}.-]*)", route))
    return paths


def _table_methods() -> set[str]:
    names: set[str] = set()
    for _route, _when, method in _rows():
        for token in re.findall(r"`([^`]+)`", method):
            name = token.split("(", 1)[0]
            if re.fullmatch(r"[a-z_]+", name):
                names.add(name)
    return names


def test_every_named_method_exists_on_both_clients() -> None:
    names = _table_methods()
    assert {"chat", "rerank", "create_response", "transcribe", "server_load"} <= names
    for cls in (VLLMClient, AsyncVLLMClient):
        missing = sorted(n for n in names if not callable(getattr(cls, n, None)))
        assert not missing, f"{cls.__name__} lacks {missing}"


@pytest.mark.parametrize("server", ["chat", "embeddings"])
def test_every_route_the_server_registers_has_a_row(server: str, chat_server_url: str,
                                                    embed_server_url: str) -> None:
    url = chat_server_url if server == "chat" else embed_server_url
    spec = httpx.get(f"{url}/openapi.json", timeout=30).raise_for_status().json()
    served = {_shape(p) for p in spec["paths"]}
    assert "/v1/models" in served  # the document is the server's own route list
    missing = sorted(served - _table_paths() - {_shape(p) for p in ("/openapi.json",)})
    assert not missing, f"README route table has no row for {missing}"

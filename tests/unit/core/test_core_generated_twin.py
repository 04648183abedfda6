"""The sync client is generated from the async one, and the generated files are current."""

from __future__ import annotations

import io
import tokenize

import pytest
from support import generate_sync

pytestmark = pytest.mark.unit


def test_generated_sync_twin_is_current() -> None:
    assert generate_sync.stale() == [], "core/_sync is stale: run `make generate`"


ASYNC_NAMES = {"async", "await", "asyncio", "AsyncClient", "aclose", "aread", "anext",
               "__aenter__", "__aexit__", "AsyncVLLMClient"}


def test_every_generated_module_says_so_and_has_no_async_code() -> None:
    for name, text in generate_sync.expected().items():
        assert text.startswith("# Generated from core/_async/" + name), name
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        names = {t.string for t in tokens if t.type == tokenize.NAME}
        assert not names & ASYNC_NAMES, (name, names & ASYNC_NAMES)


def test_the_translation_maps_code_and_prose() -> None:
    source = ('"""An asynchronous thing; ``async with AsyncVLLMClient()``."""\n'
              "async def f(x: httpx.AsyncClient) -> None:\n"
              "    await x.aclose()  # aclose the AsyncRawStream\n")
    out = generate_sync.generate("m.py", source)
    assert out.splitlines()[2:] == [
        '"""A synchronous thing; ``with VLLMClient()``."""',
        "def f(x: httpx.Client) -> None:",
        "    x.close()  # close the RawStream",
    ]


def test_a_stale_file_is_reported(tmp_path: pytest.TempPathFactory,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path  # type: ignore[assignment]
    for name, text in generate_sync.expected().items():
        (target / name).write_text(text, encoding="utf-8")  # type: ignore[operator]
    monkeypatch.setattr(generate_sync, "TARGET", target)
    assert generate_sync.stale() == []
    (target / "admin.py").write_text("# edited by hand\n", encoding="utf-8")  # type: ignore[operator]
    (target / "leftover.py").write_text("", encoding="utf-8")  # type: ignore[operator]
    assert generate_sync.stale() == ["leftover.py", "admin.py"]
    assert generate_sync.main(["--check"]) == 1

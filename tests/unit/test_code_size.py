"""Small modules and functions: no hand-written package module over 400 lines, no function
over 60 (the generated sync client, ``core/_sync/``, mirrors the async one and is checked there;
the complexity gate, 10, is ruff's ``C901`` in ``pyproject.toml``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGES = ("core", "langchain_vllm_accel", "llamaindex_vllm_accel")


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if "_sync" not in p.parts and "assets" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_and_function_sizes(path: Path) -> None:
    source = path.read_text()
    assert len(source.splitlines()) <= 400, f"{path.name} has over 400 lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno is not None and node.end_lineno - node.lineno + 1 > 60]
    assert not long, f"{path.name}: functions over 60 lines: {long}"

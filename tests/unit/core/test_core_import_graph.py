"""The core package has no import cycles (lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CORE = Path(__file__).resolve().parents[3] / "core"


def _module(path: Path) -> str:
    parts = path.relative_to(CORE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def _imports(path: Path) -> set[str]:
    """The core modules ``path`` imports at run time (``if TYPE_CHECKING:`` blocks skipped)."""
    package = _module(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(node) for guard in ast.walk(tree) if isinstance(guard, ast.If)
            and "TYPE_CHECKING" in ast.unparse(guard.test) for node in ast.walk(guard)}
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package[: len(package) - node.level + 1]
        target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
        out.add(target)
        if node.module is None:  # from . import _lora
            out.update(".".join([*base, alias.name]).strip(".") for alias in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    files = [p for p in CORE.rglob("*.py") if "server" not in p.parts and "cli" not in p.parts]
    modules = {_module(p): p for p in files}
    return {m: {t for t in _imports(p) if t in modules and t != m and t != ""}
            for m, p in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_client_modules_have_no_import_cycle() -> None:
    graph = _graph()
    assert "_errors" in graph["_base"]  # the graph is read
    assert _cycle(graph) is None, _cycle(graph)


def test_errors_and_retry_import_one_way() -> None:
    # _retry decides on errors; _errors (which parses Retry-After) never imports _retry.
    errors = ast.parse((CORE / "_errors.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(errors) if isinstance(node, ast.ImportFrom)}
    assert "_retry" not in imported
    assert "_pool" in _graph()["_retry"]

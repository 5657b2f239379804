"""Layers point one way: catalog <- query, catalog <- indexer; only smarttags/ imports both.

Every import counts, at module level or inside a function (lazy), `import x` and
`from x import y` alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("catalog", "query", "indexer", "smarttags")
FORBIDDEN = {
    "catalog": {"query", "indexer", "smarttags"},
    "query": {"indexer", "smarttags"},
    "indexer": {"query", "smarttags"},
    "smarttags": set(),
}


def imported_packages(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in `source`, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            found.append((node.lineno, node.args[0].value.split(".")[0]))  # type: ignore[attr-defined]
    return found


def _is_dynamic_import(node: ast.Call) -> bool:
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    return (
        name in ("import_module", "__import__")
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def crossings(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, imported in imported_packages(path.read_text(encoding="utf-8")):
            if imported in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return bad


@pytest.mark.parametrize("package", LAYERS)
def test_no_import_crosses_a_layer(package):
    assert crossings(package) == []


def test_only_the_composition_root_imports_both_query_and_indexer():
    both = []
    for path in sorted(ROOT.rglob("*.py")):
        if ".venv" in path.parts or path.parts[len(ROOT.parts)] in ("tests", "bench"):
            continue
        packages = {p for _, p in imported_packages(path.read_text(encoding="utf-8"))}
        if {"query", "indexer"} <= packages:
            both.append(str(path.relative_to(ROOT)))
    assert all(p.startswith("smarttags/") for p in both), both


def test_the_checker_sees_lazy_and_dynamic_imports():
    source = (
        "import catalog\n"
        "def f():\n"
        "    from indexer.model import load_model\n"
        "    import query.api as api\n"
        "    importlib.import_module('indexer.tasks')\n"
        "from . import sibling\n"
    )
    assert imported_packages(source) == [
        (1, "catalog"),
        (3, "indexer"),
        (4, "query"),
        (5, "indexer"),
    ]

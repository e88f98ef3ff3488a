"""The process ring's rules (issue 19): the supervisor package hosts roles without
knowing them. No module in `livenode/supervisor/` imports the engines, and none
names a role: what differs between roles is in the role objects
(`livenode.roles`), which the supervisor reads through their facts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from livenode.config.workers import ROLES

SUPERVISOR = Path(__file__).resolve().parents[3] / "src" / "livenode" / "supervisor"
MODULES = sorted(SUPERVISOR.glob("*.py"))


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes (a role's name in prose is fine)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_the_supervisor_package_is_found() -> None:
    names = {m.name for m in MODULES}
    assert {"supervisor.py", "worker.py", "handles.py"} <= names, names


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_no_supervisor_module_imports_the_engines(module: Path) -> None:
    tree = ast.parse(module.read_text())
    imported = [
        name
        for node in ast.walk(tree)
        for name in (
            [node.module or ""] if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names] if isinstance(node, ast.Import) else []
        )
    ]
    assert not [n for n in imported if n == "livenode.engines" or n.startswith("livenode.engines.")]


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_no_supervisor_module_names_a_role(module: Path) -> None:
    tree = ast.parse(module.read_text())
    docstrings = _docstrings(tree)
    named = [
        f"line {node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in ROLES and id(node) not in docstrings
    ]
    assert not named, f"{module.name} branches on role names: {named}"

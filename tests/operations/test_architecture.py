"""Imports point one way (README, "Architecture"): api/ -> notifications/ -> db/, and the
dashboard reaches the rest of the system only over HTTP. Read from the source, so a shortcut
import fails here before it becomes a habit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"api", "admin_dashboard", "db", "notifications"}
# What each package may import of ours, besides itself.
ALLOWED = {
    "admin_dashboard": set(),
    "notifications": {"db"},
    "db": set(),
}


def our_imports(path: Path) -> set[str]:
    """The top-level packages of ours that a file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_lies_below_it(package):
    wrong = {
        str(path.relative_to(ROOT)): sorted(our_imports(path) - ALLOWED[package] - {package})
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {file: names for file, names in wrong.items() if names} == {}

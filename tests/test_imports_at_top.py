"""Imports sit at the top of every module of dashboard/ (issue 14): a function-level import hides a dependency.

The only exceptions are lazy optional loads, each listed here with its reason and marked "lazy, documented" at
the import itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboard"
ALLOWED = {
    ("app.py", "get_demo"): "the embedded server (pgserver) and the demo load only in demo mode",
    ("launch.py", "_serve"): "Streamlit's server loads only to serve: --help and bad input stay instant",
}


def function_imports(root: Path = DASHBOARD) -> dict[tuple[str, str], list[int]]:
    """``{(file, function): [line, ...]}`` of every import statement inside a function under ``root``."""
    found: dict[tuple[str, str], list[int]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = [node.lineno for node in ast.walk(func) if isinstance(node, ast.Import | ast.ImportFrom)]
                if lines:
                    found[(path.relative_to(root).as_posix(), func.name)] = lines
    return found


def test_no_import_inside_a_function_outside_the_allow_list():
    unexpected = {key: lines for key, lines in function_imports().items() if key not in ALLOWED}
    assert not unexpected, f"move these imports to the module's top (or document a lazy one): {unexpected}"


def test_every_allowed_lazy_import_exists_and_says_why():
    found = function_imports()
    for (file, function), reason in ALLOWED.items():
        assert (file, function) in found, f"{file}:{function} has no lazy import any more: drop it from ALLOWED"
        source = (DASHBOARD / file).read_text().splitlines()
        line = found[(file, function)][0]
        assert any("lazy, documented" in text for text in source[line - 3:line]), (file, function, reason)


def test_the_walker_finds_an_import_inside_a_function(tmp_path):
    (tmp_path / "mod.py").write_text("import os\n\n\ndef f():\n    import json\n    return json\n")
    assert function_imports(tmp_path) == {("mod.py", "f"): [5]}

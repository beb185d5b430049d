"""planner/ imports one way: every import at module top (so each module's dependencies are in its first lines),
and no import cycle, whichever module a program enters first or in whatever order it loads them."""

from __future__ import annotations

import ast
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLANNER = ROOT / "planner"

LAZY_ALLOWED = {
    # prometheus_client is an optional dependency: the probe's exposition loads it only when asked to export
    ("planner/probe/exposition.py", "prometheus_client"),
    ("planner/probe/exposition.py", "prometheus_client.core"),
}


def _modules() -> list[str]:
    names = []
    for path in sorted(PLANNER.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue  # runs the CLI when imported
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _function_imports(path: Path) -> list[tuple[int, str]]:
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if in_function and isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif in_function and isinstance(child, ast.ImportFrom):
                found.append((child.lineno, "." * child.level + (child.module or "")))
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_the_walker_finds_an_import_inside_a_function(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("import os\n\ndef f():\n    import json\n    from planner import model\n\n"
                      "class C:\n    def g(self):\n        import re\n", encoding="utf-8")
    assert _function_imports(source) == [(4, "json"), (5, "planner"), (9, "re")]


def test_no_import_inside_a_function_in_planner():
    offending = []
    for path in sorted(PLANNER.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, name in _function_imports(path):
            if (rel, name) not in LAZY_ALLOWED:
                offending.append(f"{rel}:{line}: import {name}")
    assert not offending, "imports inside functions (move them to the module top):\n" + "\n".join(offending)


def _fresh_import(order: list[str]) -> subprocess.CompletedProcess:
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code, *order], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_each_planner_module_imports_first_in_a_fresh_interpreter():
    """A cycle fails only when a program enters it at a particular module: enter at each one."""
    modules = _modules()
    assert "planner.sizing.fit" in modules and "planner.cli" in modules
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda name: (name, _fresh_import([name])), modules))
    failed = [f"{name}: {proc.stderr.strip().splitlines()[-1]}" for name, proc in results if proc.returncode]
    assert not failed, "\n".join(failed)


def test_all_planner_modules_import_in_a_random_order():
    seed = random.randrange(1 << 30)
    order = _modules()
    random.Random(seed).shuffle(order)
    proc = _fresh_import(order)
    assert proc.returncode == 0, f"seed {seed}: {proc.stderr[-2000:]}"

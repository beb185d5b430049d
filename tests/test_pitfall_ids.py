"""The pitfall catalogue (planner/ids.py) is the one list of finding ids: code produces no id outside it, every
id in it is produced somewhere, the rule modules use its constants (not repeated literals), and the table of
docs/pitfalls.md is the one the catalogue generates, with every anchor a real section."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from planner import ids
from planner.lint import KNOWN_IDS
from planner.lint.findings import CODE_RULES

ROOT = Path(__file__).resolve().parent.parent
SEVERITIES = {"critical", "warning", "info"}
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
CONSTANTS = {name: value for name, value in vars(ids).items()
             if name.isupper() and isinstance(value, str) and value in ids.ALL_IDS}


def _sources() -> list[Path]:
    return [p for p in sorted((ROOT / "planner").rglob("*.py")) + sorted((ROOT / "dashboard").rglob("*.py"))
            if p != ROOT / "planner" / "ids.py"]


def _id_positions(tree: ast.AST):
    """Expressions in the place of a finding id: ``Finding(id, ...)``, ``id=``, an argument followed by a
    severity, an assignment to a ``*_ID`` name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "Finding" and node.args:
                yield node.args[0]
            if name == "CodeFinding" and len(node.args) > 3:
                yield node.args[3]
            yield from (kw.value for kw in node.keywords if kw.arg == "id")
            for first, second in zip(node.args, node.args[1:], strict=False):
                if any(isinstance(c, ast.Constant) and c.value in SEVERITIES for c in ast.walk(second)):
                    yield first
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith("_ID")
                                                  for t in node.targets):
            yield node.value


def _produced() -> dict[str, list[str]]:
    """id -> where it is produced (literal or ``ids.NAME``)."""
    found: dict[str, list[str]] = {}
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for expr in _id_positions(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(expr, ast.Constant) and isinstance(expr.value, str) and KEBAB.match(expr.value):
                found.setdefault(expr.value, []).append(f"{rel}:{expr.lineno} (literal)")
            elif isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "ids":
                found.setdefault(CONSTANTS.get(expr.attr, f"<unknown ids.{expr.attr}>"), []).append(
                    f"{rel}:{expr.lineno}")
    return found


def test_every_id_produced_is_in_the_catalogue():
    produced = _produced()
    unknown = {i: where for i, where in produced.items() if i not in ids.ALL_IDS}
    assert not unknown, unknown
    assert set(CODE_RULES) <= ids.ALL_IDS and KNOWN_IDS <= ids.ALL_IDS


def test_planner_produces_ids_from_the_catalogues_constants_not_literals():
    literals = [w for where in _produced().values() for w in where if w.startswith("planner/") and "literal" in w]
    assert not literals, literals


def test_every_catalogued_id_is_produced_somewhere():
    produced = _produced()
    used_names = set()
    for path in _sources():
        used_names |= set(re.findall(r"\bids\.([A-Z_]+)\b", path.read_text(encoding="utf-8")))
    never = sorted(i for i in ids.ALL_IDS if i not in produced and not any(
        CONSTANTS[name] == i for name in used_names))
    assert not never, f"listed but never produced: {never}"


def test_the_catalogue_has_one_entry_per_id_and_a_constant_each():
    assert len(ids.CATALOGUE) == len(ids.ALL_IDS)
    assert set(CONSTANTS.values()) == ids.ALL_IDS
    assert all(p.severity in SEVERITIES and p.title and p.kind for p in ids.CATALOGUE)


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_docs_pitfalls_table_is_the_catalogues_and_its_anchors_exist():
    text = (ROOT / "docs" / "pitfalls.md").read_text(encoding="utf-8")
    assert ids.docs_table() in text
    table_ids = re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.MULTILINE)
    assert sorted(table_ids) == sorted(ids.ALL_IDS)
    headings = {_slug(h) for h in re.findall(r"^#+ (.*)$", text, re.MULTILINE)}
    missing = [(p.id, p.anchor) for p in ids.CATALOGUE if p.anchor not in headings]
    assert not missing, missing

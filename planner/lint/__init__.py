"""Read an application's Python source (``ast``; never imported or run) and report the lesson's pitfalls.

Public API::

    from planner.lint import lint_paths, lint_source
    result = lint_paths(["app/"])                   # LintResult: findings, engines, notes, files
    result = lint_paths(["app/"], plan=base_plan)   # also judge the engines' pool settings against limits
    result.exit_code                                # 0 clean, 1 findings, 2 a file did not parse

Every finding has a rule id from DESIGN.md's table; ``# pool-planner: ignore[<id>]`` on the line (or on
the first line of its statement) silences it.
"""

from __future__ import annotations

import os
import tokenize
from collections.abc import Iterable, Sequence
from fnmatch import fnmatch
from pathlib import Path

from planner.lint.engines import EngineInfo, engine_inventory, gather_facts, url_findings
from planner.lint.findings import CODE_RULES, PARSE_ERROR, CodeFinding, LintResult
from planner.lint.sessions import create_all_findings, session_findings, warmup_findings
from planner.lint.source import SourceFile
from planner.lint.sql import sql_findings
from planner.lint.suppress import ignored_ids, is_silenced, unknown_ids
from planner.model import InputError, Plan

SKIP_DIRS = frozenset({
    ".venv", "venv", "site-packages", ".git", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache",
    ".ruff_cache", ".pytest_cache",
})
BUDGET_RULES = (
    "too-many-connections", "overflow-exceeds-budget", "rollout-surge", "replica-same-server",
    "prepared-statement-cache", "recycle-after-idle-timeout", "pool-timeout-exceeds-request-timeout",
)
KNOWN_IDS = frozenset(CODE_RULES + BUDGET_RULES)

__all__ = ["CodeFinding", "EngineInfo", "LintResult", "lint_paths", "lint_source", "python_files"]


def python_files(paths: Sequence[str | os.PathLike], exclude: Sequence[str] = ()) -> list[Path]:
    """Files to lint: each file given, and every ``*.py`` under each directory (sorted; virtualenvs,
    ``site-packages``, ``.git`` and ``node_modules`` skipped; ``exclude`` globs match any path part or the
    whole relative path). A missing path, or a directory without Python files, is bad input."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise InputError("PATH", f"no such file or directory: {raw}")
        before = len(found)
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not _excluded(Path(root, d), path, exclude))
            found.extend(
                Path(root, f) for f in sorted(files)
                if f.endswith(".py") and not _excluded(Path(root, f), path, exclude)
            )
        if len(found) == before:
            raise InputError("PATH", f"no Python files under {raw}")
    return found


def _excluded(path: Path, top: Path, patterns: Iterable[str]) -> bool:
    rel = path.relative_to(top).as_posix()
    return any(fnmatch(rel, p) or fnmatch(path.name, p) or fnmatch(path.as_posix(), p) for p in patterns)


def _read(path: Path) -> tuple[str | None, str | None]:
    try:
        with tokenize.open(path) as handle:  # honours a PEP 263 coding line, like Python itself
            return handle.read(), None
    except (OSError, SyntaxError, UnicodeDecodeError) as err:
        return None, f"cannot read: {err}"


def lint_paths(
    paths: Sequence[str | os.PathLike], *, exclude: Sequence[str] = (), plan: Plan | None = None
) -> LintResult:
    """Lint every Python file under ``paths``. With ``plan`` (servers, deployment...: its engines are
    replaced by the ones found in the code), the engines' pool settings are judged like ``plan`` does."""
    sources, errors = [], []
    for path in python_files(paths, exclude):
        text, problem = _read(path)
        if text is None:
            errors.append(CodeFinding(str(path), 1, 1, PARSE_ERROR, "critical", problem or "cannot read",
                                      "fix the file so Python can read it"))
            continue
        sources.append(SourceFile.parse(str(path), text))
    return _lint(sources, errors, plan)


def lint_source(text: str, path: str = "<string>", *, plan: Plan | None = None) -> LintResult:
    """Lint one module given as text (the same rules as ``lint_paths``)."""
    return _lint([SourceFile.parse(path, text)], [], plan)


def _lint(sources: list[SourceFile], errors: list[CodeFinding], plan: Plan | None) -> LintResult:
    for src in sources:
        if src.tree is None:
            err = src.error
            errors.append(CodeFinding(
                src.path, err.lineno or 1, err.offset or 1, PARSE_ERROR, "critical",
                f"cannot parse as Python: {err.msg} (no rule checked this file)",
                "fix the syntax error (lint parses with the Python running it)",
            ))
    parsed = [s for s in sources if s.tree is not None]
    facts = gather_facts(parsed)
    engines: list[EngineInfo] = []
    raw: dict[str, list[CodeFinding]] = {}
    for src in parsed:
        found, file_findings = engine_inventory(src, facts)
        engines.extend(found)
        raw[src.path] = file_findings + url_findings(src) + sql_findings(src) + session_findings(src, facts)
        raw[src.path] += create_all_findings(src, facts)
    for src in parsed:
        raw[src.path] += warmup_findings(src, facts, engines)
    notes: list[str] = []
    budgets: tuple = ()
    if plan is not None:
        plan_found, budgets, plan_notes = _judge(engines, plan)
        notes += plan_notes
        for finding in plan_found:
            raw.setdefault(finding.path, []).append(finding)
    kept, silenced = list(errors), 0
    for src in parsed:
        ignored = ignored_ids(src.text)
        notes += unknown_ids(src.path, ignored, KNOWN_IDS)
        for finding in _dedupe(raw.get(src.path, [])):
            if is_silenced(finding, ignored):
                silenced += 1
            else:
                kept.append(finding)
    return LintResult(
        findings=tuple(sorted(kept, key=lambda f: f.sort_key)),
        engines=tuple(sorted(engines, key=lambda e: (e.path, e.line, e.col))),
        files=len(sources) + sum(1 for e in errors if e.path not in {s.path for s in sources}),
        notes=tuple(notes),
        budgets=budgets,
        suppressed=silenced,
    )


def _judge(engines, plan):
    from planner.lint.limits import judge  # imports planner.rules only when limits are given

    return judge(engines, plan)


def _dedupe(findings: list[CodeFinding]) -> list[CodeFinding]:
    seen, out = set(), []
    for finding in findings:
        key = (finding.path, finding.line, finding.col, finding.id, finding.message)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out

"""Read an application's Python source (``ast``; never imported or run) and report the lesson's pitfalls.

Public API::

    from planner.lint import lint_paths, lint_source
    result = lint_paths(["app/"])                   # LintResult: findings, engines, notes, files
    result = lint_paths(["app/"], plan=base_plan)   # also judge the engines' pool settings against limits
    result.exit_code                                # 0 clean, 1 findings, 2 a file did not parse, 3 a linter bug

Every finding has a rule id from the table in docs/pitfalls.md; ``# pool-planner: ignore[<id>]`` on the line (or on
the first line of its statement) silences it.
"""

from __future__ import annotations

import gc
import os
import tokenize
from collections.abc import Iterable, Sequence
from fnmatch import fnmatch
from pathlib import Path

from planner import ids
from planner.input_file import MAX_LINT_BYTES, regular_file_size
from planner.lint.engines import EngineInfo, ProjectFacts, engine_inventory, url_findings
from planner.lint.findings import CODE_RULES, PARSE_ERROR, CodeFinding, LintResult
from planner.lint.limits import judge
from planner.lint.sessions import create_all_findings, has_warmup, session_findings, warmup_findings
from planner.lint.source import SourceFile
from planner.lint.sql import sql_findings
from planner.lint.suppress import ignored_ids, is_silenced, unknown_ids
from planner.model import InputError, Plan

SKIP_DIRS = frozenset({
    ".venv", "venv", "site-packages", ".git", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache",
    ".ruff_cache", ".pytest_cache",
})
BUDGET_RULES = (
    ids.TOO_MANY_CONNECTIONS, ids.OVERFLOW_EXCEEDS_BUDGET, ids.ROLLOUT_SURGE, ids.AUTOSCALE_EXCEEDS_BUDGET,
    ids.REPLICA_SAME_SERVER, ids.REPLICA_BELOW_PRIMARY,
    ids.PREPARED_STATEMENT_CACHE, ids.RECYCLE_AFTER_IDLE_TIMEOUT, ids.POOL_TIMEOUT_EXCEEDS_REQUEST_TIMEOUT,
)
KNOWN_IDS = frozenset(CODE_RULES + BUDGET_RULES)
FACT_WORDS = ("Depends", "Security", "lifespan", "on_startup", "create_async_engine", "create_engine",
              "sessionmaker", "session_maker", "SessionMaker", "scoped_session")
"""A file without any of these words adds nothing to ``ProjectFacts`` (see ``ProjectFacts.add``)."""
MAX_FILE_BYTES = 2_000_000
"""Files larger than this are skipped with a note: hand-written modules stay far below (the largest in
SQLAlchemy is 0.2 MB); a 50 MB generated file took 82 s and 6.6 GB to parse."""
CARRY_TREES_CHARS = 2_000_000
"""In a larger tree, facts-pass trees up to this much source are kept for the rules pass (about 80 MB of AST)
instead of parsed twice."""
KEEP_TREES_CHARS = 4_000_000
"""Source size up to which parsed trees are kept between passes (about 160 MB of AST at most)."""

__all__ = ["MAX_FILE_BYTES", "CodeFinding", "EngineInfo", "LintResult", "lint_paths", "lint_source", "python_files"]


def python_files(paths: Sequence[str | os.PathLike], exclude: Sequence[str] = ()) -> list[Path]:
    """Files to lint: each file given, and every ``*.py`` under each directory (sorted; virtualenvs,
    ``site-packages``, ``.git`` and ``node_modules`` skipped; ``exclude`` globs match any path part or the
    whole relative path). A missing path, or a directory without Python files, is bad input."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(_small_enough(path))
            continue
        if not path.is_dir():
            if os.path.lexists(path):
                regular_file_size(path, "PATH")  # says what it is: a FIFO, a device...
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
        found[before:] = [_small_enough(p) for p in found[before:] if p.is_file()]
    return found


def _small_enough(path: Path) -> Path:
    size = regular_file_size(path, "PATH")
    if size > MAX_LINT_BYTES:
        raise InputError("PATH", f"{path} is {size:,} bytes, above lint's limit of {MAX_LINT_BYTES:,} (generated "
                                 f"code? leave it out with --exclude)")
    return path


def _excluded(path: Path, top: Path, patterns: Iterable[str]) -> bool:
    rel = path.relative_to(top).as_posix()
    return any(fnmatch(rel, p) or fnmatch(path.name, p) or fnmatch(path.as_posix(), p) for p in patterns)


def _relative(path: Path, roots: Sequence[Path]) -> str:
    """``path`` relative to the directory given that holds it (``tests/conftest.py`` under ``repo/``): what
    ``SourceFile.is_test_file`` reads, so a repository that lives under someone's ``tests/`` is not all tests."""
    for root in roots:
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.name


def _read(path: Path) -> tuple[str | None, str | None]:
    try:
        with tokenize.open(path) as handle:  # honours a PEP 263 coding line, like Python itself
            return handle.read(), None
    except (OSError, SyntaxError, UnicodeDecodeError) as err:
        return None, f"cannot read: {err}"


def _too_large(path: Path, limit: int) -> str | None:
    try:
        size = path.stat().st_size
    except OSError:
        return None  # _read reports it
    if size <= limit:
        return None
    return (f"{path}: skipped, {size / 1e6:.1f} MB is above the {limit / 1e6:g} MB size limit (generated code "
            f"or data?); no rule checked it (--max-file-mb raises the limit)")


def lint_paths(
    paths: Sequence[str | os.PathLike], *, exclude: Sequence[str] = (), plan: Plan | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> LintResult:
    """Lint every Python file under ``paths``. With ``plan`` (servers, deployment...: its engines are
    replaced by the ones found in the code), the engines' pool settings are judged like ``plan`` does.
    A file above ``max_file_bytes`` is not read; a note says so."""
    texts, errors, skipped = {}, [], []
    where: dict[str, str] = {}
    roots = [Path(p) for p in paths if Path(p).is_dir()]
    for path in python_files(paths, exclude):
        where[str(path)] = _relative(path, roots)
        reason = _too_large(path, max_file_bytes)
        if reason:
            skipped.append(reason)
            continue
        text, problem = _read(path)
        if text is None:
            errors.append(CodeFinding(str(path), 1, 1, PARSE_ERROR, "critical", problem or "cannot read",
                                      "fix the file so Python can read it"))
        else:
            texts[str(path)] = text
    return _lint(texts, errors, plan, skipped, where)


def lint_source(text: str, path: str = "<string>", *, plan: Plan | None = None) -> LintResult:
    """Lint one module given as text (the same rules as ``lint_paths``)."""
    return _lint({path: text}, [], plan)


def _lint(
    texts: dict[str, str], errors: list[CodeFinding], plan: Plan | None, skipped: Sequence[str] = (),
    where: dict[str, str] | None = None,
) -> LintResult:
    """``_passes`` with the cyclic garbage collector paused: syntax trees hold no reference cycles (parents are
    in a separate dict), so reference counting frees each one, while the collector would walk every live node
    again and again (17% of the CPU time on SQLAlchemy's tree)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _passes(texts, errors, plan, skipped, where)
    finally:
        if enabled:
            gc.enable()


class _Trees:
    """Parses files on demand and keeps trees between passes when memory allows: every tree of a small tree
    of files (an AST takes ~40x its source's size), else up to ``CARRY_TREES_CHARS`` of facts-pass trees for
    the rules pass. A file that does not parse becomes a ``parse-error`` finding, once."""

    def __init__(self, texts: dict[str, str], where: dict[str, str], errors: list[CodeFinding]):
        self.texts, self.where, self.errors = texts, where, errors
        self.keep = sum(map(len, texts.values())) <= KEEP_TREES_CHARS
        self.spare = 0 if self.keep else CARRY_TREES_CHARS
        self.cache: dict[str, SourceFile] = {}
        self.broken: set[str] = set()
        self.internal: list[str] = []

    def get(self, path: str, carry: bool = False) -> SourceFile | None:
        if path in self.broken:
            return None
        cached = self.cache.get(path) if self.keep else self.cache.pop(path, None)
        src = cached or SourceFile.parse(path, self.texts[path], self.where.get(path, ""))
        if src.tree is None:
            self.broken.add(path)
            err = src.error
            self.errors.append(CodeFinding(
                path, err.lineno or 1, err.offset or 1, PARSE_ERROR, "critical",
                f"cannot parse as Python: {err.msg} (no rule checked this file)",
                "fix the syntax error (lint parses with the Python running it)",
            ))
            return None
        if self.keep:
            self.cache[path] = src
        elif carry and len(self.texts[path]) <= self.spare:
            self.spare -= len(self.texts[path])
            self.cache[path] = src
        return src


def _passes(
    texts: dict[str, str], errors: list[CodeFinding], plan: Plan | None, skipped: Sequence[str],
    where: dict[str, str] | None,
) -> LintResult:
    """Three passes: facts over all files, then the rules file by file, then warm-ups, which need every
    engine. In a large tree the facts pass skips files that cannot contribute a fact (none of
    ``FACT_WORDS`` in the text)."""
    trees = _Trees(texts, where or {}, errors)
    facts = ProjectFacts()
    for path, text in texts.items():
        if trees.keep or any(word in text for word in FACT_WORDS):
            src = trees.get(path, carry=True)
            if src is not None:
                facts.add(src)
        else:
            facts.add_text(text)
    raw, engines, warmups = _rules_pass(trees, facts)
    for path in warmups:
        raw[path] += warmup_findings(trees.get(path), facts, engines)
    notes: list[str] = list(skipped)
    budgets: tuple = ()
    if plan is not None:
        plan_found, budgets, plan_notes = _judge(engines, plan)
        notes += plan_notes
        for finding in plan_found:
            raw.setdefault(finding.path, []).append(finding)
    kept, silenced = _silence(texts, raw, notes)
    return LintResult(
        findings=tuple(sorted([*errors, *kept], key=lambda f: f.sort_key)),
        engines=tuple(engines),
        files=len(texts) + sum(1 for e in errors if e.path not in texts) + len(skipped),
        notes=tuple(notes),
        budgets=budgets,
        suppressed=silenced,
        internal_errors=tuple(trees.internal),
    )


def _rules_pass(trees: _Trees, facts: ProjectFacts):
    """Findings per parsed file, every engine (sorted), and the files with a warm-up function."""
    raw: dict[str, list[CodeFinding]] = {}
    engines: list[EngineInfo] = []
    warmups = []
    for path in trees.texts:
        src = trees.get(path)
        if src is None:
            continue
        try:
            found, file_findings = engine_inventory(src, facts)
            file_findings += url_findings(src) + sql_findings(src) + session_findings(src, facts)
            file_findings += create_all_findings(src, facts)
        except RecursionError:  # ast.unparse and friends on an expression nested thousands deep
            trees.errors.append(CodeFinding(
                path, 1, 1, PARSE_ERROR, "critical",
                "too deeply nested for the linter (RecursionError): no rule checked this file",
                "split the deeply nested expression"))
            continue
        except Exception as err:  # a linter bug on one file: said once, the other files still linted
            first = str(err).splitlines()[0] if str(err) else ""
            trees.internal.append(f"{path}: the linter failed on this file, no rule checked it "
                                  f"({type(err).__name__}{': ' + first if first else ''}); please report it")
            continue
        engines.extend(found)
        raw[path] = file_findings
        if has_warmup(src):
            warmups.append(path)
    engines.sort(key=lambda e: (e.path, e.line, e.col))
    return raw, engines, warmups


def _silence(texts: dict[str, str], raw: dict[str, list[CodeFinding]], notes: list[str]):
    """Findings not silenced by a comment, and how many were; unknown ids in comments go to ``notes``."""
    kept, silenced = [], 0
    for path, findings in raw.items():
        ignored = ignored_ids(texts[path])
        notes += unknown_ids(path, ignored, KNOWN_IDS)
        for finding in _dedupe(findings):
            if is_silenced(finding, ignored):
                silenced += 1
            else:
                kept.append(finding)
    return kept, silenced


def _judge(engines, plan):
    return judge(engines, plan)


def _dedupe(findings: list[CodeFinding]) -> list[CodeFinding]:
    seen, out = set(), []
    for finding in findings:
        key = (finding.path, finding.line, finding.col, finding.id, finding.message)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out

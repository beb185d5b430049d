"""Per-line silencing: ``# pool-planner: ignore[bind-in-literal]`` (several ids separated by commas).

The comment counts on the finding's own line or on the first line of the statement that contains it, so a
multi-line call (a triple-quoted ``text()``) is silenced from its first line. A comment without ids
silences nothing: naming the rule keeps each exception deliberate and reviewable.

The codes other Python linters use for SQL built from strings are honoured alike, for the two SQL-building
rules: ``# noqa: S608`` (ruff, flake8-bandit) and ``# nosec`` / ``# nosec B608`` (bandit). An
``ignore[sql-string-building]`` written before ``sql-identifier-building`` existed still covers it.
"""

from __future__ import annotations

import io
import re
import tokenize

from planner import ids
from planner.lint.findings import CodeFinding

_IGNORE = re.compile(r"#\s*pool-planner:\s*ignore\[([^\]]*)\]")
_NOQA_S608 = re.compile(r"#\s*noqa\s*:[\sA-Z0-9,]*\bS608\b|#\s*nosec\b(?![\s:]*B(?!608)\d)", re.IGNORECASE)
SQL_BUILDING = frozenset({ids.SQL_STRING_BUILDING, ids.SQL_IDENTIFIER_BUILDING})
COVERS = {ids.SQL_STRING_BUILDING: {ids.SQL_IDENTIFIER_BUILDING}}
"""An id in an ignore comment also silences these (the rule was split in two)."""


def ignored_ids(text: str) -> dict[int, set[str]]:
    """Line number -> rule ids silenced by a comment on that line (comments only, never string contents)."""
    found: dict[int, set[str]] = {}
    if "pool-planner" not in text and "S608" not in text and "nosec" not in text:
        return found
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                match = _IGNORE.search(tok.string)
                if match:
                    ids = {part.strip() for part in match.group(1).split(",") if part.strip()}
                    found.setdefault(tok.start[0], set()).update(ids)
                if _NOQA_S608.search(tok.string):
                    found.setdefault(tok.start[0], set()).update(SQL_BUILDING)
    except (tokenize.TokenError, SyntaxError):  # the parser already reports broken files
        pass
    return found


def is_silenced(finding: CodeFinding, ignored: dict[int, set[str]]) -> bool:
    lines = {finding.line, *finding.anchor_lines}
    for line in lines:
        ids = ignored.get(line, ())
        if finding.id in ids or any(finding.id in COVERS.get(i, ()) for i in ids):
            return True
    return False


def unknown_ids(path: str, ignored: dict[int, set[str]], known: set[str]) -> list[str]:
    """Notes for ids in silencing comments that name no rule (a typo silences nothing)."""
    return [
        f"{path}:{line}: unknown rule id {rule_id!r} in a pool-planner ignore comment"
        for line, ids in sorted(ignored.items())
        for rule_id in sorted(ids - known)
    ]

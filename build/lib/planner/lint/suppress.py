"""Per-line silencing: ``# pool-planner: ignore[bind-in-literal]`` (several ids separated by commas).

The comment counts on the finding's own line or on the first line of the statement that contains it, so a
multi-line call (a triple-quoted ``text()``) is silenced from its first line. A comment without ids
silences nothing: naming the rule keeps each exception deliberate and reviewable.
"""

from __future__ import annotations

import io
import re
import tokenize

from planner.lint.findings import CodeFinding

_IGNORE = re.compile(r"#\s*pool-planner:\s*ignore\[([^\]]*)\]")


def ignored_ids(text: str) -> dict[int, set[str]]:
    """Line number -> rule ids silenced by a comment on that line (comments only, never string contents)."""
    found: dict[int, set[str]] = {}
    if "pool-planner" not in text:
        return found
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                match = _IGNORE.search(tok.string)
                if match:
                    ids = {part.strip() for part in match.group(1).split(",") if part.strip()}
                    found.setdefault(tok.start[0], set()).update(ids)
    except (tokenize.TokenError, SyntaxError):  # the parser already reports broken files
        pass
    return found


def is_silenced(finding: CodeFinding, ignored: dict[int, set[str]]) -> bool:
    lines = {finding.line, *finding.anchor_lines}
    return any(finding.id in ignored.get(line, ()) for line in lines)


def unknown_ids(path: str, ignored: dict[int, set[str]], known: set[str]) -> list[str]:
    """Notes for ids in silencing comments that name no rule (a typo silences nothing)."""
    return [
        f"{path}:{line}: unknown rule id {rule_id!r} in a pool-planner ignore comment"
        for line, ids in sorted(ignored.items())
        for rule_id in sorted(ids - known)
    ]

"""What the linter returns: a finding at a place in the code, and the result of one run.

A ``CodeFinding`` carries the same stable id as the planner's ``Finding`` (the table in docs/pitfalls.md) plus where
it is, so the CLI, CI annotations and the tests speak about the same line.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner import ids
from planner.model import SEVERITY_ORDER, Severity

PARSE_ERROR = "parse-error"
"""Not a pitfall: the file could not be read as Python. Listed like a finding, exit code 2."""

CODE_RULES = (
    ids.BIND_IN_LITERAL,
    ids.SQL_STRING_BUILDING,
    ids.SQL_IDENTIFIER_BUILDING,
    ids.SESSION_WITHOUT_CONTEXT,
    ids.SINGLE_CONNECTION_WARMUP,
    ids.CREATE_ALL_WITHOUT_RUN_SYNC,
    ids.ENGINE_PER_REQUEST,
    ids.UNBOUNDED_OVERFLOW,
    ids.ASYNCPG_SSL,
)
"""Rule ids the linter finds by reading code (docs/pitfalls.md); budget ids come from the planner."""


@dataclass(frozen=True, slots=True)
class CodeFinding:
    """One pitfall at ``path:line:col`` (1-based line and column)."""

    path: str
    line: int
    col: int
    id: str
    severity: Severity
    message: str
    fix: str = ""
    anchor_lines: tuple[int, ...] = ()
    """Other lines whose ``# pool-planner: ignore[id]`` comment silences it (the statement's first line)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "id": self.id,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }

    @property
    def sort_key(self) -> tuple:
        return (self.path, self.line, self.col, self.id, SEVERITY_ORDER[self.severity], self.message)


@dataclass(frozen=True, slots=True)
class LintResult:
    """Findings of one run, the engines seen, and what could not be judged (``notes``)."""

    findings: tuple[CodeFinding, ...] = ()
    engines: tuple = ()
    """``EngineInfo`` records, in file and line order."""
    files: int = 0
    notes: tuple[str, ...] = ()
    budgets: tuple = ()
    """``planner.budget.ServerBudget`` per server when limits were given."""
    suppressed: int = 0
    """Findings silenced by ``# pool-planner: ignore[...]`` comments."""
    internal_errors: tuple[str, ...] = ()
    """One line per file a rule failed on (a bug in the linter, not in the code): exit code 3."""

    @property
    def parse_errors(self) -> tuple[CodeFinding, ...]:
        return tuple(f for f in self.findings if f.id == PARSE_ERROR)

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings, 2 when a file could not be parsed (the verdict is incomplete), 3 when the linter
        itself failed on a file (never reported as a finding)."""
        if self.internal_errors:
            return 3
        if self.parse_errors:
            return 2
        return 1 if self.findings else 0

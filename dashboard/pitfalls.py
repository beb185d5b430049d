"""The pitfalls panel's entries: one per finding id and server, with the applications it concerns.

The live rules give one finding per (id, server, subject): four workers with a session idle in a transaction
are four findings. The panel shows them as one entry whose header names the applications, with each one's
evidence inside and the fix and snippet once. Everything a server sent (application names, roles, query
text) is escaped before it reaches Markdown (``md_escape``), so a name like ``*x*`` or ``[a](http://...)``
shows as typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from planner.model import SEVERITY_ORDER, Finding
from planner.text import md

MAX_NAMES_IN_HEADER = 4
def md_escape(text: str) -> str:
    """``text`` as literal Markdown on one line: ``planner.text.md``, the page's one escaper."""
    return md(" ".join(str(text).split()))


@dataclass(frozen=True)
class PitfallGroup:
    """One entry of the panel: a finding id on one server, from the live samples or from the plan."""

    id: str
    severity: str
    """The worst severity among its findings."""
    server: str | None
    source: str
    """``live`` or ``plan``."""
    since: datetime | None
    """The earliest start among its live findings (None for the plan's own)."""
    subjects: tuple[str, ...]
    """The applications (or engines) it concerns, sorted (the order rules find them varies); empty for the
    server itself."""
    findings: tuple[Finding, ...]

    @property
    def fixes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.fix for f in self.findings if f.fix))

    @property
    def snippets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.snippet for f in self.findings if f.snippet))

    def names(self, limit: int = MAX_NAMES_IN_HEADER, escape=str) -> str:
        """The subjects, the first ``limit`` (each through ``escape``) and how many more."""
        shown = ", ".join(escape(name) for name in self.subjects[:limit])
        more = len(self.subjects) - limit
        return shown + (f" and {more} more" if more > 0 else "")

    @property
    def label(self) -> str:
        """The expander's header (Markdown, every server-sent name escaped)."""
        parts = [f"**{self.id}**", self.severity]
        if self.subjects:
            count = f"{len(self.subjects)} applications: " if len(self.subjects) > 1 else ""
            parts.append(count + self.names(escape=md_escape))
        parts.append(f"since {self.since:%H:%M:%S} UTC" if self.since else "in the plan")
        if self.server:
            parts.append(md_escape(self.server))
        return " · ".join(parts)


def group_rows(rows: Sequence[object]) -> list[PitfallGroup]:
    """``state.FindingRow`` entries grouped by (source, id, server), in the order the rows come."""
    grouped: dict[tuple[str, str, str | None], list] = {}
    for row in rows:
        key = (row.source, row.finding.id, row.finding.server)  # type: ignore[attr-defined]
        grouped.setdefault(key, []).append(row)
    out = []
    for (source, fid, server), members in grouped.items():
        findings = tuple(r.finding for r in members)
        starts = [r.since for r in members if r.since is not None]
        subjects = tuple(sorted({r.subject for r in members if getattr(r, "subject", "")}))  # stable per rerun
        worst = min((f.severity for f in findings), key=SEVERITY_ORDER.__getitem__)
        out.append(PitfallGroup(fid, worst, server, source, min(starts) if starts else None, subjects, findings))
    return out


__all__ = ["PitfallGroup", "group_rows", "md_escape"]

"""The pitfalls panel's rows: live findings (``planner.rules.live``) newest first, then the plan's own.

Part of the page's view-model (``dashboard.state`` re-exports every name); no Streamlit here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from planner.model import SEVERITY_ORDER, Finding, Plan
from planner.rules.live import tracked_live_findings

LIVE_FINDINGS_WINDOW = timedelta(minutes=10)
"""How far back the live rules look: a finding's "since" is at most this old (the rules re-run every refresh)."""


@dataclass(frozen=True)
class FindingRow:
    """One entry of the pitfalls panel."""

    finding: Finding
    since: datetime | None
    """When it started (live findings); None for a finding of the plan itself."""
    source: str
    """``live`` or ``plan``."""
    subject: str = ""
    """What on the server a live finding concerns (an application, an engine), "" for the server itself."""


def finding_rows(static: Sequence[Finding], live: Sequence[object]) -> list[FindingRow]:
    """Live findings newest first (by when they started), then the plan's own findings by severity.

    ``live`` holds ``planner.rules.live.LiveFinding`` objects (finding + since).
    """
    rows = [FindingRow(item.finding, item.since, "live", item.subject) for item in live]  # type: ignore[attr-defined]
    rows.sort(key=lambda r: (r.since, -SEVERITY_ORDER[r.finding.severity]), reverse=True)
    live_ids = {(r.finding.id, r.finding.server) for r in rows}
    plan_rows = [FindingRow(f, None, "plan") for f in static if (f.id, f.server) not in live_ids]
    plan_rows.sort(key=lambda r: SEVERITY_ORDER[r.finding.severity])
    return rows + plan_rows


def live_findings_for(plan: Plan | None, monitor, servers: Sequence[str], *, now: datetime) -> list[object]:
    """The live rules (``planner.rules.live``) over each server's recent samples, with since-when."""
    since = now - LIVE_FINDINGS_WINDOW
    snapshots = [snap for server in servers for snap in monitor.history.snapshots(server, since=since)]
    snapshots += [snap for server, snap in monitor.latest().items() if server in servers]  # with its sessions
    return tracked_live_findings(plan, snapshots, now=now)


def snippet_language(snippet: str) -> str:
    """Syntax highlighting for a finding's snippet (presentation only)."""
    text = snippet.lstrip()
    if text.startswith(("ALTER ", "SELECT ", "GRANT ", "SET ", "CREATE ROLE")):
        return "sql"
    first = text.splitlines()[0] if text else ""
    if text.startswith("[") or ("= " in first and "(" not in first):
        return "ini"
    return "python"

"""The live panel of one server: headline, counts over time, the plan's lines and the latest groups.

Part of the page's view-model (``dashboard.state`` re-exports every name); no Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from dashboard.planview import plan_lines
from planner.budget import plan_budgets
from planner.dsn import mask_url
from planner.model import InputError, Plan
from planner.snapshot import ServerSettings, Snapshot
from planner.text import md

TIME_RANGES: dict[str, timedelta | None] = {
    "15 min": timedelta(minutes=15),
    "1 h": timedelta(hours=1),
    "6 h": timedelta(hours=6),
    "24 h": timedelta(hours=24),
    "whole history": None,
}


@dataclass(frozen=True)
class LiveView:
    """What the live panel shows for one server: a headline, the counts to chart, the latest groups."""

    headline: str
    error: str | None
    wide: pd.DataFrame
    """Counts over time, one column per state or application (``dashboard.timeline``)."""
    lines: dict[str, float | None]
    table: pd.DataFrame | None
    gaps: pd.Series | None = None
    """Per row of ``wide``: True where the sample failed (``charts.wide_figure``'s ``gaps``)."""


def history_since(range_label: str, now: datetime) -> datetime | None:
    if range_label not in TIME_RANGES:
        raise InputError("time range", f"must be one of {', '.join(TIME_RANGES)}, got {range_label!r}")
    span = TIME_RANGES[range_label]
    return None if span is None else now - span


def latest_table(snapshot: Snapshot | None) -> pd.DataFrame | None:
    """The latest sample's connections per application and state, biggest first."""
    if snapshot is None or not snapshot.ok:
        return None
    rows = {}
    for g in snapshot.groups:
        key = (g.application_name or "(none)", g.state or "(hidden)")
        rows[key] = rows.get(key, 0) + g.count
    table = pd.DataFrame([(a, s, n) for (a, s), n in rows.items()], columns=["application_name", "state", "count"])
    return table.sort_values(["count", "application_name", "state"], ascending=[False, True, True], ignore_index=True)


def live_headline(server: str, snapshot: Snapshot | None, status=None) -> tuple[str, str | None]:
    """``(headline, error)`` for the latest sample of one server (``status``: the monitor's ServerStatus).

    The headline is Markdown with every server string escaped; ``error`` is plain text (escape it to show it)."""
    if snapshot is None:
        reason = f" ({md(status.state)}: {md(mask_url(status.reason))})" if status is not None and status.reason else ""
        return f"**{md(server)}**: waiting for the first sample…{reason}", None
    when = f"{snapshot.taken_at:%H:%M:%S} UTC"
    if not snapshot.ok:
        retry = ""
        if status is not None and status.next_retry_at is not None:
            retry = f"; next attempt {status.next_retry_at:%H:%M:%S} UTC"
        return (f"**{md(server)}**: no sample at {when} ({md(snapshot.status)}){retry}",
                f"{snapshot.status}: {mask_url(snapshot.error or '')}")
    states = snapshot.count_by("state")
    parts = ", ".join(f"{n} {md(s or 'hidden')}" for s, n in sorted(states.items(), key=lambda kv: -kv[1]))
    parts = f" ({parts})" if parts else ""  # no client yet: no empty "()"
    latency = f" · query {snapshot.latency_ms:.1f} ms" if snapshot.latency_ms is not None else ""
    return f"**{md(server)}**: **{snapshot.total}** client connections at {when}{parts}{latency}", None


def live_view(monitor, timeline, server: str, plan: Plan | None, range_label: str, by: str, *,
              now: datetime) -> LiveView:
    """Everything the live panel needs for one server: the monitor's latest sample and the timeline's counts."""
    snapshot = monitor.latest().get(server)
    headline, error = live_headline(server, snapshot, monitor.status().get(server))
    wide, gaps = timeline.window_with_gaps(by, history_since(range_label, now))
    lines: dict[str, float | None] = {}
    if plan is not None and server in {s.name for s in plan.servers}:
        lines = plan_lines(next(b for b in plan_budgets(plan) if b.name == server))
    lines = with_server_limit(lines, getattr(snapshot, "settings", None))
    return LiveView(headline, error, wide, lines, latest_table(snapshot), gaps)


def with_server_limit(lines: dict[str, float | None], settings: ServerSettings | None) -> dict[str, float | None]:
    """The plan's lines, plus the server's own max_connections when the plan says another number (the
    ``plan-differs-from-server`` finding explains it): the chart never shows only the plan's limit."""
    if settings is None or lines.get("max_connections") in (None, settings.max_connections):
        return lines
    return {**lines, "server max_connections": settings.max_connections}

"""The live panel of one server: headline, counts over time, the plan's lines and the latest groups.

Part of the page's view-model (``dashboard.state`` re-exports every name); no Streamlit here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pandas as pd

from dashboard.charts import UNKNOWN
from dashboard.inputs import PRIMARY, REPLICA
from dashboard.planfile import roles
from dashboard.planview import plan_lines
from planner.attribution import UNPLANNED_PREFIX, attribute, series_name
from planner.budget import ServerBudget, plan_budgets
from planner.dsn import mask_url
from planner.model import InputError, Plan
from planner.rules.server_match import live_limits
from planner.snapshot import ServerSettings, Snapshot
from planner.text import md

UNPLANNED = "unplanned"
"""The service column of a connection no service of the plan names (``latest_table``)."""

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
    service_lines: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Split by application with several services: each service's own steady, peak and rollout peak on this
    server (``budget.shares``); ``wide`` then has one column per service and one per unplanned client."""


def history_since(range_label: str, now: datetime) -> datetime | None:
    if range_label not in TIME_RANGES:
        raise InputError("time range", f"must be one of {', '.join(TIME_RANGES)}, got {range_label!r}")
    span = TIME_RANGES[range_label]
    return None if span is None else now - span


def latest_table(snapshot: Snapshot | None, plan: Plan | None = None) -> pd.DataFrame | None:
    """The latest sample's connections per application and state, biggest first; with several services, the
    service each application is attributed to (``unplanned`` when none names it) in a first column."""
    if snapshot is None or not snapshot.ok:
        return None
    rows = {}
    for g in snapshot.groups:
        key = (g.application_name or "(none)", g.state or "(hidden)")
        rows[key] = rows.get(key, 0) + g.count
    table = pd.DataFrame([(a, s, n) for (a, s), n in rows.items()], columns=["application_name", "state", "count"])
    table = table.sort_values(["count", "application_name", "state"], ascending=[False, True, True],
                              ignore_index=True)
    if plan is not None and plan.multi_service:
        services = [plan.service_of(None if a == "(none)" else a) or UNPLANNED for a in table["application_name"]]
        table.insert(0, "service", services)
    return table



def service_split(wide: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Counts per application_name -> one column per service (its applications summed, per-worker suffixes
    folded) in the plan's order, then one per unplanned client (``unplanned: <name>``), biggest first."""
    if not len(wide.columns):
        return wide
    names = [series_name(plan, None if column == UNKNOWN else column) for column in wide.columns]
    grouped = wide.T.groupby(pd.Index(names), sort=False).sum(min_count=1).T.reindex(index=wide.index)
    order = [s.name for s in plan.services if s.name in grouped.columns]
    peaks = grouped.max().fillna(0.0)
    unplanned = sorted((c for c in grouped.columns if c.startswith(UNPLANNED_PREFIX) and c not in order),
                       key=lambda c: (-float(peaks[c]), c))
    return grouped[order + unplanned]


def service_lines(budget: ServerBudget) -> dict[str, dict[str, float | None]]:
    """Each service's own lines on one server, from its share of the budget (``planner.budget``)."""
    return {share.service: {"steady": share.steady, "peak": share.peak,
                            "rollout peak": share.rollout_peak if share.rollout_peak != share.peak else None}
            for share in budget.shares}


def attribution_line(plan: Plan, snapshot: Snapshot | None) -> str:
    """Markdown: the latest sample's connections per service, and the unplanned clients with their names."""
    if snapshot is None or not snapshot.ok:
        return ""
    att = attribute(plan, snapshot)
    services = ", ".join(f"{md(name)} **{count}**" for name, count in att.by_service)
    line = f"By service: {services}"
    if att.unplanned:
        names = ", ".join(f"{md(name)} {count}" for name, count in att.unplanned[:5])
        more = f" and {len(att.unplanned) - 5} more" if len(att.unplanned) > 5 else ""
        line += f" · unplanned **{att.unplanned_total}** ({names}{more})"
    return line


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
    per_service: dict[str, dict[str, float | None]] = {}
    budget = None
    if plan is not None and server in {s.name for s in plan.servers}:
        budget = next(b for b in plan_budgets(plan) if b.name == server)
        lines = plan_lines(budget)
    if plan is not None and plan.multi_service:
        extra = attribution_line(plan, snapshot)
        headline = f"{headline}  \n{extra}" if extra else headline
        if by == "application_name":
            wide = service_split(wide, plan)
            per_service = service_lines(budget) if budget is not None else {}
            lines = {k: v for k, v in lines.items() if k not in ("steady", "peak")}  # each service's replace them
    lines = with_server_limit(lines, getattr(snapshot, "settings", None))
    return LiveView(headline, error, wide, lines, latest_table(snapshot, plan), gaps, per_service)


def with_server_limit(lines: dict[str, float | None], settings: ServerSettings | None) -> dict[str, float | None]:
    """The plan's lines, plus the server's own max_connections when the plan says another number (the
    ``plan-differs-from-server`` finding explains it): the chart never shows only the plan's limit."""
    if settings is None or lines.get("max_connections") in (None, settings.max_connections):
        return lines
    return {**lines, "server max_connections": settings.max_connections}



def sidebar_servers(base: Plan | None, inputs_replica: bool) -> frozenset[str]:
    """The servers whose limits the sidebar shows: a loaded plan's primary and replica (``planfile.roles``), else
    the sidebar's own primary (and replica when its replica engine is on)."""
    if base is None:
        return frozenset({PRIMARY, REPLICA} if inputs_replica else {PRIMARY})
    role = roles(base)
    return frozenset(name for name in (role.primary_server, role.replica_server) if name)


def with_own_live_limits(plan: Plan, limits: Mapping[str, ServerSettings | None], shown: Collection[str]) -> Plan:
    """Each server of the plan the sidebar does not show (``shown``), with its **own** live limits (``limits``:
    server -> its latest sample's settings; ``planner.rules.server_match.live_limits``): a plan file's replica
    gets the replica's, not the primary's. The sidebar's servers are left to the sidebar (its "Use the live
    server's limits" fills them in), so a value the user typed there is never overwritten."""
    servers = tuple(live_limits(s, limits[s.name]) if s.name not in shown and limits.get(s.name) is not None else s
                    for s in plan.servers)
    return plan if servers == plan.servers else replace(plan, servers=servers)

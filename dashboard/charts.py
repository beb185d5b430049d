"""Plotly figures as pure functions of planner results and sampled DataFrames (no Streamlit, no I/O).

Each function only lays out numbers it is given: budgets come from ``planner.budget``, predicted waits from
``planner.queueing``, connection counts from the live history. Long histories go through
``dashboard.downsample`` so a browser never gets more than ``MAX_POINTS`` points per trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.downsample import MAX_POINTS, downsample
from planner.budget import PgBouncerBudget, ServerBudget
from planner.model import Plan
from planner.rules.autoscale import autoscale_peak
from planner.text import plotly_text

BUDGET_SEGMENTS: dict[str, str] = {
    "reserved": "#8c8c8c",
    "other clients": "#bcbd22",
    "steady": "#2b83ba",
    "overflow": "#fdae61",
    "autoscale growth": "#e7298a",
    "rollout surge": "#d7191c",
    "free": "#abdda4",
}
STATE_COLOURS: dict[str, str] = {
    "active": "#2b83ba",
    "idle": "#1a9641",
    "idle in transaction": "#d7191c",
    "idle in transaction (aborted)": "#7b3294",
    "fastpath function call": "#fdae61",
    "disabled": "#8c8c8c",
    "(hidden)": "#8c8c8c",
}
PLAN_LINES: dict[str, tuple[str, str]] = {
    "steady": ("#1a9641", "dot"),
    "peak": ("#fdae61", "dash"),
    "rollout peak": ("#7b3294", "dash"),
    "usable": ("#d7191c", "solid"),
    "max_connections": ("#67001f", "longdash"),
    "server max_connections": ("#000000", "solid"),
}
UNKNOWN = "(hidden)"
SERVICE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
"""One colour per service of the plan (its series and its own plan lines), in the plan's order, repeating."""
UNPLANNED_COLOURS = ("#7f7f7f", "#a6761d", "#666666", "#b15928", "#999999")
"""The unplanned clients' series: greys and browns, dotted, so they never pass for a service."""
SERVICE_LINE_DASH = {"steady": "dot", "peak": "dash", "rollout peak": "longdash"}
LABEL_POSITION = {"usable": "bottom left", "max_connections": "top left"}
"""Where a plan line's label goes: usable and max_connections are often close, so one sits above, one below."""


def budget_segments(plan: Plan, budget: ServerBudget) -> dict[str, int]:
    """Split one server's max_connections into the stacked bar's segments (all from the planner's numbers)."""
    server = plan.server(budget.name)
    reserved = server.superuser_reserved_connections + server.reserved_connections
    used_to = budget.rollout_peak if budget.rollout_peak is not None else budget.steady
    at_max = autoscale_peak(plan, budget)
    return {
        "reserved": reserved,
        "other clients": server.other_clients,
        "steady": budget.steady,
        "overflow": (budget.peak - budget.steady) if budget.peak is not None else 0,
        "autoscale growth": (at_max - budget.peak) if at_max is not None and budget.peak is not None else 0,
        "rollout surge": (budget.rollout_peak - at_max) if budget.rollout_peak is not None and at_max is not None
        else 0,
        "free": max(budget.usable - used_to, 0),
    }


def pgbouncer_segments(bouncer: PgBouncerBudget, plan: Plan | None = None) -> dict[str, int]:
    """PgBouncer's client connections as the same segments (nothing reserved; its limit is max_client_conn,
    in session mode its server connections when fewer)."""
    used_to = bouncer.clients_rollout_peak if bouncer.clients_rollout_peak is not None else bouncer.clients_steady
    peak, rollout = bouncer.clients_peak, bouncer.clients_rollout_peak
    at_max = peak
    if plan is not None and peak is not None:  # clients grow with the processes, like the server's connections
        dep = plan.deployment
        at_max = peak // dep.processes * dep.autoscale_processes
    return {
        "reserved": 0,
        "other clients": 0,
        "steady": bouncer.clients_steady,
        "overflow": (peak - bouncer.clients_steady) if peak is not None else 0,
        "autoscale growth": (at_max - peak) if at_max is not None and peak is not None else 0,
        "rollout surge": (rollout - at_max) if rollout is not None and at_max is not None else 0,
        "free": max(bouncer.limit - used_to, 0),
    }


def pgbouncer_limit_label(bouncer: PgBouncerBudget) -> str:
    if bouncer.limited_by_server_connections:
        return f"session mode: {bouncer.limit} server connections"
    return f"max_client_conn {bouncer.max_client_conn}"


def budget_figure(plan: Plan, budgets: Sequence[ServerBudget], bouncer: PgBouncerBudget | None = None) -> go.Figure:
    """One horizontal stacked bar per server, and one for PgBouncer's clients when engines go through it; a bar
    longer than its limit line (max_connections; PgBouncer's limit) is over budget."""
    fig = go.Figure()
    names = [b.name for b in budgets]
    segments = [budget_segments(plan, b) for b in budgets]
    limits = [(b.max_connections, f"max_connections {b.max_connections}", b.rollout_peak is None) for b in budgets]
    if bouncer is not None:
        names.append("PgBouncer clients")
        segments.append(pgbouncer_segments(bouncer, plan))
        limits.append((bouncer.limit, pgbouncer_limit_label(bouncer), bouncer.clients_rollout_peak is None))
    for label, colour in BUDGET_SEGMENTS.items():
        values = [s[label] for s in segments]
        fig.add_bar(
            name=label, y=names, x=values, orientation="h", marker_color=colour,
            text=[str(v) if v else "" for v in values], textposition="inside", insidetextanchor="middle",
            hovertemplate=f"{label}: %{{x}}<extra>%{{y}}</extra>",
        )
    colour = PLAN_LINES["max_connections"][0]
    for i, (limit, label, unbounded) in enumerate(limits):
        fig.add_shape(type="line", x0=limit, x1=limit, y0=i - 0.45, y1=i + 0.45, line={"color": colour, "width": 3})
        fig.add_annotation(x=limit, y=i - 0.45, text=label + (" · peak unbounded" if unbounded else ""),
                           showarrow=False, yanchor="bottom", font={"size": 11, "color": colour})
    fig.update_layout(
        barmode="stack", height=150 + 70 * len(names), margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.08, "x": 0, "traceorder": "normal"},
        xaxis_title="connections",
        yaxis={"autorange": "reversed"}, uniformtext={"minsize": 9, "mode": "hide"},
    )
    return fig


def wide_counts(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Long history (taken_at, status, <by>, count) -> one column per value of ``by``, one row per sample.

    A sample that is not ``ok`` becomes a row of NaN (a gap); a category missing from an ok sample is 0.
    """
    if frame.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="taken_at"))
    times, time_index = pd.factorize(frame["taken_at"], sort=True)
    ok = (frame["status"] == "ok").to_numpy()
    counts = frame["count"].to_numpy(dtype=float)
    # an ok sample with no client backend at all is one placeholder row (no application, no state, count 0)
    placeholder = frame["application_name"].isna().to_numpy() & frame["state"].isna().to_numpy() & (counts == 0)
    use = ok & ~placeholder
    keys = frame[by].astype(object).where(frame[by].notna(), UNKNOWN).to_numpy()
    cats, cat_index = pd.factorize(keys[use], sort=True)
    width = max(len(cat_index), 1)
    grid = np.bincount(
        times[use] * width + cats, weights=counts[use], minlength=len(time_index) * width,
    ).astype(float).reshape(len(time_index), width)[:, : len(cat_index)]
    sampled = np.zeros(len(time_index), dtype=bool)
    sampled[times[ok]] = True
    grid[~sampled] = np.nan
    index = pd.DatetimeIndex(time_index, name="taken_at")
    if index.tz is not None:
        index = index.tz_convert(None)  # naive UTC: tz-aware arrays reach plotly as slow object arrays
    return pd.DataFrame(grid, index=index, columns=list(cat_index))


def gap_mask(frame: pd.DataFrame) -> pd.Series:
    """Per sample time (naive UTC, sorted like ``wide_counts``' rows): True when the sample failed (a gap)."""
    if frame.empty:
        return pd.Series([], index=pd.DatetimeIndex([], name="taken_at"), dtype=bool)
    status = frame.groupby("taken_at", sort=True)["status"].first()
    index = pd.DatetimeIndex(status.index, name="taken_at")
    if index.tz is not None:
        index = index.tz_convert(None)
    return pd.Series((status != "ok").to_numpy(), index=index, dtype=bool)


def total_counts(wide: pd.DataFrame, gaps: pd.Series | None = None) -> np.ndarray:
    """The total line: the sum over the columns, NaN where a sample failed.

    With no column at all (every ok sample saw zero client backends) the failed samples are only known from
    ``gaps``: they stay NaN, so an outage in a quiet window is drawn as a gap, never as 0.
    """
    if len(wide.columns):
        total = wide.sum(axis=1, min_count=1).to_numpy(dtype=float, copy=True)
    else:
        total = np.zeros(len(wide.index))
    if gaps is not None and len(gaps):
        failed = gaps.reindex(wide.index, fill_value=False).to_numpy(dtype=bool)
        total[failed] = np.nan
    return total


def wide_figure(
    wide: pd.DataFrame,
    by: str,
    plan_lines: Mapping[str, float | None],
    *,
    max_points: int = MAX_POINTS,
    title: str = "",
    gaps: pd.Series | None = None,
    service_lines: Mapping[str, Mapping[str, float | None]] | None = None,
) -> go.Figure:
    """Connections over time per value of ``by`` plus the total, with the plan's lines; gaps stay gaps. From
    counts already pivoted by ``wide_counts`` (what the live panel's ``Timeline`` keeps between reruns).

    ``gaps`` (``gap_mask``; ``Timeline.gaps``) marks the failed samples; the column names (application names
    from any client) reach the legend and the hover label as escaped text (``planner.text.plotly_text``).

    ``service_lines`` (split by application, several services: ``dashboard.liveview.service_split`` made one
    column per service and one per unplanned client): each service's own steady, peak and rollout-peak lines, in
    its series' colour and legend group (a click on the service hides them all).
    """
    fig = go.Figure()
    x = wide.index.to_numpy()
    colours = _series_colours(wide.columns, service_lines) if service_lines else {}
    for column in wide.columns:
        px, py = downsample(x, wide[column].to_numpy(), max_points)
        colour = STATE_COLOURS.get(column) if by == "state" else colours.get(column)
        dash = "dot" if service_lines and column not in service_lines and column in colours else None
        fig.add_scatter(x=px, y=py, name=plotly_text(column), mode="lines", connectgaps=False,
                        legendgroup=plotly_text(column) if service_lines else None,
                        line={"width": 1.5, "color": colour, "dash": dash},
                        hovertemplate="%{y:.0f}<extra>%{fullData.name}</extra>")
    if service_lines and len(wide.index):
        _add_service_lines(fig, x, service_lines, colours)
    if len(wide.index):
        px, py = downsample(x, total_counts(wide, gaps), max_points)
        fig.add_scatter(x=px, y=py, name="total", mode="lines", connectgaps=False,
                        line={"width": 2.5, "color": "#444444"}, hovertemplate="%{y:.0f}<extra>total</extra>")
    for name, value in plan_lines.items():
        if value is None:
            continue
        colour, dash = PLAN_LINES.get(name, ("#444444", "dot"))
        fig.add_hline(y=value, line={"color": colour, "dash": dash, "width": 1.5},
                      annotation_text=f"{name} {value:g}",
                      annotation_position=LABEL_POSITION.get(name, "top right"),
                      annotation_font={"size": 10, "color": colour})
    if not len(wide.index):
        fig.add_annotation(text="no samples in this range yet", showarrow=False, xref="paper", yref="paper",
                           x=0.5, y=0.5)
    fig.update_layout(
        title=title or None, height=360, margin={"l": 10, "r": 10, "t": 70 if title else 40, "b": 10},
        yaxis_title="connections", yaxis_rangemode="tozero", hovermode="x unified", xaxis_title="UTC",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},  # above: below, it hid "UTC"
    )
    return fig


def _series_colours(columns, service_lines: Mapping[str, object]) -> dict[str, str]:
    """A colour per service (with or without connections now) and per unplanned series."""
    colours = {name: SERVICE_COLOURS[i % len(SERVICE_COLOURS)] for i, name in enumerate(service_lines)}
    others = [c for c in columns if c not in colours]
    colours.update({c: UNPLANNED_COLOURS[i % len(UNPLANNED_COLOURS)] for i, c in enumerate(others)})
    return colours


def _add_service_lines(fig: go.Figure, x: np.ndarray, service_lines: Mapping[str, Mapping[str, float | None]],
                       colours: Mapping[str, str]) -> None:
    """Each service's plan lines as flat traces across the window (in the legend, grouped with its series)."""
    span = [x[0], x[-1]]
    for service, lines in service_lines.items():
        for kind, value in lines.items():
            if value is None:
                continue
            label = plotly_text(f"{service} · {kind} {value:g}")
            fig.add_scatter(x=span, y=[value, value], name=label, mode="lines", legendgroup=plotly_text(service),
                            line={"width": 1.2, "color": colours[service], "dash": SERVICE_LINE_DASH.get(kind, "dot")},
                            hovertemplate="%{y:g}<extra>%{fullData.name}</extra>")


def wait_figure(curve: pd.DataFrame, current_pool_size: int, pool_timeout_s: float | None = None, *,
                target_ms: float | None = None) -> go.Figure:
    """Predicted p99 wait for a connection against pool size, the current plan and the target marked.

    ``curve`` has columns ``pool_size`` and ``p99_wait_s`` (None/inf where the pool cannot keep up).
    """
    fig = go.Figure()
    waits = pd.to_numeric(curve["p99_wait_s"], errors="coerce").replace(np.inf, np.nan) * 1000
    fig.add_scatter(x=curve["pool_size"], y=waits, mode="lines+markers", name="p99 wait",
                    line={"color": "#2b83ba"}, hovertemplate="pool %{x}: %{y:.1f} ms<extra></extra>")
    here = curve[curve["pool_size"] == current_pool_size]
    if len(here):
        value = waits[here.index[0]]
        fig.add_scatter(x=[current_pool_size], y=[0 if np.isnan(value) else value], mode="markers+text",
                        name="current plan", marker={"size": 14, "color": "#d7191c", "symbol": "diamond"},
                        text=["current plan" if not np.isnan(value) else "current plan: saturated"],
                        textposition="top right", hoverinfo="skip")
    top = float(np.nanmax(waits.to_numpy())) if waits.notna().any() else 0.0
    if pool_timeout_s is not None and pool_timeout_s * 1000 <= 2 * max(top, 1.0):
        fig.add_hline(y=pool_timeout_s * 1000, line={"color": "#d7191c", "dash": "dot"},
                      annotation_text=f"pool_timeout {pool_timeout_s:g} s", annotation_position="top left")
    if target_ms is not None:
        fig.add_hline(y=target_ms, line={"color": "#1a9641", "dash": "dash"},
                      annotation_text=f"target p99 {target_ms:g} ms", annotation_position="bottom right")
    fig.update_layout(
        height=300, margin={"l": 10, "r": 10, "t": 20, "b": 10}, xaxis_title="pool_size per process "
        "(max_overflow as planned)", yaxis_title="p99 wait (ms)", showlegend=False,
    )
    fig.update_yaxes(rangemode="tozero", range=None if top > 0 else [0, 1])
    return fig

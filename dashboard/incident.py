"""The incident section's data, without Streamlit: sessions and blocking trees as tables, and the events
the live chart marks (actions taken, server restarts, settings changes).

Every string from a server (application names, roles, query text) stays a DataFrame cell or a chart
hover text: the page shows them with ``st.dataframe``, never as Markdown.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from dashboard.live.actions import ActionResult, Outcome
from planner.sessions import BlockingNode, Session, walk
from planner.snapshot import ServerSettings

ALL = "(all applications)"
SESSION_COLUMNS = ["pid", "application_name", "usename", "datname", "client_addr", "state", "wait", "xact_age_s",
                   "state_age_s", "blocked_by", "blocks", "query"]
TREE_COLUMNS = ["tree", "pid", "application_name", "state", "xact_age_s", "waiting_s", "blocks", "longest_wait_s"]
EVENT_COLOURS = {"action": "#b71c1c", "restart": "#6a1b9a", "settings": "#ef6c00", "deploy": "#1565c0"}


def applications(sessions: Sequence[Session]) -> list[str]:
    """The filter's choices: every application seen, sorted, after ``ALL``."""
    return [ALL, *sorted({s.application_name for s in sessions})]


def sessions_frame(sessions: Sequence[Session], application: str = ALL) -> pd.DataFrame:
    """One row per session (incident order kept), only ``application``'s unless ``ALL``."""
    blocks: dict[int, int] = {}
    for s in sessions:
        for pid in s.blocked_by:
            blocks[pid] = blocks.get(pid, 0) + 1
    rows = [
        (s.pid, s.application_name, s.usename, s.datname, s.client_addr, s.state,
         ":".join(w for w in (s.wait_event_type, s.wait_event) if w) or None, s.xact_age_s, s.state_age_s,
         ", ".join(map(str, s.blocked_by)) or None, blocks.get(s.pid, 0), s.query)
        for s in sessions if application == ALL or s.application_name == application
    ]
    return pd.DataFrame(rows, columns=SESSION_COLUMNS)


def tree_frame(trees: Sequence[BlockingNode]) -> pd.DataFrame:
    """The blocking trees flattened depth first; ``tree`` draws the nesting with plain characters."""
    rows = []
    for depth, node in walk(trees):
        s = node.session
        rows.append((("    " * (depth - 1) + "└── " if depth else "") + str(node.pid), node.pid,
                     s.application_name if s else "(not a session seen)", s.state if s else None,
                     s.xact_age_s if s else None, s.state_age_s if s and depth else None, node.blocked_count,
                     node.longest_wait_s))
    return pd.DataFrame(rows, columns=TREE_COLUMNS)


def confirmation(action: str, session: Session) -> str:
    """What the user confirms: the pid, the application and the age of its statement and transaction."""
    xact = f", transaction open {session.xact_age_s:.0f} s" if session.xact_age_s is not None else ""
    return (f"{action} pid {session.pid} ({session.application_name or '(no application_name)'}, role "
            f"{session.usename}, {session.state}, in this state {session.state_age_s or 0:.0f} s{xact})")


# --- chart events -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChartEvent:
    at: datetime
    kind: str
    """``action``, ``restart``, ``settings`` or ``deploy``."""
    label: str
    """Short text on the chart."""
    detail: str
    """Hover text (may hold server strings: plotly shows it as text)."""


def action_events(results: Iterable[ActionResult]) -> list[ChartEvent]:
    """Actions that were done (refused attempts are in the history, not on the chart)."""
    return [ChartEvent(r.at, "action", f"{r.action} {r.pid}",
                       f"{r.action} pid {r.pid} ({r.application_name}) by {r.os_user} as {r.monitor_role}: {r.reason}")
            for r in results if r.outcome is Outcome.DONE]


def settings_events(changes: Sequence[tuple[datetime, str]]) -> list[ChartEvent]:
    """Restarts and settings changes from consecutive settings bodies ``(first seen at, body)``, oldest first.

    A different ``postmaster_start`` is a restart; any other field that differs is a settings change.
    """
    events = []
    for (_, before), (at, after) in itertools.pairwise(changes):
        old, new = _settings(before), _settings(after)
        if old is None or new is None:
            continue
        if old.postmaster_start != new.postmaster_start:
            events.append(ChartEvent(at, "restart", "restart", f"server restarted at {new.postmaster_start}"))
        changed = [f"{name} {getattr(old, name)} -> {getattr(new, name)}" for name in old.__slots__
                   if name not in ("postmaster_start", "role", "can_see_all")
                   and getattr(old, name) != getattr(new, name)]
        if changed:
            events.append(ChartEvent(at, "settings", "settings", "; ".join(changed)))
    return events


def logged_events(rows: Iterable[tuple[datetime, str, str, str]]) -> list[ChartEvent]:
    """Events the sampler logged (``dashboard.live.events.events``): a deploy is labelled with its application."""
    return [ChartEvent(at, kind, f"{kind} {subject}".strip(), detail) for at, kind, subject, detail in rows]


def _settings(body: str) -> ServerSettings | None:
    try:
        return ServerSettings(**json.loads(body))
    except (TypeError, ValueError):
        return None


def annotate(fig: go.Figure, events: Sequence[ChartEvent]) -> go.Figure:
    """A dotted vertical line per event with a short label; the detail is the hover text of a marker.

    Plotly reads a few HTML tags in text, so server strings are escaped: they show as typed.
    """
    for event in events:
        at = pd.Timestamp(event.at).tz_convert(None) if event.at.tzinfo else pd.Timestamp(event.at)
        colour = EVENT_COLOURS.get(event.kind, "#444444")
        fig.add_vline(x=at, line={"color": colour, "dash": "dot", "width": 1.5})
        fig.add_scatter(x=[at], y=[0], mode="markers+text", text=[html.escape(event.label)],
                        textposition="top center", marker={"color": colour, "size": 9, "symbol": "triangle-up"},
                        showlegend=False, hovertext=[html.escape(event.detail)], hoverinfo="text", name=event.kind)
    return fig

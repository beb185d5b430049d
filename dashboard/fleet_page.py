"""The overview of every server (plan and live) and the server picker, drawn from ``dashboard.fleet``'s rows.

A compact table (``st.dataframe``: one row per server, a sparkline of its live total) with a filter box, so it
stays usable with tens of servers; the picker chooses which server the detailed charts below show. Server names
are shown as text: the table's cells are never Markdown, and ``planner.text.visible`` / ``md`` write them.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard import fleet
from planner.text import md, visible

PICK = "picked_server"
FILTER = "server_filter"


def _column_config() -> dict[str, object]:
    return {
        "server": st.column_config.TextColumn("server", pinned=True),
        "verdict": st.column_config.TextColumn("verdict", help="The plan's verdict for this server at rollout peak"),
        "headroom": st.column_config.NumberColumn("headroom", help="usable - rollout peak (planned)"),
        "usable": st.column_config.NumberColumn("usable", help="max_connections minus the reserved slots"),
        "live total": st.column_config.NumberColumn("live total", help="client connections in the latest sample"),
        "sample": st.column_config.TextColumn("sample", help="the latest sample's status (ok, unreachable, ...)"),
        "live / usable": st.column_config.NumberColumn("live / usable", format="%.1f %%"),
        "trend": st.column_config.LineChartColumn("live total, last 15 min", y_min=0, width="medium"),
    }


def picker(rows: list[fleet.ServerRow]) -> str:
    """The server picker; its value stays valid when the servers change (a link may name one that is gone)."""
    choices = fleet.picker_choices(rows)
    if st.session_state.get(PICK) not in choices:
        st.session_state[PICK] = fleet.default_pick([r.server for r in rows])
    return st.selectbox("Server for the detailed charts", choices, key=PICK, format_func=visible,
                        help="The charts below show this server (or every sampled one)")


def section(rows: list[fleet.ServerRow], on_change: Callable[[], None] | None = None) -> str:
    """The overview table, its filter and the picker. Returns the picked server (or ``fleet.ALL_SERVERS``)."""
    st.subheader("Servers")
    left, right = st.columns([2, 3])
    with left:
        text = st.text_input("Filter servers", key=FILTER, placeholder="part of a name, or a verdict",
                             on_change=on_change)
    with right:
        pick = picker(rows)
    shown = fleet.matching(rows, text)
    frame = fleet.overview_frame(shown)
    st.dataframe(frame, column_config=_column_config(), hide_index=True, width="stretch", key="fleet_table",
                 height=_height(len(frame)))
    if text and len(shown) < len(rows):
        st.caption(f"{len(shown)} of {len(rows)} servers match {md(text)}")
    return pick


def _height(rows: int) -> int | str:
    """Every row up to 12, then a scrolling table of 12 rows."""
    return 38 + 35 * min(max(rows, 1), 12) if rows else "auto"


def not_sampled(server: str) -> None:
    st.caption(f"**{md(server)}** is in the plan but not sampled (no URL for it here): the overview shows its "
               "planned budget only.")



"""The dashboard's incident section (Streamlit): sessions per server, the blocking tree, guarded actions,
and the events marked on the live chart. Data comes from ``dashboard.incident``; server strings are shown
only through ``st.dataframe`` and ``st.text`` (never Markdown).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import plotly.graph_objects as go
import streamlit as st

from dashboard import incident
from dashboard.live.actions import ALLOW_ENV, Action, ActionLog, act
from dashboard.live.events import DeployWatcher, events, settings_changes
from dashboard.live.monitor import Monitor
from planner.sessions import Session, blocking_trees

AGE = st.column_config.NumberColumn(format="%.1f s")
SESSION_CONFIG = {"xact_age_s": AGE, "state_age_s": AGE, "pid": st.column_config.NumberColumn(format="%d")}
TREE_CONFIG = {"xact_age_s": AGE, "waiting_s": AGE, "longest_wait_s": AGE,
               "pid": st.column_config.NumberColumn(format="%d")}


def monitor_options() -> dict[str, object]:
    """What the dashboard's monitor needs for this section: sessions in every sample, deploys logged."""
    return {"collect_sessions": True, "on_sample": DeployWatcher()}


def action_log(monitor: Monitor) -> ActionLog:
    """The ``action_log`` table of the monitor's history file (created on first use)."""
    return ActionLog(monitor.history.path)


def annotate_live_chart(fig: go.Figure, monitor: Monitor, server: str, since: datetime | None) -> None:
    """Mark actions taken, restarts, settings changes and deploys of ``server`` since ``since`` on its chart."""
    try:
        marks = incident.action_events(action_log(monitor).results(server, since))
        marks += incident.settings_events(settings_changes(monitor.history.path, server, since))
        marks += incident.logged_events(events(monitor.history.path, server, since))
    except Exception as err:  # a broken history must not take the chart down: say so beside it
        st.caption(f"chart events unavailable: {type(err).__name__}")
        return
    incident.annotate(fig, marks)


def render(monitor: Monitor, targets: Mapping[str, str], *, allow: bool) -> None:
    """The section: per server, the blocking tree, the sessions table (filterable) and, if allowed, actions."""
    st.subheader("Incident: sessions and who blocks whom")
    latest = monitor.latest()
    for server, url in targets.items():
        snapshot = latest.get(server)
        if snapshot is None or not snapshot.ok or snapshot.sessions is None:
            st.info(f"{server}: no sessions sampled yet")
            continue
        sessions = snapshot.sessions
        trees = blocking_trees(sessions)
        if trees:
            st.markdown(f"**{server}: blocking tree** ({len(trees)} root blocker{'s' if len(trees) > 1 else ''})")
            st.dataframe(incident.tree_frame(trees), hide_index=True, width="stretch", column_config=TREE_CONFIG,
                         key=f"incident_tree_{server}")
        else:
            st.caption(f"{server}: no session is waiting for a lock")
        app = st.selectbox("Application", incident.applications(sessions), key=f"incident_app_{server}")
        st.dataframe(incident.sessions_frame(sessions, app), hide_index=True, width="stretch",
                     column_config=SESSION_CONFIG, key=f"incident_sessions_{server}")
        if allow:
            _actions(monitor, server, url, sessions)
    if not allow:
        st.caption(f"Cancel and terminate are off. Set {ALLOW_ENV}=1 (environment or secrets.toml) to enable them.")


def _actions(monitor: Monitor, server: str, url: str, sessions: tuple[Session, ...]) -> None:
    by_pid = {s.pid: s for s in sessions}
    left, right = st.columns([2, 1])
    pid = left.selectbox("Backend pid", list(by_pid), key=f"incident_pid_{server}")
    action = right.segmented_control("Action", [str(a) for a in Action], key=f"incident_action_{server}",
                                     default=str(Action.CANCEL))
    if pid is None or action is None:
        return
    what = incident.confirmation(action, by_pid[pid])
    st.text(what)
    confirmed = st.checkbox("I confirm the action above", key=f"incident_confirm_{server}_{action}_{pid}")
    if st.button(f"{action.capitalize()} pid {pid}", key=f"incident_go_{server}", disabled=not confirmed):
        result = act(url, action, pid, server=server, enabled=True, log=action_log(monitor))
        st.session_state[f"incident_result_{server}"] = f"{result.outcome}: {result.reason}"
    shown = st.session_state.get(f"incident_result_{server}")
    if shown:
        st.text(shown)

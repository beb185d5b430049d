"""Page section: both ends of the pool. The in-app probes next to the server's view, per service and second,
with a verdict line each (``dashboard.joined`` builds the data; this module only draws it).

Strings from probes and servers (service names, endpoint statuses) are shown with ``st.text`` and
``st.dataframe``, never as Markdown.
"""

from __future__ import annotations

import os
import re
import threading
from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard.joined import JoinedService, endpoint_table, joined_services, services_in
from dashboard.live.probes import ProbeMonitor, ProbeTarget, probe_targets
from planner.config import load_plan
from planner.model import InputError
from planner.pool_verdict import WaitPlace, pgbouncer_sides
from planner.rules.probe import probe_findings

WINDOW_S = 300.0
PLAN_ENV = "POOL_PLANNER_PLAN"
PLACE_LABEL = {
    WaitPlace.FINE: ":green[**fine**]",
    WaitPlace.APP_POOL: ":red[**waiting in the application pool**]",
    WaitPlace.PGBOUNCER: ":orange[**waiting in PgBouncer**]",
    WaitPlace.SERVER: ":red[**at the server (slots full)**]",
    WaitPlace.UNKNOWN: ":gray[**no probe data**]",
}
APP_STYLE = {"app checked out": "#1f77b4", "app overflow": "#ff7f0e", "app waiting": "#d62728"}


_LOCK = threading.Lock()
_CURRENT: list[ProbeMonitor] = []


def get_probe_monitor(targets: tuple[ProbeTarget, ...]) -> ProbeMonitor:
    """One collector thread for the whole Streamlit process; when the endpoints change (a demo worker
    restarted, the environment changed) the previous collector is stopped, not left running."""
    with _LOCK:
        if _CURRENT and tuple(_CURRENT[0].targets) == targets:
            return _CURRENT[0]
        for old in _CURRENT:
            old.stop()
        _CURRENT[:] = [ProbeMonitor(list(targets), interval_s=1.0).start()]
        return _CURRENT[0]


def targets_for(demo) -> tuple[ProbeTarget, ...]:
    """The probes of the plan file in ``POOL_PLANNER_PLAN`` (``probes = [...]`` per engine), those of
    ``POOL_PLANNER_PROBES`` and, in demo mode, every demo worker's probe."""
    try:
        path = os.environ.get(PLAN_ENV)
        targets = probe_targets(load_plan(path) if path else None)
    except InputError as err:
        st.text(f"Probes not read: {err}")
        targets = []
    if demo is not None:
        targets += [ProbeTarget(url=url, service=demo.service) for url in demo.probe_urls()]
    return tuple(targets)


def figure(joined: JoinedService) -> go.Figure:
    frame = joined.frame
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, specs=[[{"secondary_y": True}],
                        [{}]], subplot_titles=("application pool (probes)", "server (pg_stat_activity)"))
    for column, colour in APP_STYLE.items():
        fig.add_scatter(x=frame.index, y=frame[column], name=column, mode="lines", connectgaps=False,
                        line={"color": colour}, row=1, col=1)
    fig.add_bar(x=frame.index, y=frame["app timeouts"], name="app timeouts", marker_color="#7f7f7f", opacity=0.5,
                row=1, col=1)
    fig.add_scatter(x=frame.index, y=frame["app p99 wait ms"], name="app p99 wait ms", mode="lines",
                    line={"color": "#9467bd", "dash": "dot"}, connectgaps=False, row=1, col=1, secondary_y=True)
    for column in [c for c in frame.columns if c.startswith("server ")]:
        fig.add_scatter(x=frame.index, y=frame[column], name=column, mode="lines", stackgroup="server",
                        connectgaps=False, row=2, col=1)
    names_at: dict[float, list[str]] = {}  # lines at one height share one label (they were drawn over each other)
    for name, value in joined.plan_lines.items():
        if value is not None:
            names_at.setdefault(value, []).append(name)
    for index, (value, names) in enumerate(sorted(names_at.items())):
        line = {"dash": "dash", "width": 1, "color": "#444444"}
        fig.add_hline(y=value, line=line, row=1, col=1, annotation_text=f"{' = '.join(names)}: {value:g}",
                      annotation_font={"size": 10},  # left, right, left: when waiters stretch the axis to
                      annotation_position="top right" if index % 2 else "top left")  # 400, 16 and 40 touch
        fig.add_hline(y=value, line=line, row=2, col=1)  # no annotation argument: plotly would write "new text"
    fig.update_yaxes(title_text="connections", row=1, col=1, secondary_y=False)
    fig.update_yaxes(title_text="p99 wait ms", row=1, col=1, secondary_y=True, rangemode="tozero")
    fig.update_yaxes(title_text="connections", row=2, col=1)
    legend = {"orientation": "h", "yanchor": "top", "y": -0.14, "x": 0}  # at plotly's -0.1 it covered the date line
    fig.update_layout(height=460, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend=legend)
    return fig


def render(probes: ProbeMonitor, monitor, plan, server: str) -> None:
    """The section: a verdict line, the joined chart and the endpoints' statuses per service."""
    st.subheader("Both ends of the pool", anchor="both-ends")
    if not probes.targets:
        st.caption("No in-app probe configured: instrument the application with planner.probe and list its "
                   "endpoints (plan: probes = [...] per engine, or POOL_PLANNER_PROBES). See docs/probe.md.")
        return
    since = datetime.now(UTC) - timedelta(seconds=WINDOW_S)
    rounds = probes.recent(WINDOW_S)
    clients = [group for snap in monitor.pgbouncer_latest().values() for group in snap.clients]  # the middle tier
    joined = joined_services(rounds, monitor.history.snapshots(server, since=since), plan,
                             pgbouncer=pgbouncer_sides(clients, services_in(rounds)))
    if not joined:
        st.info("Waiting for the first probe reading…")
    for finding in probe_findings(plan, [readings for _, readings in rounds]):
        st.text(f"{finding.severity}: [{finding.id}] {finding.message}\n  fix: {finding.fix}")
    for index, item in enumerate(joined):
        key = f"{re.sub(r'[^A-Za-z0-9_-]', '_', item.service)}_{index}"  # a service name is not trusted markup
        with st.container(border=True, key=f"joined_{key}"):
            st.markdown(PLACE_LABEL[item.verdict.place])
            st.text(item.line)
            st.plotly_chart(figure(item), width="stretch", key=f"joined_chart_{key}")
            ms = {c: st.column_config.NumberColumn(format="%.1f") for c in ("p99 wait ms", "p99 hold ms")}
            st.dataframe(endpoint_table(item), hide_index=True, width="stretch", key=f"joined_table_{key}",
                         column_config=ms)  # 0.1 ms, not 30.4789


def section(demo, monitor, plan, server: str) -> None:
    """The whole section, for ``app.py``: find the probes (waiting for the demo's workers to publish theirs),
    collect them in the background, draw the joined view."""
    targets = targets_for(demo)
    if demo is not None and len(targets) < len(demo.worker_pids):
        st.subheader("Both ends of the pool", anchor="both-ends")
        st.info("Waiting for the demo workers' probes…")
        return
    render(get_probe_monitor(targets), monitor, plan, server)

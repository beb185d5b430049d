"""The "Observed" panel (Streamlit): per service, the workload as measured over the last minutes, the model
checked live against the probe, and "Use measured workload", which fills the sidebar's workload inputs.

Service names and every other server string go into ``st.text`` / ``st.dataframe`` only, never Markdown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard import observe_view, probe_panel
from dashboard.live.observe import observe, window_from_monitor
from planner.rules.model_check import model_mismatch_findings

WINDOW_S = 300.0
"""The panel observes the last five minutes (or as much as was sampled)."""
MIN_SAMPLES = 10


RERUN_KEY = "_observed_applied"


def _use(on_use: Callable[[dict[str, object]], None], change: dict[str, object]) -> None:
    on_use(change)
    st.session_state[RERUN_KEY] = True  # this panel lives in the live fragment: the sidebar needs a full rerun


def section(demo, monitor, server: str, on_use: Callable[[dict[str, object]], None]) -> None:
    if st.session_state.pop(RERUN_KEY, False):
        st.rerun(scope="app")  # the sidebar shows the measured workload the button just set
    st.subheader("Observed", anchor="observed")
    targets = probe_panel.targets_for(demo)
    probes = probe_panel.get_probe_monitor(targets) if targets else None
    since = datetime.now(UTC) - timedelta(seconds=WINDOW_S)
    window = window_from_monitor(monitor, server, since, probes.recent(WINDOW_S) if probes else ())
    if len(window.ok_snapshots) < MIN_SAMPLES:
        st.info("Observing: the measured workload appears after a few seconds of samples…")
        return
    results = observe(window)
    st.caption(f"The last {len(window.ok_snapshots)} samples (every {window.interval_s:g} s) of {server}: busy "
               "connections = active + idle in transaction; their mean is the offered load (Little's law). Rate and "
               "hold from the in-app probe, else PgBouncer, else the database's transaction rate when the service "
               "is alone in it.")
    if not results:
        st.caption("No application connection seen in that window.")
    for finding in model_mismatch_findings([r.model for r in results]):
        st.text(f"{finding.severity}: [{finding.id}] {finding.message}\n  fix: {finding.fix}")
    for index, result in enumerate(results):
        view = observe_view.service_view(result)
        with st.container(border=True, key=f"observed_{index}"):
            st.text(view.line)
            st.dataframe(view.table, hide_index=True, width="stretch", key=f"observed_table_{index}")
            if view.model is not None:
                st.dataframe(view.model, hide_index=True, width="stretch", key=f"observed_model_{index}")
            if view.inputs_change is not None:
                st.button("Use measured workload", key=f"use_measured_{index}", on_click=_use,
                          args=(on_use, view.inputs_change),
                          help="fill the sidebar's workload inputs with these numbers")

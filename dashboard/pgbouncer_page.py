"""The dashboard's PgBouncer section (Streamlit): per PgBouncer, a headline, the pool table and its findings.

Everything from PgBouncer (database and user names, errors, findings that quote them) is shown as text:
``st.text``, ``st.dataframe`` and ``st.code``, never Markdown. The data comes from
``dashboard.pgbouncer_view``.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from dashboard.live.monitor import Monitor
from dashboard.pgbouncer_view import pgbouncer_view, since
from planner.model import Plan

SEVERITY_ICON = {"critical": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def render(monitor: Monitor, plan: Plan | None, now: datetime) -> None:
    """The section; nothing when no PgBouncer console is configured (PGBOUNCER_ADMIN_URL)."""
    if not monitor.pgbouncers:
        return
    st.subheader("PgBouncer")
    st.caption("Per pool: clients active and waiting for a server connection, the oldest wait, server connections "
               "against default_pool_size; the mean transaction time is the hold time the planner asks for.")
    latest = monitor.pgbouncer_latest()
    for name, url in monitor.pgbouncers.items():
        history = monitor.history.pgbouncer_snapshots(name, since=since(now))
        view = pgbouncer_view(name, url, latest.get(name), history, plan)
        st.text(view.headline)
        if view.error:
            st.text(f"no sample: {view.error}")
        if len(view.table):
            st.dataframe(view.table, hide_index=True, width="stretch", key=f"pgbouncer_table_{name}")
        for finding in view.findings:
            with st.container(border=True):
                st.text(f"{finding.severity}: {finding.id} ({finding.server})")
                st.text(finding.message)
                if finding.fix:
                    st.text(f"Fix: {finding.fix}")
                if finding.snippet:
                    st.code(finding.snippet, language="ini")

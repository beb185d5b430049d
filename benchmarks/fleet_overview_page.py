"""The page the fleet-overview benchmark runs through Streamlit's AppTest (``benchmarks/fleet_overview.py``):
the servers' overview (``dashboard.fleet_page``) read from a history store, or the same page without it.

Settings from the environment: FLEET_BENCH_STORE (the SQLite history), FLEET_BENCH_PLAN (the plan TOML),
FLEET_BENCH_OVERVIEW (1: draw the overview; 0: the page without it).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from dashboard import fleet, fleet_page
from dashboard.live.history import HistoryStore
from dashboard.timeline import Timeline
from planner.budget import plan_budgets
from planner.plan_io import plan_from_toml


@st.cache_resource
def timelines(path: str) -> tuple[dict[str, object], dict[str, Timeline]]:
    """Each server's Timeline, and its latest sample (the page's ``monitor.latest()``, a dict in memory)."""
    store = HistoryStore(path)
    servers = store.servers()
    latest = {s: store.snapshots(s, since=store.frame(s)["taken_at"].max() - timedelta(seconds=1))[-1]
              for s in servers}
    return latest, {server: Timeline(store, server) for server in servers}


@st.cache_resource
def plan(text: str):
    return plan_from_toml(text)


st.title("Fleet overview benchmark")
latest, lines = timelines(os.environ["FLEET_BENCH_STORE"])
if os.environ.get("FLEET_BENCH_OVERVIEW") == "1":
    now = datetime.now(UTC)
    rows = fleet.fleet_rows(plan_budgets(plan(Path(os.environ["FLEET_BENCH_PLAN"]).read_text())), latest, list(lines),
                            lambda s: lines[s].window_with_gaps("state", fleet.since(now)))
    fleet_page.section(rows)

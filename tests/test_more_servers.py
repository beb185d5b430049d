"""Any number of servers on the page: POOL_PLANNER_SERVERS adds NAME=URL pairs beside DATABASE_URL (and
REPLICA_DATABASE_URL); each is sampled and listed in the servers' overview, with its live usable slots when the plan
does not know it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.targets import monitor_targets

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")


def test_extra_servers_are_named_pairs_and_none_is_dropped():
    env = {"DATABASE_URL": "postgresql://a@h/db",
           "POOL_PLANNER_SERVERS": "orders=postgresql://x@h1/d, postgresql://y@h2/d primary=postgresql://z@h3/d"}
    assert monitor_targets({}, env) == {
        "primary": "postgresql://a@h/db", "orders": "postgresql://x@h1/d", "server-3": "postgresql://y@h2/d",
        "primary-4": "postgresql://z@h3/d"}
    assert monitor_targets({}, {}) == {}  # nothing configured: the demo


@pytest.mark.db
def test_a_third_server_is_sampled_and_in_the_overview(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    monkeypatch.delenv("POOL_PLANNER_PLAN", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = pg_url
    at.secrets["POOL_PLANNER_SERVERS"] = f"analytics={pg_url} broken=postgresql://nobody@127.0.0.1:1/none"
    at.run()
    deadline = time.monotonic() + 40
    while True:
        frames = [d.value for d in at.dataframe if "server" in d.value.columns and "trend" in d.value.columns]
        rows = frames[0].set_index("server") if frames else None
        if rows is not None and {"analytics", "broken"} <= set(rows.index) and rows.loc["analytics", "sample"] == "ok":
            break
        assert time.monotonic() < deadline, rows
        time.sleep(1)
        at.run()
        assert not at.exception, at.exception
    assert rows.loc["analytics", "verdict"] == "not in the plan"
    assert rows.loc["analytics", "usable"] > 0  # from the server's own settings: the plan has no entry for it
    assert rows.loc["broken", "sample"] not in ("ok", None)

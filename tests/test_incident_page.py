"""The dashboard's incident section through Streamlit's AppTest, on a real lock chain: the blocking tree and
the sessions table, the application filter, the guarded terminate (confirmation naming pid, application and
age; done only when enabled and confirmed), the action on the live chart, and the section without actions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import streamlit as st
from incident_support import lock_chain, wait_until
from streamlit.testing.v1 import AppTest

from dashboard.live.actions import ALLOW_ENV, Action, ActionLog, Outcome

pytestmark = [pytest.mark.db, pytest.mark.slow]
APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def started(pg_url: str) -> AppTest:
    """The page with a monitor of its own: an earlier test's cached one would write to that test's folder."""
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = pg_url
    at.run()
    return at


def frame(at: AppTest, column: str):
    """The first table with ``column`` (AppTest does not expose a dataframe's key)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    return found[0] if found else None


def tree_of(at: AppTest, blocker: int):
    def ready():
        at.run()
        tree = frame(at, "tree")
        return (tree,) if tree is not None and blocker in set(tree["pid"]) else None
    return wait_until(ready, timeout_s=30, step_s=0.5)[0]


def test_tree_table_filter_and_guarded_terminate(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    monkeypatch.setenv(ALLOW_ENV, "1")
    with lock_chain(pg_url) as chain:
        at = started(pg_url)
        tree = tree_of(at, chain.blocker_pid)
        first, second = chain.waiter_pids
        mine = tree[tree["pid"].isin([chain.blocker_pid, first, second])]
        assert list(mine["pid"]) == [chain.blocker_pid, first, second]
        assert list(mine["blocks"]) == [2, 1, 0]
        assert list(mine["application_name"]) == ["billing-worker", "reconcile-cron", "reconcile-cron"]
        assert list(mine["tree"]) == [str(chain.blocker_pid), f"└── {first}", f"    └── {second}"]

        at.selectbox(key="incident_app_primary").set_value("reconcile-cron").run()
        sessions = frame(at, "blocked_by")
        assert set(sessions["application_name"]) == {"reconcile-cron"}
        assert {first, second} <= set(sessions["pid"])

        at.selectbox(key="incident_pid_primary").set_value(chain.blocker_pid).run()
        at.button_group(key="incident_action_primary").set_value("terminate").run()
        confirm = [t.value for t in at.text if t.value.startswith(f"terminate pid {chain.blocker_pid} ")]
        assert confirm and "(billing-worker, role " in confirm[0] and "idle in transaction" in confirm[0]
        go = at.button(key="incident_go_primary")
        assert go.disabled  # not before the confirmation
        at.checkbox(key=f"incident_confirm_primary_terminate_{chain.blocker_pid}").check().run()
        at.button(key="incident_go_primary").click().run()
        assert any(t.value.startswith("done: ") for t in at.text), [t.value for t in at.text]
        wait_until(lambda: "done" in chain.errors)  # the waiters got the row
    log = ActionLog(next(tmp_path.glob("history-*.sqlite"))).results()
    assert [(r.action, r.pid, r.outcome, r.application_name) for r in log] == [
        (Action.TERMINATE, chain.blocker_pid, Outcome.DONE, "billing-worker")]
    at.run()
    live = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert any(trace.get("text") == [f"terminate {chain.blocker_pid}"] for trace in live["data"])
    assert not at.exception


def test_without_the_setting_there_are_no_action_controls(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    with lock_chain(pg_url, waiters=1) as chain:
        at = started(pg_url)
        tree_of(at, chain.blocker_pid)
        assert not [b for b in at.button if b.key and b.key.startswith("incident_go")]
        assert any(f"{ALLOW_ENV}=1" in c.value for c in at.caption)
        time.sleep(0.1)
    assert not at.exception

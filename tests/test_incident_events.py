"""Events on the live chart: restarts and settings changes read back from the history (built by hand, and
from a real server restarted under a running monitor), actions from ``action_log``, and the marks drawn."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
import psycopg
import pytest
from incident_support import conninfo, unique, wait_until
from pgcluster import Cluster

from dashboard.incident import action_events, annotate, logged_events, settings_events
from dashboard.live import HistoryStore, Monitor
from dashboard.live.actions import Action, ActionResult, Outcome
from dashboard.live.events import DeployWatcher, events, settings_changes
from planner.sessions import Session, new_backends
from planner.snapshot import ServerSettings, Snapshot

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
BASE = ServerSettings(100, 3, None, 0, 0, False, 160004, True, "monitor", postmaster_start="2026-11-26T06:00:00+00:00")


def test_restart_and_settings_change_from_the_history(tmp_path):
    restarted = replace(BASE, postmaster_start="2026-11-26T07:00:02+00:00")
    raised = replace(restarted, max_connections=200)
    bodies = [BASE, BASE, None, restarted, restarted, raised, raised]  # None: a gap while it restarted
    with HistoryStore(tmp_path / "h.sqlite") as store:
        for i, settings in enumerate(bodies):
            status = "ok" if settings else "unreachable"
            store.append(Snapshot("primary", T0 + timedelta(seconds=i), status, settings=settings))
        store.append(Snapshot("replica", T0, "ok", settings=replace(BASE, max_connections=50)))
        store.flush()
    changes = settings_changes(tmp_path / "h.sqlite", "primary")
    assert [at for at, _ in changes] == [T0, T0 + timedelta(seconds=3), T0 + timedelta(seconds=5)]
    events = settings_events(changes)
    assert [(e.at, e.kind, e.detail) for e in events] == [
        (T0 + timedelta(seconds=3), "restart", "server restarted at 2026-11-26T07:00:02+00:00"),
        (T0 + timedelta(seconds=5), "settings", "max_connections 100 -> 200"),
    ]
    # a range starting after the restart still sees the change at its start, against the settings before it
    later = settings_changes(tmp_path / "h.sqlite", "primary", since=T0 + timedelta(seconds=4))
    assert [(e.kind, e.at) for e in settings_events(later)] == [("settings", T0 + timedelta(seconds=5))]
    assert settings_changes(tmp_path / "missing.sqlite", "primary") == []


def test_only_done_actions_are_marked_and_server_strings_are_escaped():
    done = ActionResult("primary", Action.TERMINATE, 42, Outcome.DONE, "pid 42: its session was terminated",
                        at=T0, application_name="<b>billing</b>", os_user="ops", monitor_role="monitor")
    refused = replace(done, outcome=Outcome.REFUSED)
    events = action_events([done, refused])
    assert [(e.kind, e.label) for e in events] == [("action", "terminate 42")]
    fig = annotate(go.Figure(), events)
    (marker,) = [t for t in fig.data if t.name == "action"]
    assert marker.hovertext[0].startswith("terminate pid 42 (&lt;b&gt;billing&lt;/b&gt;) by ops as monitor")
    assert len(fig.layout.shapes) == 1


@pytest.mark.db
@pytest.mark.slow
def test_a_real_restart_is_a_restart_event(tmp_path):
    with Cluster() as cluster, HistoryStore(tmp_path / "h.sqlite") as store, \
            Monitor({"primary": cluster.url()}, interval_s=0.2, history=store) as monitor:
        first = wait_until(lambda: (s := monitor.latest().get("primary")) and s.ok and s.settings)
        cluster.restart()
        wait_until(lambda: (s := monitor.latest().get("primary")) and s.ok and s.settings
                   and s.settings.postmaster_start != first.postmaster_start, timeout_s=60)
        store.flush()
        events = settings_events(settings_changes(store.path, "primary"))
    assert [e.kind for e in events] == ["restart"]
    assert events[0].detail.startswith("server restarted at ")


def _wave(at: datetime, n: int, age_s: float) -> Snapshot:
    sessions = tuple(Session(pid, "web", "shop", "db", None, "idle", "Client", "ClientRead", None, 1.0, age_s)
                     for pid in range(1, n + 1))
    return Snapshot("primary", at, "ok", settings=BASE, sessions=sessions)


def test_deploy_watcher_logs_one_event_per_wave(tmp_path):
    watcher = DeployWatcher()
    with HistoryStore(tmp_path / "h.sqlite") as store:
        watcher(_wave(T0, 19, 1.0), store)  # below burst_new_backends (20)
        watcher(_wave(T0 + timedelta(seconds=1), 25, 2.0), store)
        watcher(_wave(T0 + timedelta(seconds=2), 25, 3.0), store)  # the same wave seen again
        watcher(_wave(T0 + timedelta(seconds=3), 30, 60.0), store)  # old backends: no wave
        watcher(_wave(T0 + timedelta(seconds=60), 25, 1.0), store)  # the next deploy
        logged = events(store.path, "primary")
    assert [(at, kind, subject, detail) for at, kind, subject, detail in logged] == [
        (T0 + timedelta(seconds=1), "deploy", "web", "25 new backends of 'web' within 10 s"),
        (T0 + timedelta(seconds=60), "deploy", "web", "25 new backends of 'web' within 10 s"),
    ]
    assert [(e.kind, e.label) for e in logged_events(logged)] == [("deploy", "deploy web")] * 2
    assert new_backends(_wave(T0, 3, 5.0).sessions, 10.0) == {"web": 3}


@pytest.mark.db
def test_a_real_wave_of_new_backends_is_a_deploy_event(pg_url, tmp_path):
    app = unique("deploy")

    with HistoryStore(tmp_path / "h.sqlite") as store, \
            Monitor({"primary": pg_url}, interval_s=0.3, history=store, collect_sessions=True,
                    on_sample=DeployWatcher()) as monitor:
        wait_until(lambda: (s := monitor.latest().get("primary")) and s.ok)
        with ThreadPoolExecutor(25) as pool:  # every process of a deploy opens its pool at once
            conns = list(pool.map(lambda _: psycopg.connect(conninfo(pg_url, application_name=app)), range(25)))
        try:
            found = wait_until(lambda: [e for e in events(store.path, "primary") if e[2] == app])
            time.sleep(1.5)  # more samples of the same wave
            again = [e for e in events(store.path, "primary") if e[2] == app]
        finally:
            for conn in conns:
                conn.close()
    assert len(found) == len(again) == 1
    count = int(found[0][3].split()[0])
    assert 20 <= count <= 25 and found[0][1] == "deploy"

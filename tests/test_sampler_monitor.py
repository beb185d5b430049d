"""The background Monitor on a throwaway PostgreSQL 16: our backend terminated, the server stopped and
started, a server down from the start, several servers at once. Each time: the gap is recorded as a gap
(never as zero), sampling resumes within two intervals, the history before the gap is intact, and the
monitor holds exactly one connection per server."""

from __future__ import annotations

import math
import time

import pytest
from pgcluster import Cluster, free_port
from polling import wait_until
from test_sampler_support import unique_name

from dashboard.live import HistoryStore, Monitor
from dashboard.live.monitor import FAST_RETRIES, retry_delay

pytestmark = pytest.mark.db
INTERVAL = 0.4
SLACK = 0.35  # scheduling on a shared 2-core machine


@pytest.fixture(scope="module")
def cluster():
    with Cluster() as running:
        yield running



def monitor_backends(cluster: Cluster, app: str) -> int:
    return int(cluster.psql(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"))


def ok_samples(monitor: Monitor, server: str = "db") -> int:
    totals = monitor.history.totals(server)
    return int((totals["status"] == "ok").sum())


def recovery(totals):
    """(time of the first gap, time of the first ok sample after it, the gap rows)."""
    statuses = list(totals["status"])
    first_gap = statuses.index(next(s for s in statuses if s != "ok"))
    first_ok_after = first_gap + statuses[first_gap:].index("ok")
    gap = totals.iloc[first_gap:first_ok_after]
    return totals["taken_at"].iloc[first_gap], totals["taken_at"].iloc[first_ok_after], gap


def test_terminated_backend_is_a_gap_and_sampling_resumes_within_two_intervals(cluster, tmp_path):
    app = unique_name("t-mon-term")
    store = HistoryStore(tmp_path / "history.sqlite")
    monitor = Monitor({"db": cluster.url()}, interval_s=INTERVAL, history=store, application_name=app).start()
    try:
        wait_until(lambda: ok_samples(monitor) >= 3)
        pid = monitor.status()["db"].own_pid
        assert monitor_backends(cluster, app) == 1
        assert cluster.psql(f"SELECT pg_terminate_backend({pid})") == "t"
        wait_until(lambda: monitor.status()["db"].state == "ok" and monitor.status()["db"].own_pid != pid)
        wait_until(lambda: ok_samples(monitor) >= 6)
        assert monitor_backends(cluster, app) == 1  # the dead one replaced, not added to
        totals = store.totals("db")
    finally:
        monitor.stop()
        store.close()
    gap_at, back_at, gap = recovery(totals)
    assert list(gap["status"]) == ["unreachable"]  # exactly one failed sample
    assert gap["total"].isna().all()  # a gap, not zero connections
    assert "lost" in gap["error"].iloc[0]
    assert (back_at - gap_at).total_seconds() <= 2 * INTERVAL + SLACK
    assert monitor_backends(cluster, app) == 0  # stop() closed it


def test_server_restart_is_a_gap_history_before_it_intact_and_recovery_within_two_intervals(tmp_path):
    app = unique_name("t-mon-restart")
    store = HistoryStore(tmp_path / "history.sqlite")
    with Cluster() as server:
        monitor = Monitor({"db": server.url()}, interval_s=INTERVAL, history=store, application_name=app).start()
        try:
            wait_until(lambda: ok_samples(monitor) >= 3)
            before = store.totals("db")
            frame_before = store.frame("db")
            server.stop()
            stopped_at = time.time()
            status = wait_until(lambda: (s := monitor.status()["db"]).state == "unreachable" and s.failures >= 2 and s)
            assert status.reason.startswith(("connection refused by 127.0.0.1", "connection to 127.0.0.1"))
            assert status.next_retry_at is not None and status.last_ok_at is not None
            assert monitor.latest()["db"].status == "unreachable" and monitor.latest()["db"].total is None
            server.start()
            ready_at = time.time()
            wait_until(lambda: monitor.status()["db"].state == "ok")
            wait_until(lambda: ok_samples(monitor) >= len(before) + 2)
            after = store.totals("db")
            frame_after = store.frame("db")
        finally:
            monitor.stop()
            store.close()
    assert time.time() - stopped_at < 30
    # history before the gap: the same rows, untouched
    assert after.iloc[: len(before)].equals(before)
    assert frame_after.iloc[: len(frame_before)].equals(frame_before)
    _, back_at, gap = recovery(after)
    assert len(gap) >= 2 and gap["total"].isna().all()
    assert set(gap["status"]) == {"unreachable"}
    gap_rows = frame_after[frame_after["status"] != "ok"]
    assert len(gap_rows) == len(gap) and gap_rows["count"].isna().all()  # charts draw a gap, not a zero
    first_ok_after_start = back_at.timestamp() - ready_at
    assert first_ok_after_start <= 2 * INTERVAL + SLACK


def test_a_server_down_from_the_start_shows_why_and_the_others_are_sampled(cluster):
    app = unique_name("t-mon-down")
    port = free_port()
    monitor = Monitor(
        {"db": cluster.url(), "down": f"postgresql://postgres:pw-XYZ@127.0.0.1:{port}/postgres"},
        interval_s=INTERVAL, application_name=app,
    )
    assert {name: s.state for name, s in monitor.status().items()} == {"db": "starting", "down": "starting"}
    with monitor:
        down = wait_until(lambda: (s := monitor.status()["down"]).failures >= 2 and s)
        wait_until(lambda: monitor.status()["db"].state == "ok")
        latest = monitor.latest()
        assert monitor_backends(cluster, app) == 1  # one connection for the live server, none for the dead one
    assert (down.state, down.reason) == (
        "unreachable", f"connection refused by 127.0.0.1:{port} (is the server running?)"
    )
    assert down.url == f"postgresql://postgres:***@127.0.0.1:{port}/postgres"
    assert down.last_ok_at is None and down.next_retry_at is not None
    assert latest["db"].ok and latest["db"].own_connections == 1 and not latest["down"].ok
    assert not monitor.running


def test_an_idle_session_timeout_shorter_than_the_interval_does_not_cut_the_monitor():
    app = unique_name("t-mon-idle")
    with Cluster({"idle_session_timeout": "300ms"}) as server:
        monitor = Monitor({"db": server.url()}, interval_s=0.8, application_name=app)
        with monitor:
            first = wait_until(lambda: monitor.status()["db"].own_pid)
            wait_until(lambda: monitor.status()["db"].samples >= 4, timeout_s=20)
            status = monitor.status()["db"]
            totals = monitor.history.totals("db")
    assert set(totals["status"]) == {"ok"} and status.failures == 0
    assert status.own_pid == first  # the same backend throughout: never cut while idle between samples
    assert monitor.latest()["db"].settings.idle_session_timeout_ms == 300  # the server's value, reported


def test_a_closed_history_does_not_stop_sampling(cluster, tmp_path):
    store = HistoryStore(tmp_path / "history.sqlite")
    monitor = Monitor({"db": cluster.url()}, interval_s=INTERVAL, history=store, application_name=unique_name("t-c"))
    with monitor:
        wait_until(lambda: monitor.status()["db"].samples >= 1)
        store.close()
        before = monitor.status()["db"].samples
        wait_until(lambda: monitor.status()["db"].samples >= before + 2)
    assert monitor.history_error == "sample of db not saved: HistoryStore is closed"
    assert monitor.status()["db"].state == "ok"


def test_an_unusable_url_is_not_retried():
    monitor = Monitor({"bad": "mysql://u:pw@h/db"}, interval_s=INTERVAL)
    with monitor:
        status = wait_until(lambda: (s := monitor.status()["bad"]).state == "bad-url" and s)
        time.sleep(3 * INTERVAL)
        assert monitor.status()["bad"].samples == 1
    assert status.next_retry_at is None


def test_retry_delay_follows_the_interval_then_backs_off():
    assert [retry_delay(n, 1.0) for n in range(1, FAST_RETRIES + 5)] == [1.0] * FAST_RETRIES + [2.0, 4.0, 8.0, 10.0]
    assert retry_delay(100, 60.0) == 60.0  # never faster than the interval
    assert all(not math.isnan(retry_delay(n, 0.1)) and retry_delay(n, 0.1) <= 10.0 for n in range(1, 200))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least one server"):
        Monitor({})
    with pytest.raises(ValueError, match=r"interval_s must be between 0\.1 and 3600\.0, got 0"):
        Monitor({"db": "postgresql://h/db"}, interval_s=0)

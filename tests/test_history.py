"""The SQLite history: whole frames for known samples (gaps as NaN, never zero), round trips of arbitrary
snapshots, time ranges, reopening, retention. No database server needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.live.history import HistoryStore, default_history_path, from_us, to_us
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # recent: the store prunes by the real clock
SETTINGS = ServerSettings(100, 3, None, 0, 0, False, 150020, True, "monitor")


def group(app, state, count, addr="10.0.0.1", **ages):
    return ActivityGroup("shop", "app", app, addr, state, "Client" if state != "active" else None, count, 0, **ages)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "data" / "history.sqlite") as opened:
        yield opened


def known_samples():
    return [
        Snapshot("primary", at(0), "ok", (group("api", "idle", 3), group("api", "idle", 2, addr="10.0.0.2"),
                                          group("api", "active", 1, oldest_xact_s=0.25)), SETTINGS, 1, latency_ms=1.5),
        Snapshot("primary", at(1), "unreachable", error="connection refused by db:5432 (is the server running?)"),
        Snapshot("primary", at(2), "ok", (), SETTINGS, 1, latency_ms=1.0),
        Snapshot("primary", at(3), "ok", (group("worker", "idle in transaction", 4, oldest_idle_in_transaction_s=9.5),),
                 SETTINGS, 1, latency_ms=2.0),
        Snapshot("replica", at(0.5), "ok", (group("api", "idle", 7),), SETTINGS, 1, latency_ms=0.5),
    ]


def test_frame_is_long_form_summed_per_application_and_state_with_gaps_as_nan(store):
    for snap in known_samples():
        store.append(snap)
    frame = store.frame("primary")
    expected = pd.DataFrame(
        {
            "taken_at": pd.to_datetime([at(0), at(0), at(1), at(2), at(3)], utc=True).as_unit("us"),
            "server": "primary",
            "status": pd.Series(["ok", "ok", "unreachable", "ok", "ok"], dtype="str"),
            "application_name": pd.Series(["api", "api", None, None, "worker"], dtype="str"),
            "state": pd.Series(["idle", "active", None, None, "idle in transaction"], dtype="str"),
            "count": [5.0, 1.0, np.nan, 0.0, 4.0],
        }
    )
    pd.testing.assert_frame_equal(frame, expected)
    assert str(frame["taken_at"].dt.tz) == "UTC"


def test_totals_and_time_ranges(store):
    for snap in known_samples():
        store.append(snap)
    totals = store.totals("primary", since=at(1), until=at(3))
    assert list(totals.columns[:3]) == ["taken_at", "status", "total"]
    assert totals["taken_at"].tolist() == [pd.Timestamp(at(1)), pd.Timestamp(at(2)), pd.Timestamp(at(3))]
    assert totals["status"].tolist() == ["unreachable", "ok", "ok"]
    assert totals["total"].tolist()[1:] == [0.0, 4.0] and np.isnan(totals["total"].iloc[0])
    assert totals["error"].iloc[0] == "connection refused by db:5432 (is the server running?)"
    assert totals["own_connections"].tolist() == [0, 1, 1]
    assert store.frame("primary", since=at(2.5))["count"].tolist() == [4.0]
    assert store.servers() == ["primary", "replica"]
    assert store.frame("nobody").empty and list(store.frame("nobody").columns) == list(store.frame("primary").columns)


def test_snapshots_come_back_equal_and_the_store_survives_a_restart(tmp_path):
    path = tmp_path / "history.sqlite"
    with HistoryStore(path) as first:
        for snap in known_samples():
            first.append(snap)
        frame = first.frame("primary")
    with HistoryStore(path) as reopened:
        assert reopened.snapshots("primary") == [s for s in known_samples() if s.server == "primary"]
        assert reopened.snapshots("replica", since=at(0.5)) == [known_samples()[-1]]
        pd.testing.assert_frame_equal(reopened.frame("primary"), frame)
        reopened.append(Snapshot("primary", at(4), "refused", error="sorry, too many clients already",
                                 sqlstate="53300"))
        assert reopened.snapshots("primary", since=at(4))[0].sqlstate == "53300"


def test_prune_drops_what_is_older_than_the_retention(tmp_path):
    with HistoryStore(tmp_path / "h.sqlite", retention_s=2 * 3600) as store:
        for snap in known_samples():
            store.append(snap)
        assert store.prune(now=at(7200.9)) == 2  # primary at 0 s and replica at 0.5 s are older than 2 h
        assert [s.taken_at for s in store.snapshots("primary")] == [at(1), at(2), at(3)]
        assert store.servers() == ["primary"]
        assert store.frame("primary")["application_name"].dropna().tolist() == ["worker"]


def test_bad_use_is_refused(tmp_path):
    with pytest.raises(ValueError, match="retention_s must be a positive number of seconds"):
        HistoryStore(tmp_path / "h.sqlite", retention_s=0)
    store = HistoryStore(tmp_path / "h.sqlite")
    with pytest.raises(TypeError, match="append\\(\\) takes a Snapshot, got dict"):
        store.append({"server": "primary"})
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.append(known_samples()[0])


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path / "elsewhere"))
    assert default_history_path() == tmp_path / "elsewhere" / "history.sqlite"
    monkeypatch.delenv("POOL_PLANNER_DATA")
    assert str(default_history_path()) == "data/history.sqlite"


def test_temporary_store_is_removed_on_close():
    store = HistoryStore.temporary()
    store.append(known_samples()[0])
    assert store.frame("primary")["count"].tolist() == [5.0, 1.0]
    store.close()
    assert not store.path.exists()


# ------------------------------------------------------------------------------------------ properties

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
ages = st.none() | st.floats(min_value=0, max_value=1e7, allow_nan=False)
groups = st.builds(
    ActivityGroup,
    datname=st.none() | texts, usename=st.none() | texts, application_name=texts, client_addr=st.none() | texts,
    state=st.none() | st.sampled_from(["active", "idle", "idle in transaction"]),
    wait_event_type=st.none() | st.sampled_from(["Client", "Lock", "Timeout"]),
    count=st.integers(1, 10_000), ssl_count=st.integers(0, 10),
    oldest_idle_in_transaction_s=ages, oldest_xact_s=ages, oldest_backend_s=ages, youngest_backend_s=ages,
    last_query=st.none() | texts,
)
server_settings = st.none() | st.builds(
    ServerSettings, max_connections=st.integers(1, 1000), superuser_reserved_connections=st.integers(0, 5),
    reserved_connections=st.none() | st.integers(0, 5), idle_in_transaction_session_timeout_ms=st.integers(0, 10**6),
    idle_session_timeout_ms=st.integers(0, 10**6), ssl=st.booleans(), server_version_num=st.integers(120000, 180000),
    can_see_all=st.booleans(), role=st.none() | texts,
)


@st.composite
def snapshot_runs(draw):
    result, moment = [], T0
    for _ in range(draw(st.integers(0, 12))):
        moment += timedelta(microseconds=draw(st.integers(1, 10**7)))
        server = draw(st.sampled_from(["primary", "replica"]))
        if draw(st.booleans()):
            result.append(Snapshot(server, moment, "ok", tuple(draw(st.lists(groups, max_size=5))),
                                   draw(server_settings), draw(st.integers(0, 2)), latency_ms=draw(ages)))
        else:
            status = draw(st.sampled_from(["unreachable", "refused", "auth", "ssl", "error"]))
            result.append(Snapshot(server, moment, status, error=draw(texts), sqlstate=draw(st.none() | texts)))
    return result


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=snapshot_runs())
def test_any_snapshots_round_trip_and_frames_add_up(tmp_path_factory, run):
    with HistoryStore(tmp_path_factory.mktemp("prop") / "h.sqlite") as store:
        for snap in run:
            store.append(snap)
        for server in ("primary", "replica"):
            mine = [s for s in run if s.server == server]
            assert store.snapshots(server) == mine
            frame = store.frame(server)
            per_sample = frame.groupby("taken_at", sort=True)["count"].sum(min_count=1)
            expected = [float(s.total) if s.ok else np.nan for s in mine]
            np.testing.assert_array_equal(per_sample.to_numpy(), np.array(expected, dtype=float))


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_times_are_stored_to_the_microsecond(moment):
    assert from_us(to_us(moment)) == moment

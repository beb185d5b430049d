"""PgBouncer samples in the history: beside the servers', per pool, gaps kept as gaps, retention, and a history
file written before PgBouncer was sampled (no PgBouncer tables) opening with its server samples intact."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.live.history import HistoryStore
from planner.pgbouncer_snapshot import ConnectionGroup, PgBouncerConfig, PgBouncerPool, PgBouncerSnapshot
from planner.snapshot import ActivityGroup, Snapshot

# Recent, not a fixed date: HistoryStore prunes by the clock (on open and every 10 min), so samples at a fixed
# date vanish once it is older than the retention (this file failed an hour after it was written).
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
CONFIG = PgBouncerConfig("transaction", 2, 100, None, 120.0, 600.0, 0, 0, 0, 0)


def bouncer_sample(at: float, waiting: int = 0, name: str = "pgb") -> PgBouncerSnapshot:
    pools = (
        PgBouncerPool("appdb", "app", "transaction", 2, waiting, 2, 0, 0, 0.5 * waiting, avg_xact_ms=12.5,
                      avg_query_ms=3.25, avg_wait_ms=0.0, xacts=40, avg_source="interval"),
        PgBouncerPool("reports", "ro", None, 1, 0, 0, 1, 1, 0.0, cl_active_cancel_req=0, sv_being_canceled=0),
    )
    return PgBouncerSnapshot(name, T0 + timedelta(seconds=at), "ok", version="1.18.0", config=CONFIG, pools=pools,
                             clients=(ConnectionGroup("appdb", "app", "active", "shop", 3, 0.0),), console_clients=1,
                             client_connections=4 + waiting, latency_ms=0.6)


def server_sample(at: float) -> Snapshot:
    return Snapshot("primary", T0 + timedelta(seconds=at), "ok",
                    groups=(ActivityGroup("db", "app", "shop", "127.0.0.1", "idle", "Client", 3, 0),))


def stored(snap: PgBouncerSnapshot) -> PgBouncerSnapshot:
    return dataclasses.replace(snap, clients=(), servers=())  # groups are not kept, pools are


def test_round_trip_beside_the_servers_with_gaps(tmp_path):
    gap = PgBouncerSnapshot("pgb", T0 + timedelta(seconds=2), "unreachable", error="connection refused")
    samples = [bouncer_sample(0), bouncer_sample(1, waiting=3), gap, bouncer_sample(3)]
    with HistoryStore(tmp_path / "h.sqlite") as store:
        store.append(server_sample(0))
        for snap in samples:
            store.append(snap)
        store.append(bouncer_sample(1, name="other"))
        assert store.servers() == ["primary"] and store.pgbouncer_names() == ["other", "pgb"]
        assert store.pgbouncer_snapshots("pgb") == [stored(s) for s in samples]
        assert store.pgbouncer_snapshots("pgb")[1].total_clients == 7
        assert store.pgbouncer_snapshots("pgb", since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=2)) == [
            stored(samples[1]), gap]
        frame = store.pgbouncer_frame("pgb")
        assert len(frame) == 7  # 2 pools x 3 ok samples + 1 gap row
        waiting = frame[(frame["database"] == "appdb")]["cl_waiting"].tolist()
        assert waiting == [0.0, 3.0, 0.0]
        gap_row = frame[frame["status"] == "unreachable"]
        assert len(gap_row) == 1 and gap_row["cl_waiting"].isna().all()
        assert len(store.snapshots("primary")) == 1


def test_retention_prunes_pgbouncer_samples_too(tmp_path):
    start = datetime.now(UTC)  # the store's own prune on open (by the clock, 60 s here) must keep both samples
    first, second = (dataclasses.replace(bouncer_sample(0), taken_at=start + timedelta(seconds=s)) for s in (0, 100))
    with HistoryStore(tmp_path / "h.sqlite", retention_s=60) as store:
        store.append(first)
        store.append(second)
        assert store.prune(now=start + timedelta(seconds=120)) == 1
        assert [s.taken_at for s in store.pgbouncer_snapshots("pgb")] == [second.taken_at]


def test_a_history_file_from_before_pgbouncer_keeps_working(tmp_path):
    path = tmp_path / "old.sqlite"
    with HistoryStore(path) as store:
        store.append(server_sample(0))
        store.append(server_sample(1))
    with sqlite3.connect(path) as conn:  # as written before this change: no PgBouncer tables at all
        for table in ("pgbouncer_pool", "pgbouncer_sample", "pgbouncer_config"):
            conn.execute(f"DROP TABLE {table}")
    with HistoryStore(path) as store:
        assert [s.taken_at for s in store.snapshots("primary")] == [T0, T0 + timedelta(seconds=1)]
        assert store.pgbouncer_names() == []
        store.append(bouncer_sample(2))
        store.append(server_sample(2))
        assert store.pgbouncer_snapshots("pgb") == [stored(bouncer_sample(2))]
        assert len(store.snapshots("primary")) == 3 and store.last_error is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 50), st.booleans()), min_size=1, max_size=8))
def test_whatever_is_appended_comes_back(tmp_path, rows):
    with HistoryStore.temporary() as store:
        samples = [bouncer_sample(i, waiting=w) if ok else
                   PgBouncerSnapshot("pgb", T0 + timedelta(seconds=i), "auth", error="password authentication failed")
                   for i, (w, ok) in enumerate(rows)]
        for snap in samples:
            store.append(snap)
        assert store.pgbouncer_snapshots("pgb") == [stored(s) for s in samples]

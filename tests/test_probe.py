"""The in-app pool probe against real PostgreSQL and SQLAlchemy's own pools: every figure is checked against a
ground truth the test measures itself (connections it holds, waits it times, timeouts it catches)."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, exc, text
from sqlalchemy.ext.asyncio import create_async_engine

from planner.probe import instrument, prometheus_text, register_prometheus, uninstrument
from planner.probe.core import FOLD_AT
from planner.probe.histogram import BOUNDS_S, Histogram, quantile_s, summary

ROOT = Path(__file__).resolve().parent.parent
BUCKET_RATIO = BOUNDS_S[1] / BOUNDS_S[0]  # 10 ** 0.1: one bucket's width


def sync_url(pg_url: str) -> str:
    return pg_url.replace("+asyncpg", "+psycopg")


@pytest.fixture
def probed(pg_url):
    """A sync engine and its probe; both are gone after the test."""
    made = []

    def make(**kwargs):
        engine = create_engine(sync_url(pg_url), **kwargs)
        probe = instrument(engine, service="orders")
        made.append((engine, probe))
        return engine, probe

    yield make
    for engine, probe in made:
        uninstrument(probe)
        engine.dispose()


def within_bucket(measured_ms: float, truth_ms: float) -> bool:
    return truth_ms / BUCKET_RATIO <= measured_ms <= truth_ms * BUCKET_RATIO


# ---------------------------------------------------------------------------------------------- pure parts


def test_import_pulls_in_no_dashboard_library():
    code = ("import sys, planner.probe; bad = [m for m in ('streamlit', 'pandas', 'plotly', 'asyncpg', "
            "'prometheus_client') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=2e-5, max_value=90.0), min_size=1, max_size=400),
       st.sampled_from([0.5, 0.95, 0.99]))
def test_quantile_is_within_one_bucket_of_the_exact_one(values, q):
    hist = Histogram()
    for value in values:
        hist.observe(value)
    ordered = sorted(values)
    exact = ordered[max(0, math.ceil(q * len(ordered)) - 1)]
    got = quantile_s(hist.counts, q)
    assert exact / BUCKET_RATIO <= got <= exact * BUCKET_RATIO
    assert summary(hist.counts, hist.sum_s, hist.count).mean == pytest.approx(sum(values) / len(values) * 1000,
                                                                              rel=1e-3)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.floats(min_value=0.0, max_value=500.0), st.sampled_from(BOUNDS_S)), max_size=300))
def test_observing_many_at_once_counts_as_observing_each(values):
    """The probe's fold counts a batch with one sort and a search per bound: the same counts as one search per
    value, a value equal to a bound in that bound's bucket (``le``), beyond the last one in the overflow."""
    one_by_one, at_once = Histogram(), Histogram()
    for value in values:
        one_by_one.observe(value)
    at_once.observe_many(list(values))
    assert at_once.counts == one_by_one.counts and at_once.count == len(values)
    assert at_once.sum_s == pytest.approx(one_by_one.sum_s)


def test_empty_histogram_has_no_quantiles():
    assert summary([0] * (len(BOUNDS_S) + 1), 0.0, 0).as_dict() == {"p50": None, "p95": None, "p99": None,
                                                                   "mean": None}


# ----------------------------------------------------------------------------------------- gauges, threads


@pytest.mark.db
def test_checked_out_idle_and_overflow_follow_held_connections(probed):
    engine, probe = probed(pool_size=2, max_overflow=2, pool_timeout=5)
    held = []
    for n, (idle, overflow) in enumerate([(0, 0), (0, 0), (0, 1), (0, 2)], start=1):
        held.append(engine.connect())
        snap = probe.snapshot()
        assert (snap["checked_out"], snap["idle"], snap["overflow"]) == (n, idle, overflow)
    assert probe.snapshot()["connects"] == 4
    for conn in held:
        conn.close()
    snap = probe.snapshot()
    # SQLAlchemy closes the overflow connections that do not fit back into the pool on check-in
    assert (snap["checked_out"], snap["idle"], snap["overflow"], snap["closes"]) == (0, 2, 0, 2)
    assert snap["checkouts"] == 4 and snap["peak_checked_out"] == 4
    assert snap["checked_out_at_checkout"][1:5] == [1, 1, 1, 1]


@pytest.mark.db
def test_threads_holding_connections_are_counted(probed):
    name = f"probe-test-held-{os.getpid()}"
    engine, probe = probed(pool_size=5, max_overflow=0, pool_timeout=5, connect_args={"application_name": name})
    ready, release = threading.Barrier(4), threading.Event()

    def hold():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            ready.wait()
            release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    ready.wait()
    server_side = _server_connections(engine, name)
    snap = probe.snapshot()
    release.set()
    for thread in threads:
        thread.join()
    assert snap["checked_out"] == 3 and snap["waiting"] == 0
    assert server_side == 3  # the probe opened no connection of its own


@pytest.mark.db
def test_checkouts_across_several_folds_are_all_counted(probed):
    """The hot path only appends; every FOLD_AT checkouts, and before each reading, the appended waits, holds
    and checked-out counts are folded into the histograms: none is lost or counted twice across folds."""
    engine, probe = probed(pool_size=2, max_overflow=0)
    held = engine.connect()
    checkouts = 2 * FOLD_AT + 37
    for i in range(checkouts):
        engine.connect().close()
        if i == FOLD_AT // 2:
            probe.snapshot()  # a reading between two folds
    assert len(probe._new_waits) < FOLD_AT  # the hot path's appends stay bounded without any reading
    snap = probe.snapshot()
    held.close()
    after = probe.snapshot()
    assert snap["checkouts"] == checkouts + 1 and snap["histograms"]["wait"]["count"] == checkouts + 1
    assert snap["histograms"]["hold"]["count"] == checkouts  # the held one is not back yet
    assert snap["checked_out_at_checkout"] == [0, 1, checkouts] and snap["checked_out"] == 1
    assert after["histograms"]["hold"]["count"] == checkouts + 1 and after["checked_out"] == 0


def test_failed_checkouts_are_folded_too():
    """Checkouts that fail (nothing listens on the port) count as connect errors with their wait, and their
    appends stay bounded even when nobody reads the probe."""
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", pool_size=1, max_overflow=0)
    probe = instrument(engine, service="refused")
    try:
        attempts = FOLD_AT + 5
        for _ in range(attempts):
            with pytest.raises(exc.OperationalError):
                engine.connect()
        assert len(probe._new_waits) < FOLD_AT
        snap = probe.snapshot()
    finally:
        uninstrument(probe)
        engine.dispose()
    assert snap["connect_errors"] == attempts and snap["histograms"]["wait"]["count"] == attempts
    assert snap["checkouts"] == 0 and snap["timeouts"] == 0


def _server_connections(engine, name: str) -> int:
    sql = "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = :name"
    other = create_engine(engine.url)
    try:
        with other.connect() as conn:
            return conn.execute(text(sql), {"name": name}).scalar() or 0
    finally:
        other.dispose()


# -------------------------------------------------------------------------------------- waits and timeouts


@pytest.mark.db
def test_forced_wait_is_measured_and_the_waiter_counted(probed):
    engine, probe = probed(pool_size=1, max_overflow=0, pool_timeout=10)
    with engine.connect() as warm:
        warm.execute(text("SELECT 1"))
    holder = engine.connect()
    measured: list[float] = []

    def waiter():
        started = time.perf_counter()
        with engine.connect():
            measured.append(time.perf_counter() - started)

    thread = threading.Thread(target=waiter)
    thread.start()
    deadline = time.monotonic() + 5
    while probe.snapshot()["waiting"] != 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert probe.snapshot()["waiting"] == 1
    time.sleep(0.25)
    holder.close()
    thread.join()
    snap = probe.snapshot()
    assert snap["waiting"] == 0 and snap["timeouts"] == 0
    assert within_bucket(snap["wait_ms"]["p99"], measured[0] * 1000), (snap["wait_ms"], measured)
    # the blocked part alone: SQLAlchemy uses the blocking get once the pool is at its ceiling, so the holder's
    # checkout (an idle connection, returned at once) and the waiter's; the p99 is the waiter's, the whole wait
    assert snap["histograms"]["queue"]["count"] == 2
    assert within_bucket(snap["queue_wait_ms"]["p99"], measured[0] * 1000)
    assert measured[0] >= 0.25  # the waiter really waited for the holder
    assert snap["hold_ms"]["p99"] >= 250 / BUCKET_RATIO


@pytest.mark.db
def test_forced_timeouts_are_counted_with_their_wait(probed):
    engine, probe = probed(pool_size=1, max_overflow=0, pool_timeout=0.2)
    holder = engine.connect()
    errors, waits = [], []

    def waiter():
        started = time.perf_counter()
        try:
            engine.connect()
        except exc.TimeoutError as err:
            errors.append(str(err))
        waits.append(time.perf_counter() - started)

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    holder.close()
    snap = probe.snapshot()
    assert len(errors) == 3 and all("QueuePool limit of size 1 overflow 0 reached" in e for e in errors)
    assert snap["timeouts"] == 3 and snap["checkouts"] == 1
    assert snap["histograms"]["queue"]["count"] == 3  # the three blocked; the holder never blocked
    # four waits: the holder's instant one and the three that timed out (the worst, so they count)
    assert snap["histograms"]["wait"]["count"] == 4
    assert within_bucket(snap["wait_ms"]["p99"], max(waits) * 1000)
    assert snap["wait_ms"]["p50"] >= 200 / BUCKET_RATIO


# ------------------------------------------------------------------------------ invalidation and pre-ping


@pytest.mark.db
def test_invalidated_connection_is_counted(probed):
    engine, probe = probed(pool_size=2, max_overflow=0)
    with engine.connect() as conn:
        conn.invalidate()
    with engine.connect() as conn:
        conn.connection.invalidate(soft=True)
    snap = probe.snapshot()
    assert (snap["invalidations"], snap["soft_invalidations"], snap["pre_ping_failures"]) == (1, 1, 0)
    assert snap["checked_out"] == 0


@pytest.mark.db
def test_pre_ping_failure_after_the_backend_is_terminated(probed, pg_url):
    engine, probe = probed(pool_size=1, max_overflow=0, pool_pre_ping=True)
    with engine.connect() as conn:
        backend = conn.execute(text("SELECT pg_catalog.pg_backend_pid()")).scalar()
    killer = create_engine(sync_url(pg_url), poolclass=None)
    with killer.connect() as other:
        assert other.execute(text("SELECT pg_catalog.pg_terminate_backend(:pid)"), {"pid": backend}).scalar()
    killer.dispose()
    time.sleep(0.1)
    with engine.connect() as conn:  # pre-ping finds it dead, SQLAlchemy reconnects: the request never sees it
        assert conn.execute(text("SELECT pg_catalog.pg_backend_pid()")).scalar() != backend
    snap = probe.snapshot()
    assert snap["pre_ping_failures"] == 1 and snap["invalidations"] == 0
    assert snap["connects"] == 2 and snap["checkouts"] == 2


@pytest.mark.db
def test_the_probe_survives_engine_dispose(probed):
    engine, probe = probed(pool_size=1, max_overflow=0, pool_timeout=0.1)
    with engine.connect():
        pass
    engine.dispose()
    holder = engine.connect()
    assert probe.snapshot()["checked_out"] == 1
    with pytest.raises(exc.TimeoutError):
        engine.connect()
    holder.close()
    assert probe.snapshot()["timeouts"] == 1 and probe.snapshot()["checkouts"] == 2


# ---------------------------------------------------------------------------------------------- async


@pytest.mark.db
def test_async_engine_counts_held_connections_waiters_and_timeouts(pg_url):
    async def scenario():
        engine = create_async_engine(pg_url, pool_size=2, max_overflow=1, pool_timeout=0.3)
        probe = instrument(engine, service="async-orders")
        try:
            conns = [await engine.connect() for _ in range(3)]
            held = probe.snapshot()
            waiter = asyncio.create_task(engine.connect().start())
            await asyncio.sleep(0.1)
            waiting = probe.snapshot()["waiting"]
            with pytest.raises(exc.TimeoutError):
                await waiter
            for conn in conns:
                await conn.close()
            return held, waiting, probe.snapshot()
        finally:
            uninstrument(probe)
            await engine.dispose()

    held, waiting, after = asyncio.run(scenario())
    assert (held["checked_out"], held["overflow"], held["idle"]) == (3, 1, 0)
    assert held["pool_class"] == "AsyncAdaptedQueuePool"
    assert waiting == 1
    assert after["timeouts"] == 1 and after["waiting"] == 0 and after["checked_out"] == 0
    assert after["wait_ms"]["p99"] >= 300 / BUCKET_RATIO


# ---------------------------------------------------------------------------------------------- formats


@pytest.mark.db
def test_prometheus_text_parses_and_matches_the_snapshot(probed):
    from prometheus_client.parser import text_string_to_metric_families

    engine, probe = probed(pool_size=2, max_overflow=0)
    held = engine.connect()
    families = {f.name: f for f in text_string_to_metric_families(prometheus_text([probe.snapshot()]))}
    held.close()
    sample = families["pool_probe_checked_out"].samples[0]
    assert sample.value == 1 and sample.labels["service"] == "orders"
    assert families["pool_probe_checkouts"].type == "counter"
    buckets = [s for s in families["pool_probe_checkout_wait_seconds"].samples if s.name.endswith("_bucket")]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 1
    info = families["pool_probe_info"].samples[0].labels
    assert (info["pool_size"], info["max_overflow"]) == ("2", "0")


@pytest.mark.db
def test_register_prometheus_exposes_the_same_families(probed):
    from prometheus_client import CollectorRegistry, generate_latest

    engine, _probe = probed(pool_size=1, max_overflow=0)
    registry = CollectorRegistry()
    register_prometheus(registry)
    with engine.connect():
        body = generate_latest(registry).decode()
    assert 'pool_probe_checked_out{engine="default",pid=' in body
    assert "pool_probe_hold_seconds_bucket" in body


def test_files_of_dead_workers_are_skipped_and_removed(tmp_path):
    from planner.probe.exposition import gather

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"probe-{int(dead.stdout)}.json"
    stale.write_text('[{"service": "ghost"}]')
    alive = tmp_path / f"probe-{os.getppid()}.json"  # a live process (pytest's parent) with a fresh file
    alive.write_text('[{"service": "sibling"}]')
    broken = tmp_path / "probe-notapid.json"
    broken.write_text("{")
    services = [snap["service"] for snap in gather(tmp_path)]
    assert "ghost" not in services and "sibling" in services
    assert not stale.exists() and alive.exists()


def test_a_forked_worker_publishes_its_own_file(tmp_path):
    """gunicorn --preload: instrument() runs in the master, the workers are forked from it afterwards."""
    code = f"""
import os, sys, time
from sqlalchemy import create_engine
from planner.probe import instrument
engine = create_engine("sqlite://")
instrument(engine, service="preloaded")
pid = os.fork()
if pid == 0:
    time.sleep(2.5)
    os._exit(0 if os.path.exists(os.path.join({str(tmp_path)!r}, f"probe-{{os.getpid()}}.json")) else 1)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    env = {**os.environ, "POOL_PROBE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr

"""``live observe`` against real servers and real SQLAlchemy pools under real traffic (worker threads holding
connections in transactions), one test per source of rate and hold: the probe (an instrumented engine serving
its probe over HTTP), PgBouncer (a real one in transaction mode), the database's transaction rate (a service
alone in its own database), none (two services sharing a database), and the censored case (a saturated pool),
the last through the CLI with its JSON contract and exit code.

Windows are short here (6-15 s) to keep the suite fast, so tolerances are loose; benchmarks/observe_accuracy.py
holds the estimates to ±10 % / ±20 % over longer windows."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.observe_workload import Workload, sync_url
from dashboard.live.cli import main
from dashboard.live.observe import observe, observe_live
from dashboard.live.probes import ProbeTarget
from planner.probe import serve, uninstrument

pytestmark = pytest.mark.db
PREFIX = f"obs{os.getpid()}"


def url_for(pg_url: str, database: str) -> str:
    return make_url(pg_url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture
def database(pg_url):
    """A database of its own (created and dropped here)."""
    name = f"{PREFIX}_{time.monotonic_ns() % 10**9}"
    admin = create_engine(sync_url(url_for(pg_url, "postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url_for(pg_url, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def running(*workloads: Workload, warm: int = 0):
    for w in workloads:
        if warm:
            w.warm(warm)
        w.start()
    time.sleep(1.0)
    for w in workloads:
        w.count_from_now()
    try:
        yield workloads
    finally:
        for w in workloads:
            w.stop()


def by_name(results) -> dict:
    return {r.observation.name: r for r in results}


def test_probe_source(database):
    name = f"{PREFIX}probe"
    workload = Workload(database, f"{name}-1", rate=80, hold_ms=25, dist="exp", pool_size=6, probe=name)
    server = serve(port=0)
    try:
        with running(workload, warm=6):
            window = observe_live(database, seconds=8,
                                  probes=[ProbeTarget(f"http://127.0.0.1:{server.server_port}/probe", name)])
            figures = workload.end_count()
    finally:
        server.shutdown()
        uninstrument(workload.probe)
    result = by_name(observe(window, processes={name: 1}))[name]
    obs = result.observation
    assert obs.source == "probe" and obs.hold_shape is not None
    assert obs.hold_ms == pytest.approx(figures.hold_mean_ms(), rel=0.2)
    assert obs.rate_rps == pytest.approx(figures.checkouts / (figures.stopped - figures.started), rel=0.2)
    assert obs.offered_fleet == pytest.approx(figures.busy_mean(), rel=0.35)
    assert not obs.censored
    assert result.advice.method == "queueing" and result.advice.p99_wait_ms is not None
    assert result.model is not None and result.model.pool_size == 6  # predicted vs measured, same window


def test_transactions_source_alone_in_its_database(database):
    """A busy pooled service alone in its database, whose transactions read a table (as an application's do):
    each backend flushes its transaction counts to pg_stat_database about once a second while it works, so
    the counter's slope over the window is the service's transaction rate (docs/observe.md)."""
    name = f"{PREFIX}tx"
    workload = Workload(database, f"{name}-1", rate=50, hold_ms=20, dist="exp", pool_size=5)
    with running(workload, warm=5):
        window = observe_live(database, seconds=15)
        figures = workload.end_count()
    obs = by_name(observe(window, processes={name: 1}))[name].observation
    assert obs.source == "transactions"
    rate = figures.checkouts / (figures.stopped - figures.started)
    assert obs.rate_rps == pytest.approx(rate, rel=0.15)
    assert obs.hold_ms == pytest.approx(obs.offered_fleet / obs.rate_rps * 1000)  # Little's law, by definition
    assert obs.hold_ms == pytest.approx(figures.hold_mean_ms(), rel=0.3)


def test_transactions_that_read_no_table_give_no_rate(database):
    """Transactions that touch no table (a bare ``SELECT pg_sleep``) leave a backend nothing else to flush, so
    PostgreSQL never adds them to pg_stat_database while the connection lives: the counter stands still or
    moves in rare lumps, and the source is absent rather than a wrong rate."""
    name = f"{PREFIX}txbare"
    workload = Workload(database, f"{name}-1", rate=50, hold_ms=20, dist="exp", pool_size=5, reads_table=False)
    with running(workload, warm=5):
        window = observe_live(database, seconds=10)
        workload.end_count()
    obs = by_name(observe(window, processes={name: 1}))[name].observation
    assert obs.source == "none" and obs.rate_rps is None
    assert obs.offered_fleet > 0.5  # the busy series still measures the offered load


def test_none_when_two_services_share_a_database(database):
    a, b = f"{PREFIX}alpha", f"{PREFIX}beta"
    workloads = (Workload(database, f"{a}-1", rate=40, hold_ms=20, pool_size=4),
                 Workload(database, f"{b}-1", rate=30, hold_ms=30, pool_size=4, seed=2))
    with running(*workloads, warm=4):
        window = observe_live(database, seconds=6)
    results = by_name(observe(window, processes={a: 1, b: 1}))
    for name in (a, b):
        obs = results[name].observation
        assert (obs.source, obs.rate_rps, obs.hold_ms) == ("none", None, None)
        assert obs.offered_fleet > 0
        assert results[name].advice.method == "littles-law" and results[name].advice.pool_size >= 1
    out = io.StringIO()
    with running(*[Workload(database, f"{n}-1", rate=30, hold_ms=20, pool_size=4) for n in (a, b)], warm=4), \
            contextlib.redirect_stdout(out):
        assert main(["observe", "--url", database, "--seconds", "3", "--export", "env"]) == 0
    heads = [line for line in out.getvalue().splitlines() if line.startswith("# workload measured")]
    assert len(heads) == 2 and all("offered load" in line and "littles-law" in line for line in heads)


def test_censored_saturated_pool_through_the_cli(database, tmp_path):
    name = f"{PREFIX}sat"
    plan = Path(tmp_path / "plan.toml")
    plan.write_text(f'[[servers]]\nname = "primary"\nmax_connections = 100\n\n[[engines]]\nname = "main"\n'
                    f'server = "primary"\npool_size = 2\nmax_overflow = 0\napplication_name = "{name}"\n\n'
                    f'[deployment]\ninstances = 1\nworkers = 1\nsurge = 0\n')
    workload = Workload(database, f"{name}-1", rate=80, hold_ms=50, dist="const", pool_size=2, pool_timeout=60)
    out = io.StringIO()
    with running(workload, warm=2), contextlib.redirect_stdout(out):
        code = main(["observe", "--url", database, "--seconds", "4", "--json", "--config", str(plan),
                     "--processes", f"{name}=1"])
    document = json.loads(out.getvalue())
    service = next(s for s in document["services"] if s["name"] == name)
    assert code == 1
    assert service["censored"] is True and service["censored_by"] == "pool cap"
    assert service["busy"]["max"] == 2 and service["processes"] == 1
    for key in ("name", "samples", "processes", "busy", "offered_load", "rate_rps", "hold_ms", "source",
                "censored", "recommendation"):
        assert key in service
    assert set(service["busy"]) >= {"mean", "p95", "p99", "max"}
    assert set(service["offered_load"]) == {"fleet", "per_process"}
    assert set(service["recommendation"]) >= {"pool_size", "max_overflow", "p99_wait_ms"}
    text_out = io.StringIO()
    with running(Workload(database, f"{name}-1", rate=80, hold_ms=50, dist="const", pool_size=2, pool_timeout=60),
                 warm=2), contextlib.redirect_stdout(text_out):
        main(["observe", "--url", database, "--seconds", "3", "--config", str(plan)])
    assert "at least" in text_out.getvalue()


def test_bad_input_exits_2(capsys):
    assert main(["observe", "--url", "postgresql://x@127.0.0.1:1/db", "--seconds", "0"]) == 2
    assert main(["observe", "--seconds", "5", "--processes", "orders"]) == 2
    assert main(["observe", "--since", "yesterday", "--data", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 3


def test_pgbouncer_source(pg_url):
    """Through a real PgBouncer (transaction pooling) in front of its own PostgreSQL: rate and hold from
    PgBouncer's transactions of the service's database."""
    from conftest import require_binary
    from pgbouncer_kit import USERS, running_pgbouncer
    from pgcluster import Cluster

    require_binary("/usr/sbin/pgbouncer", "pgbouncer")
    cluster = Cluster().start()
    try:
        settings = "pool_mode = transaction\ndefault_pool_size = 8\nmax_client_conn = 100\n"
        with running_pgbouncer(cluster, "observe", settings, auth_type="md5") as bouncer:
            name = f"{PREFIX}bnc"
            app_url = f"postgresql://app:{USERS['app']}@127.0.0.1:{bouncer.port}/appdb"
            workload = Workload(app_url, f"{name}-1", rate=60, hold_ms=20, dist="exp", pool_size=5,
                                via_pgbouncer=True)
            with running(workload, warm=5):
                window = observe_live(cluster.url(), seconds=8, console=bouncer.url("stats"))
                figures = workload.end_count()
    finally:
        cluster.destroy()
    obs = by_name(observe(window, processes={name: 1}))[name].observation
    assert obs.source == "pgbouncer"
    assert obs.rate_rps == pytest.approx(figures.checkouts / (figures.stopped - figures.started), rel=0.25)
    assert obs.hold_ms == pytest.approx(figures.busy_s / figures.checkouts * 1000, rel=0.3)
    assert obs.offered_fleet == pytest.approx(figures.busy_mean(), rel=0.4)

"""The collector's other target kinds, for real: a PgBouncer (Debian's) in front of a PostgreSQL 16 cluster and
an in-app probe (``planner.probe`` on a real pool). Their figures are re-exported on /metrics with the same
labels the docs give; each going down is its own gap (``up`` 0, probe ``failed``) while the server's samples
keep their cadence, and coming back is picked up; no password reaches /metrics or the output."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from collector_kit import CollectorProcess, connections, plan_file, wait_until
from conftest import require_binary
from pgbouncer_kit import DEBIAN_PGBOUNCER, USERS, restart, running_pgbouncer, stop
from pgcluster import Cluster
from sqlalchemy import create_engine

from planner.probe import instrument, serve, uninstrument

pytestmark = pytest.mark.db
DOCS = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text()


def server_keeps_sampling(collector: CollectorProcess, seconds: float = 2.0) -> float:
    before = collector.value("pool_planner_last_sample_timestamp_seconds", kind="server", target="primary")
    time.sleep(seconds)
    return collector.value("pool_planner_last_sample_timestamp_seconds", kind="server", target="primary") - before


def test_pgbouncer_and_probe_reexported_and_their_outages_are_their_own_gaps(tmp_path):
    require_binary(DEBIAN_PGBOUNCER, "pgbouncer")
    plan = plan_file(tmp_path / "plan.toml", max_connections=40, services={"orders": (2, 1)})
    with Cluster({"max_connections": 40}) as cluster, \
            running_pgbouncer(cluster, "bouncer", "pool_mode = transaction\n") as bouncer:
        engine = create_engine(cluster.url(driver="psycopg"), pool_size=2, max_overflow=1, pool_timeout=0.2)
        probe = instrument(engine, service="orders")
        http = serve(port=0)
        endpoint = f"orders=http://127.0.0.1:{http.server_address[1]}/probe"
        args = ["--config", str(plan), "--url", f"primary={cluster.url()}", "--data", str(tmp_path),
                "--interval", "0.5", "--timeout", "1", "--pgbouncer", f"bouncer={bouncer.url()}"]
        try:
            with CollectorProcess(args, env={"POOL_PLANNER_PROBES": endpoint}) as collector, \
                    connections(bouncer.url("app", database="appdb"), 2, "via-bouncer"):
                held = [engine.connect() for _ in range(2)]
                wait_until(lambda: collector.value("pool_planner_probe_checked_out", service="orders") == 2, 20)
                assert collector.value("pool_planner_probe_pool_size", service="orders", engine="default") == 2
                assert collector.value("pool_planner_probe_up", service="orders", result="ok") == 1
                wait_until(lambda: collector.value("pool_planner_up", kind="pgbouncer", target="bouncer") == 1)
                wait_until(lambda: (collector.value("pool_planner_pgbouncer_clients", pgbouncer="bouncer",
                                                    database="appdb", state="active") or 0) >= 2)
                scraped = collector.scrape()
                names = {name.removesuffix("_total") for name, _ in scraped}
                assert names <= {n for n in names if f"`{n}`" in DOCS or f"`{n}_total`" in DOCS
                                 or n.startswith("pool_planner_probe_")}
                text = collector.scrape_text()
                assert all(secret not in text for secret in USERS.values())

                stop(bouncer)  # PgBouncer down: its own gap, the server keeps its cadence
                wait_until(lambda: collector.value("pool_planner_up", kind="pgbouncer", target="bouncer") == 0, 15)
                assert server_keeps_sampling(collector) >= 1.0
                restart(bouncer, DEBIAN_PGBOUNCER)
                wait_until(lambda: collector.value("pool_planner_up", kind="pgbouncer", target="bouncer") == 1, 20)

                for conn in held:
                    conn.close()
                http.shutdown()  # the probe down: a failed reading, the server unaffected
                http.server_close()
                wait_until(lambda: collector.value("pool_planner_probe_up", service="orders", result="failed") == 1,
                           15)
                assert server_keeps_sampling(collector) >= 1.0
                assert collector.proc.poll() is None
                assert collector.terminate() == 0
            output = "".join(collector.lines)
            assert all(secret not in output for secret in USERS.values())
        finally:
            uninstrument(probe)
            engine.dispose()

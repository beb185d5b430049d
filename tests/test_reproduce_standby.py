"""replica-below-primary, reproduced with a real streaming standby (pgserver's PostgreSQL 16).

A standby made with pg_basebackup runs with max_connections 30 like its primary; the primary is restarted
with 40. The standby keeps answering reads but pauses its replay ("hot standby is not possible because of
insufficient parameter settings", then "recovery has paused": its data goes stale). Both servers sampled by
the dashboard's sampler, the live rule names the setting; raising it on the standby clears it.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from pgcluster import RUN_AS, Cluster
from pgserver._commands import POSTGRES_BIN_PATH
from reproduce_kit import sample

from planner.model import Engine, Plan, Server
from planner.rules.live import live_findings
from planner.rules.replica import STANDBY_REFUSAL

pytestmark = [pytest.mark.db, pytest.mark.slow]

PLAN = Plan(servers=(Server(max_connections=40), Server(name="replica", max_connections=30, replica_of="primary")),
            engines=(Engine(pool_size=2, max_overflow=0),
                     Engine(name="replica", server="replica", pool_size=2, max_overflow=0)))


def paused(standby: Cluster, timeout: float = 40.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if standby.psql("SELECT pg_catalog.pg_get_wal_replay_pause_state()") == "paused":
            return True
        time.sleep(0.5)
    return False


async def test_a_standby_below_its_primary_pauses_and_is_found_live():
    primary = Cluster({"max_connections": 30}).start()
    standby = Cluster({"max_connections": 30, "wal_retrieve_retry_interval": "500ms"})
    try:
        shutil.rmtree(standby.pgdata)
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                        "-U", "postgres", "-D", str(standby.pgdata), "-R", "-X", "stream"],
                       check=True, capture_output=True, user=RUN_AS, timeout=120)
        standby.start()
        assert standby.psql("SELECT pg_catalog.pg_is_in_recovery()") == "t"
        primary.settings["max_connections"] = 40
        primary.restart()
        assert paused(standby), standby.log.read_text()[-2000:]
        log = standby.log.read_text()
        assert "hot standby is not possible because of insufficient parameter settings" in log
        assert "max_connections = 30 is a lower setting than on the primary server, where its value was 40." in log
        assert "hot standby is not possible because of insufficient parameter settings" in STANDBY_REFUSAL

        snaps = [await sample(primary.url(), "primary"), await sample(standby.url(), "replica")]
        assert [s.status for s in snaps] == ["ok", "ok"]  # the paused standby still answers
        [finding] = [f for f in live_findings(PLAN, snaps) if f.id == "replica-below-primary"]
        assert (finding.severity, finding.server) == ("critical", "replica")
        assert "in the live servers max_connections 30 < 40 (standby < primary)" in finding.message
        assert finding.snippet == "# postgresql.conf on replica (restart)\nmax_connections = 40"

        standby.settings["max_connections"] = 40  # the snippet's fix
        standby.restart()
        snaps = [await sample(primary.url(), "primary"), await sample(standby.url(), "replica")]
        assert "replica-below-primary" not in {f.id for f in live_findings(PLAN, snaps)}
    finally:
        standby.destroy()
        primary.destroy()

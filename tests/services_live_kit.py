"""A plan of several services and a real workload for it (tests/test_services_live.py, test_browser_services.py).

The plan (``PLAN_TOML``), hand-computed, on a primary whose live max_connections is 40 (37 slots for ordinary roles):
  orders   application_name "orders" (per-worker suffixes orders-1, orders-2 fold into it); 4 instances x 2 workers
           x (2 + 1), surge 1: steady 16, peak 24, rollout peak (4 + 1) x 2 x 3 = 30; ceiling (leak) 8 x 3 = 24
  billing  no application_name: matched by its name; 1 x 1 x (2 + 0), no surge: steady 2, peak 2, rollout 2;
           ceiling 2
  search   on the replica: application_name "search"; 1 x 1 x (2 + 0): steady 2, peak 2, rollout 2
primary: rollout peak 30 + 2 = 32, peak 26, other_clients 2. unplanned-clients needs more than 2 unplanned and
32 + unplanned + 1 monitor > 37, i.e. 5 or more unplanned (3 or 4: over the allowance, but they fit).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

from collector_kit import connections
from pgcluster import RUN_AS, Cluster
from pgserver._commands import POSTGRES_BIN_PATH

PLAN_TOML = """\
rollout = "together"

[[servers]]
name = "primary"
max_connections = {primary_max}
superuser_reserved_connections = 3
other_clients = 2
major_version = 16

[[servers]]
name = "replica"
replica_of = "primary"
max_connections = {replica_max}
superuser_reserved_connections = 3
major_version = 16

[[services]]
name = "orders"
[services.deployment]
instances = 4
workers = 2
surge = 1
[[services.engines]]
name = "primary"
server = "primary"
pool_size = 2
max_overflow = 1
application_name = "orders"

[[services]]
name = "billing"
[services.deployment]
instances = 1
workers = 1
surge = 0
[[services.engines]]
name = "primary"
server = "primary"
pool_size = 2
max_overflow = 0

[[services]]
name = "search"
[services.deployment]
instances = 1
workers = 1
surge = 0
[[services.engines]]
name = "replica"
server = "replica"
pool_size = 2
max_overflow = 0
application_name = "search"
"""

PRIMARY_MAX = 40
REPLICA_MAX = 50
"""The live servers' max_connections (a hot standby needs at least its primary's)."""


def write_plan(path: Path, primary_max: int = PRIMARY_MAX, replica_max: int = REPLICA_MAX) -> Path:
    path.write_text(PLAN_TOML.format(primary_max=primary_max, replica_max=replica_max))
    return path


@contextlib.contextmanager
def workload(primary_url: str, unplanned: int = 3, billing: int = 2):
    """Real connections on the primary: orders as orders-1 x2, orders-2 x2, orders x1 (5 in all), billing x
    ``billing``, and ``unplanned`` from 't-cron', a client no service names."""
    with contextlib.ExitStack() as stack:
        for name, count in (("orders-1", 2), ("orders-2", 2), ("orders", 1), ("billing", billing),
                            ("t-cron", unplanned)):
            if count:
                stack.enter_context(connections(primary_url, count, name))
        yield


@contextlib.contextmanager
def primary_and_standby():
    """(primary, standby): a primary with max_connections 40 and a real streaming standby of it with 50
    (pg_basebackup -R, as tests/test_reproduce_standby.py makes one)."""
    primary = Cluster({"max_connections": PRIMARY_MAX}).start()
    standby = Cluster({"max_connections": REPLICA_MAX, "wal_retrieve_retry_interval": "500ms"})
    try:
        shutil.rmtree(standby.pgdata)
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                        "-U", "postgres", "-D", str(standby.pgdata), "-R", "-X", "stream"],
                       check=True, capture_output=True, user=RUN_AS, timeout=120)
        standby.start()
        assert standby.psql("SELECT pg_catalog.pg_is_in_recovery()") == "t"
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()

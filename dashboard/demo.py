"""The first-run demo: an embedded PostgreSQL (pgserver) and a real workload to watch.

``Demo.start()`` initialises a throwaway PostgreSQL 16 with a small ``max_connections`` (40), creates a
non-superuser application role, and starts several worker PROCESSES (``python -m dashboard.demo_worker worker``).
Each worker has its own ``create_async_engine`` configured from the demo plan and its own
``application_name``, and serves a Poisson stream of requests. The user switches scenarios at run time
(a control file every worker polls): normal traffic, a leaking session left idle in transaction, a cold
start (pools emptied and a burst of new backends), and a connection storm that breaks the budget.

This module only re-exports, one concern per module (no logic here): ``dashboard.demo_plan`` (fleet and
scenarios), ``dashboard.demo_server`` (embedded server, PgBouncer, workers), ``dashboard.demo_processes`` (owner
and worker bookkeeping, the orphan sweep), ``dashboard.demo_worker`` (the worker process).
"""

from __future__ import annotations

from dashboard.demo_plan import (  # noqa: F401 - re-exported
    APP_ROLE,
    DEMO_PLAN,
    MAX_CONNECTIONS,
    PGBOUNCER_CAPTION,
    PGBOUNCER_SCENARIO,
    SCENARIOS,
)
from dashboard.demo_processes import (  # noqa: F401 - re-exported
    DEMO_PREFIX,
    OWNER_FILE,
    RUN_AS,
    WORKERS_FILE,
    _kill_workers,
    _process_start,
    _process_stat,
    _read_identities,
    _running,
    _write_identities,
    sweep_orphaned_demos,
)
from dashboard.demo_server import (  # noqa: F401 - re-exported
    ROOT,
    Demo,
    start_demo,
)
from dashboard.demo_worker import (  # noqa: F401 - re-exported
    COLD_BURST,
    COLD_BURST_HOLD_S,
    COLD_CYCLE_S,
    COLD_QUIET_S,
    SQL_DIR,
    WorkerConfig,
    _Worker,
    _worker_main,
    load_sql,
)

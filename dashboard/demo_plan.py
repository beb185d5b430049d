"""The demo's fleet and scenarios: the plan its workers follow and what each scenario does (no server here).

Part of the demo (``dashboard.demo`` re-exports every name).
"""

from __future__ import annotations

from dashboard import demo_pgbouncer
from planner.model import Deployment, Engine, Plan, Server, Workload

MAX_CONNECTIONS = 40


APP_ROLE = "demo_app"


SCENARIOS: dict[str, str] = {
    "normal": "steady traffic: each pool keeps what it needed at once, at most pool_size (the steady line)",
    "leaking session": "handlers that open a transaction and never close it (idle in transaction)",
    "cold start": "every 20 s the workers restart their pools with the lesson's one-connection warm-up; 10 s of "
                  "quiet traffic, then a burst of 7 requests at once per worker opens new backends",
    "connection storm": "every worker's pool runs at pool_size + max_overflow: the fleet outgrows the server",
}


PGBOUNCER_SCENARIO = "PgBouncer queue"


PGBOUNCER_CAPTION = (f"requests go through a PgBouncer with {demo_pgbouncer.DEFAULT_POOL_SIZE} server connections that "
                     "cannot keep up: clients wait in PgBouncer, unseen by the server")
"""Offered only when Debian's PgBouncer is installed (``Demo.scenarios``); ``Demo.pgbouncer_note`` says why not."""


DEMO_PLAN = Plan(
    servers=(Server(name="primary", max_connections=MAX_CONNECTIONS, superuser_reserved_connections=3),),
    engines=(
        Engine(name="primary", server="primary", pool_size=4, max_overflow=6, pool_timeout=5, pool_recycle=600,
               pool_pre_ping=True, application_name="demo-api"),
    ),
    deployment=Deployment(instances=1, workers=4, surge=0),
    workload=Workload(rps=60, hold_ms=25, request_timeout_s=10),
)
"""The demo fleet: 4 workers x (4 + 6) = 40 at peak > 37 usable, while the lesson's rule (4 x 4 = 16) passes."""

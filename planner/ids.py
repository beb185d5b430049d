"""The pitfall catalogue: every finding id the planner, the linter and the live side produce, as data.

Each entry: the stable id (the same in the CLI, the UI, the JSON and the tests), where it is found (``static``
from a plan, ``live`` from samples, ``probe`` from the in-app probe, ``code`` by the linter), the worst severity
it can have, a one-line title, and its anchor in docs/pitfalls.md. The rule modules use the constants below
instead of repeating the strings; tests/test_pitfall_ids.py fails when code produces an id that is not here,
when an id here is produced nowhere, or when docs/pitfalls.md's table does not list every id.

This module imports nothing from the planner, so every layer (dsn, queueing, rules, lint, dashboard) can use it;
it sits at ``planner/ids.py``, not under ``planner/rules/``, because importing ``planner.rules`` loads the static
rules, which load dsn and queueing: a catalogue there could not be imported by the layers below without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["info", "warning", "critical"]

TOO_MANY_CONNECTIONS = "too-many-connections"
OVERFLOW_EXCEEDS_BUDGET = "overflow-exceeds-budget"
UNBOUNDED_OVERFLOW = "unbounded-overflow"
ROLLOUT_SURGE = "rollout-surge"
AUTOSCALE_EXCEEDS_BUDGET = "autoscale-exceeds-budget"
REPLICA_SAME_SERVER = "replica-same-server"
REPLICA_BELOW_PRIMARY = "replica-below-primary"
PLAN_DIFFERS_FROM_SERVER = "plan-differs-from-server"
ASYNCPG_SSL = "asyncpg-ssl"
ASYNCPG_URL_PARAM = "asyncpg-url-param"
SYNC_DRIVER = "sync-driver"
NOT_POSTGRESQL = "not-postgresql"
PREPARED_STATEMENT_CACHE = "prepared-statement-cache"
CONNECTION_LEAK = "connection-leak"
IDLE_IN_TRANSACTION = "idle-in-transaction"
NO_IDLE_IN_TRANSACTION_TIMEOUT = "no-idle-in-transaction-timeout"
COLD_POOL = "cold-pool"
UNPLANNED_CLIENTS = "unplanned-clients"
RECYCLE_AFTER_IDLE_TIMEOUT = "recycle-after-idle-timeout"
POOL_TIMEOUT_EXCEEDS_REQUEST_TIMEOUT = "pool-timeout-exceeds-request-timeout"
POOL_OVERLOAD = "pool-overload"
MONITOR_REFUSED = "monitor-refused"
MISSING_MONITOR_PRIVILEGE = "missing-monitor-privilege"
MONITOR_SUPERUSER = "monitor-superuser"
PGBOUNCER_CLIENTS_WAITING = "pgbouncer-clients-waiting"
PGBOUNCER_CLIENT_LIMIT = "pgbouncer-client-limit"
PGBOUNCER_PLAN_DIFFERS = "pgbouncer-plan-differs"
POOL_EXHAUSTED = "pool-exhausted"
POOL_OVERSIZED = "pool-oversized"
HOLD_TIME_DRIFT = "hold-time-drift"
PRE_PING_FAILURES = "pre-ping-failures"
MODEL_MISMATCH = "model-mismatch"
BIND_IN_LITERAL = "bind-in-literal"
SQL_STRING_BUILDING = "sql-string-building"
SQL_IDENTIFIER_BUILDING = "sql-identifier-building"
SESSION_WITHOUT_CONTEXT = "session-without-context"
SINGLE_CONNECTION_WARMUP = "single-connection-warmup"
CREATE_ALL_WITHOUT_RUN_SYNC = "create-all-without-run-sync"
ENGINE_PER_REQUEST = "engine-per-request"


@dataclass(frozen=True, slots=True)
class Pitfall:
    """One catalogue entry."""

    id: str
    kind: str
    """Where it is found: ``static``, ``live``, ``probe``, ``code``, or several joined by `` + ``."""
    severity: Severity
    """The worst severity it can have."""
    title: str
    anchor: str
    """Its section in docs/pitfalls.md (``every-id``: the table only)."""


CATALOGUE: tuple[Pitfall, ...] = (
    Pitfall(TOO_MANY_CONNECTIONS, "static + live", "critical",
            "peak or rollout peak over the usable slots; live use at 80% / 95% of them; the server refusing "
            "(SQLSTATE 53300)", "too-many-connections-live-also-static"),
    Pitfall(OVERFLOW_EXCEEDS_BUDGET, "static", "critical",
            "the lesson's rule holds (pool_size x workers fits) but pool_size + max_overflow does not", "every-id"),
    Pitfall(UNBOUNDED_OVERFLOW, "static + code", "critical", "`max_overflow=-1` (or `pool_size=0`)", "every-id"),
    Pitfall(ROLLOUT_SURGE, "static", "critical", "fits in steady state, not while old and new instances overlap",
            "every-id"),
    Pitfall(AUTOSCALE_EXCEEDS_BUDGET, "static", "critical",
            "fits at the steady instance count, not at the autoscaler's maximum", "every-id"),
    Pitfall(REPLICA_SAME_SERVER, "static", "warning",
            "two engines of one process point at one server, doubling its share", "every-id"),
    Pitfall(REPLICA_BELOW_PRIMARY, "static + live", "critical",
            "a standby's max_connections (or a related setting) below the primary's: it stops replaying",
            "replica-below-primary-live-also-static"),
    Pitfall(PLAN_DIFFERS_FROM_SERVER, "live", "warning",
            "the plan's server settings differ from what the server reports", "plan-differs-from-server-live"),
    Pitfall(ASYNCPG_SSL, "static + live + code", "critical",
            "`sslmode=` in an asyncpg URL (TypeError at first connect); live: application connections without SSL "
            "where SSL is required", "asyncpg-ssl-live-also-static"),
    Pitfall(ASYNCPG_URL_PARAM, "static", "critical",
            "a libpq-only parameter in an asyncpg URL (passed as a string, it fails at connect)", "every-id"),
    Pitfall(SYNC_DRIVER, "static", "critical", "a synchronous driver in an async engine's URL", "every-id"),
    Pitfall(NOT_POSTGRESQL, "static", "info", "a URL that is not PostgreSQL: the planner does not judge it",
            "every-id"),
    Pitfall(PREPARED_STATEMENT_CACHE, "static + live", "critical",
            "asyncpg through PgBouncer in transaction mode, PgBouncer < 1.21 or `max_prepared_statements=0`, "
            "without both caches at 0",
            "prepared-statement-cache-static-live-from-pgbouncers-version-and-config-reproduced-for-real"),
    Pitfall(CONNECTION_LEAK, "live", "warning",
            "an application holding more connections than its plan allows; connections older than `pool_recycle`",
            "connection-leak-live"),
    Pitfall(IDLE_IN_TRANSACTION, "live", "critical",
            "a session idle in a transaction longer than a threshold (sessions not closed on exception)",
            "idle-in-transaction-live"),
    Pitfall(NO_IDLE_IN_TRANSACTION_TIMEOUT, "live", "warning",
            "`idle_in_transaction_session_timeout` is 0 on the server", "no-idle-in-transaction-timeout-live"),
    Pitfall(COLD_POOL, "live", "warning",
            "an application far below pool_size x workers after start, or a burst of new backends after a deploy",
            "cold-pool-live"),
    Pitfall(UNPLANNED_CLIENTS, "live", "critical",
            "clients no service of the plan names hold more than the server's `other_clients` allowance, and with "
            "them the services' planned rollout peak no longer fits", "unplanned-clients-live"),
    Pitfall(RECYCLE_AFTER_IDLE_TIMEOUT, "static + live", "warning",
            "`pool_recycle` unset or at/above the server's `idle_session_timeout` or a load balancer's idle timeout",
            "recycle-after-idle-timeout-live-also-static"),
    Pitfall(POOL_TIMEOUT_EXCEEDS_REQUEST_TIMEOUT, "static", "warning", "requests give up before the pool does",
            "every-id"),
    Pitfall(POOL_OVERLOAD, "static + live", "critical",
            "the workload needs more connections than the pool (or PgBouncer's pool) gives at the p99 wait target",
            "pool-overload-behind-pgbouncer-in-session-mode-static-reproduced-for-real"),
    Pitfall(MONITOR_REFUSED, "live", "warning",
            "the dashboard's own connection refused for lack of slots (the server's words shown)",
            "monitor-refused-live"),
    Pitfall(MISSING_MONITOR_PRIVILEGE, "live", "warning",
            "the monitoring role cannot see other sessions (no `pg_monitor`): counts are partial",
            "missing-monitor-privilege-live"),
    Pitfall(MONITOR_SUPERUSER, "live", "warning",
            "the dashboard monitors as a superuser, which takes a reserved slot and more rights than it needs",
            "monitor-superuser-live"),
    Pitfall(PGBOUNCER_CLIENTS_WAITING, "live", "critical",
            "clients waiting in PgBouncer for a server connection (SHOW POOLS)",
            "pgbouncer-clients-waiting-live-pgbouncers-console"),
    Pitfall(PGBOUNCER_CLIENT_LIMIT, "live", "critical",
            "PgBouncer's client connections near max_client_conn", "pgbouncer-client-limit-live-pgbouncers-console"),
    Pitfall(PGBOUNCER_PLAN_DIFFERS, "live", "warning",
            "PgBouncer's running settings differ from the plan's", "pgbouncer-plan-differs-live-pgbouncers-console"),
    Pitfall(POOL_EXHAUSTED, "probe", "critical",
            "requests waited for a pool connection, or timed out (the in-app probe)", "pool-exhausted-live-probe"),
    Pitfall(POOL_OVERSIZED, "probe", "info", "the pool's p99 use far below pool_size over a long window",
            "pool-oversized-live-probe"),
    Pitfall(HOLD_TIME_DRIFT, "probe", "warning", "the measured hold time off the plan's `hold_ms`",
            "hold-time-drift-live-probe"),
    Pitfall(PRE_PING_FAILURES, "probe", "warning", "pre-ping found dead connections (restarts, dropped links)",
            "pre-ping-failures-live-probe"),
    Pitfall(MODEL_MISMATCH, "probe", "warning",
            "the probe's measured P(wait) or p99 wait off the queueing model's prediction",
            "model-mismatch-live-probe"),
    Pitfall(BIND_IN_LITERAL, "code", "critical",
            "`':days days'` inside quotes: asyncpg raises \"the server expects 0 arguments\"; psycopg silently "
            "uses 1 day", "every-id"),
    Pitfall(SQL_STRING_BUILDING, "code", "critical", "f-string, `%` or `+` SQL passed to `text()` / `execute()`",
            "every-id"),
    Pitfall(SQL_IDENTIFIER_BUILDING, "code", "warning",
            "an identifier (table, column) formatted into SQL instead of quoted", "every-id"),
    Pitfall(SESSION_WITHOUT_CONTEXT, "code", "warning",
            "a session or connection opened without `async with` (leaks on exception)", "every-id"),
    Pitfall(SINGLE_CONNECTION_WARMUP, "code", "warning",
            "a warm-up that opens one connection where the pool has more (the lesson's)", "every-id"),
    Pitfall(CREATE_ALL_WITHOUT_RUN_SYNC, "code", "critical",
            "`metadata.create_all` on an async engine without `run_sync`", "every-id"),
    Pitfall(ENGINE_PER_REQUEST, "code", "critical",
            "`create_async_engine` inside a function that runs per request", "every-id"),
)

BY_ID: dict[str, Pitfall] = {p.id: p for p in CATALOGUE}
ALL_IDS: frozenset[str] = frozenset(BY_ID)


def docs_table() -> str:
    """The "Every id" table of docs/pitfalls.md, generated from the catalogue (the docs test compares them)."""
    rows = ["| id | kind | what shows it |", "|---|---|---|"]
    rows += [f"| `{p.id}` | {p.kind} | {p.title} |" for p in CATALOGUE]
    return "\n".join(rows)

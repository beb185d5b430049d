"""Live PgBouncer rules: pure functions over recent ``PgBouncerSnapshot`` samples, judged with the plan.

- ``pgbouncer-clients-waiting``: clients wait in PgBouncer for a server connection (``cl_waiting > 0``),
  long (``maxwait``) or in every sample over a window.
- ``pgbouncer-client-limit``: client connections near ``max_client_conn``.
- ``pgbouncer-plan-differs``: the running PgBouncer is not the one the plan was judged with.
- ``prepared-statement-cache``: confirmed live where the version and config make it certain (a pool in
  transaction mode on a PgBouncer before 1.21, or with ``max_prepared_statements = 0``).

Each finding's ``server`` is the PgBouncer's name; thresholds come from ``planner.rules.thresholds``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from planner import ids
from planner.model import SEVERITY_ORDER, Finding, PgBouncer, Plan
from planner.pgbouncer_snapshot import PgBouncerPool, PgBouncerSnapshot
from planner.rules.static import prepared_statements
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds

WAITING_ID = ids.PGBOUNCER_CLIENTS_WAITING
CLIENT_LIMIT_ID = ids.PGBOUNCER_CLIENT_LIMIT
PLAN_DIFFERS_ID = ids.PGBOUNCER_PLAN_DIFFERS
PREPARED_ID = ids.PREPARED_STATEMENT_CACHE


def pgbouncer_live_findings(
    plan: Plan | None, snapshots: Sequence[PgBouncerSnapshot], thresholds: Thresholds | None = None
) -> list[Finding]:
    """Findings of every PgBouncer in ``snapshots``: its latest sample decides, the earlier ones give the
    window of ``pgbouncer-clients-waiting``. A gap (status not ok) as latest sample yields nothing here: the
    sampler's status says why."""
    th = thresholds or DEFAULT_THRESHOLDS
    by_name: dict[str, list[PgBouncerSnapshot]] = {}
    for snap in sorted(snapshots, key=lambda s: s.taken_at):
        by_name.setdefault(snap.name, []).append(snap)
    found: list[Finding] = []
    for history in by_name.values():
        latest = history[-1]
        if not latest.ok or latest.config is None:
            continue
        found += clients_waiting(latest, history, th)
        found += client_limit(latest, th)
        found += plan_differs(plan, latest)
        found += live_prepared_statements(plan, latest)
    return sorted(found, key=lambda f: (SEVERITY_ORDER[f.severity], f.server or "", f.id, f.message))


# ------------------------------------------------------------------------------------------------- waiting


def waiting_run(history: Sequence[PgBouncerSnapshot], database: str, user: str) -> tuple[int, float]:
    """(samples, seconds) of the unbroken run of ok samples, up to the latest, in which the pool had waiting
    clients (gaps are skipped, they neither break nor extend the run)."""
    samples, first = 0, None
    for snap in reversed([s for s in history if s.ok]):
        pool = snap.pool(database, user)
        if pool is None or pool.cl_waiting == 0:
            break
        samples, first = samples + 1, snap.taken_at
    if first is None:
        return 0, 0.0
    return samples, (history[-1].taken_at - first).total_seconds()


def suggested_pool_size(pool: PgBouncerPool) -> int:
    """The pool size that would have served every client that wanted a server connection in this sample."""
    return pool.sv_active + pool.cl_waiting


def _waiting_severity(pool: PgBouncerPool, snap: PgBouncerSnapshot, th: Thresholds) -> str:
    timeout = snap.config.query_wait_timeout_s if snap.config else None
    limit = timeout * th.pgbouncer_maxwait_critical_fraction if timeout else th.pgbouncer_maxwait_critical_s
    return "critical" if pool.maxwait_s >= limit else "warning"


def clients_waiting(snap: PgBouncerSnapshot, history: Sequence[PgBouncerSnapshot], th: Thresholds) -> list[Finding]:
    out = []
    for pool in snap.pools:
        if pool.cl_waiting == 0:
            continue
        samples, seconds = waiting_run(history, pool.database, pool.user)
        if pool.maxwait_s < th.pgbouncer_maxwait_warning_s and seconds < th.pgbouncer_waiting_window_s:
            continue
        out.append(_waiting_finding(snap, pool, samples, seconds, th))
    return out


def _waiting_finding(snap: PgBouncerSnapshot, pool: PgBouncerPool, samples: int, seconds: float,
                     th: Thresholds) -> Finding:
    config = snap.config
    assert config is not None
    timeout = config.query_wait_timeout_s
    held = f", mean transaction {pool.avg_xact_ms:g} ms" if pool.avg_xact_ms is not None else ""
    run = f"; waiting in {samples} samples in a row over {seconds:.1f} s" if samples > 1 else ""
    cut = f" (query_wait_timeout {timeout:g} s fails them)" if timeout else ""
    size = suggested_pool_size(pool)
    session = (" In session mode each client keeps its server connection while idle: transaction mode shares them."
               if (pool.pool_mode or config.pool_mode) == "session" else "")
    return Finding(
        WAITING_ID, _waiting_severity(pool, snap, th),
        f"pool {pool.database}/{pool.user}: {pool.cl_waiting} clients waiting for a server connection, the "
        f"oldest for {pool.maxwait_s:.1f} s{cut}; {pool.sv_active} server connections busy, default_pool_size "
        f"{config.default_pool_size}{held}{run}",
        f"raise the pool to {size} server connections (if the server has the slots: python -m planner recommend), "
        f"or shorten the transactions that hold them.{session}",
        f"default_pool_size = {size}", snap.name,
    )


# ------------------------------------------------------------------------------------------------- limits


def client_limit(snap: PgBouncerSnapshot, th: Thresholds) -> list[Finding]:
    config, clients = snap.config, snap.total_clients
    if config is None or clients is None or config.max_client_conn <= 0:
        return []
    share = clients / config.max_client_conn
    if share < th.pgbouncer_client_warning_fraction:
        return []
    critical = share >= th.pgbouncer_client_critical_fraction
    room = math.ceil(clients / th.pgbouncer_client_warning_fraction) + 1
    return [Finding(
        CLIENT_LIMIT_ID, "critical" if critical else "warning",
        f"{clients} client connections ({snap.console_clients} on the admin console) = {share:.0%} of max_client_conn "
        f"{config.max_client_conn}: " + ("the next clients are refused" if clients >= config.max_client_conn else
                                         "a deploy's surge or a scale-out refuses clients"),
        f"raise max_client_conn to {room} or more in pgbouncer.ini (and the open-files limit with it); client "
        f"connections are cheap, server connections are not",
        f"max_client_conn = {room}", snap.name,
    )]


# ------------------------------------------------------------------------------------------------- the plan


def live_pgbouncer(plan_bouncer: PgBouncer, snap: PgBouncerSnapshot) -> PgBouncer:
    """The plan's PgBouncer with what runs: version, pool_mode, default_pool_size, max_client_conn and
    max_prepared_statements (0 when this version has none)."""
    config = snap.config
    assert config is not None
    changes: dict[str, object] = {"pool_mode": config.pool_mode,
                                  "max_prepared_statements": config.max_prepared_statements or 0}
    for key in ("default_pool_size", "max_client_conn"):  # 0 = not reported: the plan's value stands
        if getattr(config, key) > 0:
            changes[key] = getattr(config, key)
    if snap.version:
        changes["version"] = snap.version
    return dataclasses.replace(plan_bouncer, **changes)


def planned_pgbouncer(plan: Plan | None, snap: PgBouncerSnapshot) -> PgBouncer | None:
    """The plan's PgBouncer a live console is: the one of its name (``Plan.pgbouncer_name``: ``pgbouncer``,
    ``pgbouncer-<server>`` or its own ``name``), else the one in front of the server it is named after, else the
    plan's only one; None when the plan has none or several and the name matches none of them."""
    if plan is None or not plan.pgbouncers:
        return None
    found = plan.pgbouncer_named(snap.name) or plan.pgbouncer_for(snap.name)
    if found is None and len(plan.pgbouncers) == 1:
        found = plan.pgbouncer
    return found


def plan_differs(plan: Plan | None, snap: PgBouncerSnapshot) -> list[Finding]:
    planned = planned_pgbouncer(plan, snap)
    if planned is None or snap.config is None:
        return []
    live = live_pgbouncer(planned, snap)
    keys = ("pool_mode", "default_pool_size", "max_client_conn")
    diffs = [(key, getattr(planned, key), getattr(live, key)) for key in keys
             if str(getattr(planned, key)) != str(getattr(live, key))]
    if planned.version_tuple != live.version_tuple[: len(planned.version_tuple)]:  # "1.24" means any 1.24.x
        diffs.insert(0, ("version", planned.version, live.version))
    if planned.effective_max_prepared_statements != live.effective_max_prepared_statements:
        diffs.append(("max_prepared_statements", planned.effective_max_prepared_statements,
                      live.effective_max_prepared_statements))
    if not diffs:
        return []
    text = "; ".join(f"{key}: plan {plan_value}, live {live_value}" for key, plan_value, live_value in diffs)
    section = "[pgbouncer]" if len(plan.pgbouncers) == 1 else f"[[pgbouncers]]  # {plan.pgbouncer_name(planned)}"
    snippet = section + "\n" + "\n".join(
        f"{key} = {value!r}" if isinstance(value, int) else f'{key} = "{value}"' for key, _, value in diffs)
    return [Finding(
        PLAN_DIFFERS_ID, "warning",
        f"the running PgBouncer is not the planned one ({text}): the plan's verdict is about another PgBouncer",
        f"put the live values in the plan's {section.split()[0]} section and judge it again (python -m planner check), "
        "or change pgbouncer.ini to the plan and RELOAD",
        snippet.replace("'", '"'), snap.name,
    )]


def _transaction_pools(snap: PgBouncerSnapshot) -> list[PgBouncerPool]:
    config = snap.config
    assert config is not None
    return [p for p in snap.pools if (p.pool_mode or config.pool_mode) in ("transaction", "statement")]


def live_prepared_statements(plan: Plan | None, snap: PgBouncerSnapshot) -> list[Finding]:
    """The prepared-statement pitfall, certain from what runs: pools in transaction mode on a PgBouncer that
    cannot keep prepared statements. With a plan, each engine routed through it is judged by the static rule
    with the live version and config; without one, it is said once, as information."""
    config, version = snap.config, snap.version_tuple
    if config is None or version is None:
        return []
    pools = _transaction_pools(snap)  # no pool yet: nothing is certain until a client uses one
    drops = version < (1, 21) or not config.max_prepared_statements
    if not pools or not drops:
        return []
    why = (f"PgBouncer {snap.version} < 1.21 has no prepared statement support" if version < (1, 21)
           else f"PgBouncer {snap.version} runs with max_prepared_statements = 0")
    names = ", ".join(f"{p.database}/{p.user}" for p in pools)
    planned = planned_pgbouncer(plan, snap)
    if planned is not None:
        judged = plan.with_pgbouncer(live_pgbouncer(planned, snap))
        return [dataclasses.replace(f, message=f"confirmed live ({why}; transaction pools: {names}): {f.message}",
                                    server=snap.name)
                for f in prepared_statements(judged) if f.server == planned.server]
    return [Finding(
        PREPARED_ID, "info",
        f"{why}, and pools {names} run in transaction mode: clients using asyncpg's default statement cache "
        f"fail here (prepared statement \"__asyncpg_stmt_N__\" does not exist / already exists)",
        "give the plan (--config) to check each engine; the fix for asyncpg: "
        "?prepared_statement_cache_size=0, statement_cache_size 0 and unique statement names, or PgBouncer >= 1.21 "
        "with max_prepared_statements > 0",
        "", snap.name,
    )]

"""Static rules: pitfalls visible in a plan and its URLs, before anything runs.

Each rule returns Findings with a stable id from the table in docs/pitfalls.md, the evidence as numbers, a concrete
fix and a snippet to paste. ``static_findings(plan)`` runs them all and returns them sorted.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache

from planner import ids
from planner.budget import ServerBudget, pgbouncer_budget, plan_budgets, service_views
from planner.dsn import (
    check_url,
    parse_url,
    pgbouncer_drops_prepared_statements,
    prepared_statement_fix,
    statement_caches_off,
)
from planner.model import SEVERITY_ORDER, Engine, Finding, Plan
from planner.queueing import OVERLOAD_ID
from planner.refusal import first_refusal
from planner.rules.autoscale import growth_findings
from planner.rules.replica import replica_below_primary, replica_findings, replica_on_primary, same_host
from planner.rules.services import shared_budget_findings, shared_pgbouncer_findings
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds
from planner.sizing import engine_timeouts, pgbouncer_pool_need, recommend_for_plan


def sort_findings(findings) -> list[Finding]:
    """Most severe first, then by id, server and message (a stable order for the CLI, UI and tests)."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.id, f.server or "", f.service or "",
                                           f.message))


def _per_process_terms(plan: Plan, server: str) -> str:
    direct = [e for e in plan.engines_on(server) if not e.via_pgbouncer]
    return " + ".join(f"({e.pool_size} + {e.max_overflow})" for e in direct) or "0"


def _budget_fix(plan: Plan, budget: ServerBudget, allowed: int) -> tuple[str, str]:
    """The fix and snippet of a budget finding: the pools ``recommend`` gives (planner.sizing.recommend_for_plan,
    the one source of advised numbers), or, when nothing fits as deployed, the changes that would."""
    rec = _recommendation(plan)
    direct = {e.name for e in plan.engines_on(budget.name) if not e.via_pgbouncer}
    advice = [a for a in rec.engines if a.name in direct]
    if rec.fits and rec.plan is not None and advice:
        peak = next(b.rollout_peak for b in plan_budgets(rec.plan) if b.name == budget.name)
        settings = ", ".join(f"{a.name}: pool_size={a.pool_size}, max_overflow={a.max_overflow}" for a in advice)
        workers = rec.plan.deployment.workers
        fewer = f" with {workers} workers per instance" if workers != plan.deployment.workers else ""
        return (
            f"use the pools python -m planner recommend gives{fewer}: {settings} (rollout peak {peak} <= {allowed} "
            f"on {budget.name}); or PgBouncer, or a higher max_connections (recommend shows why each number)",
            "\n".join(_engine_line(a, len(advice) > 1) for a in advice),
        )
    changes = "; ".join(a.summary for a in rec.alternatives) or "no single change found"
    return (
        f"nothing fits {budget.name} as deployed ({'; '.join(rec.why)}); the smallest changes that fit: {changes} "
        f"(python -m planner recommend shows each)",
        "",
    )


def _engine_line(advice, named: bool) -> str:
    line = f"create_async_engine(url, pool_size={advice.pool_size}, max_overflow={advice.max_overflow})"
    return f"{line}  # engine {advice.name}" if named else line


def _advised_line(plan: Plan, engine: str) -> str:
    """The engine's line as ``recommend`` sizes it; empty when nothing fits as deployed."""
    rec = _recommendation(plan)
    advice = next((a for a in rec.engines if a.name == engine), None)
    return _engine_line(advice, False) if rec.fits and advice else ""


def _advised_timeouts(plan: Plan, engine: Engine) -> tuple[float, float]:
    return engine_timeouts(plan, engine)


def _recommendation(plan: Plan):
    return recommend_for_plan(plan)


def budget_findings(plan: Plan, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Finding]:
    """too-many-connections, overflow-exceeds-budget, rollout-surge, autoscale-exceeds-budget, unbounded-overflow."""
    out: list[Finding] = []
    for budget in plan_budgets(plan, thresholds):
        name, usable = budget.name, budget.usable
        spare_needed = math.ceil(thresholds.tight_fraction * usable) if usable > 0 else 0
        allowed = usable - spare_needed
        if budget.rollout_peak is None:
            continue  # unbounded: reported per engine below
        terms = _per_process_terms(plan, name)
        bouncer = f" + {budget.pgbouncer_connections} via PgBouncer" if budget.pgbouncer_connections else ""
        if usable <= 0:
            out.append(Finding(
                ids.TOO_MANY_CONNECTIONS, "critical",
                f"{name}: usable = {budget.max_connections} - reserved - other clients = {usable}: no slot is left "
                f"for the application",
                "raise max_connections or lower other_clients/reserved slots", "", name,
            ))
            continue
        if budget.rollout_peak > usable:
            fix, snippet = _budget_fix(plan, budget, allowed)
            worst = budget.peak if budget.peak is not None and budget.peak > usable else budget.rollout_peak
            when = "at peak" if worst == budget.peak else "at rollout peak"
            procs = budget.processes if when == "at peak" else budget.rollout_processes
            out.append(Finding(
                ids.TOO_MANY_CONNECTIONS, "critical",
                f"{name}: {when}, {procs} processes x {terms}{bouncer} = {worst} > {usable} usable "
                f"(max_connections {budget.max_connections} - {budget.max_connections - usable} reserved/other)"
                + (f", rollout peak {budget.rollout_peak}" if worst != budget.rollout_peak else "") + "; "
                f"the server refuses the rest with '{_refusal(plan, name)}'",
                fix, snippet, name,
            ))
        elif budget.verdict == "tight":
            fix, snippet = _budget_fix(plan, budget, allowed)
            out.append(Finding(
                ids.TOO_MANY_CONNECTIONS, "warning",
                f"{name}: rollout peak {budget.rollout_peak} leaves {budget.headroom} of {usable} usable slots "
                f"({budget.headroom / usable:.0%}), less than the {thresholds.tight_fraction:.0%} margin",
                fix, snippet, name,
            ))
        if budget.peak is not None and budget.peak > usable and budget.lesson_rule_total <= budget.max_connections:
            pools = " + ".join(str(e.pool_size) for e in plan.engines_on(name) if not e.via_pgbouncer)
            out.append(Finding(
                ids.OVERFLOW_EXCEEDS_BUDGET, "critical",
                f"{name}: the lesson's rule passes (pool_size {pools} x {budget.processes} processes = "
                f"{budget.lesson_rule_total} <= max_connections {budget.max_connections}) but it ignores "
                f"max_overflow: {budget.processes} processes x {terms}{bouncer} = {budget.peak} > {usable} usable",
                "count max_overflow in the budget: processes x (pool_size + max_overflow) must fit the usable slots",
                _budget_fix(plan, budget, allowed)[1], name,
            ))
        if budget.peak is not None and budget.peak <= usable < budget.rollout_peak:
            out += growth_findings(plan, budget, terms, allowed)  # autoscaler's growth and rollout surge apart
    return out + unbounded_findings(plan)


def unbounded_findings(plan: Plan, advised=None) -> list[Finding]:
    """unbounded-overflow per engine; ``advised(engine name)`` gives the fix's line (default: this plan's
    recommendation)."""
    advised = advised or (lambda name: _advised_line(plan, name))
    out: list[Finding] = []
    for engine in plan.engines:
        if engine.unbounded:
            what = "max_overflow=-1" if engine.max_overflow == -1 else "pool_size=0"
            out.append(Finding(
                ids.UNBOUNDED_OVERFLOW, "critical",
                f"engine {engine.name}: {what} puts no ceiling on its connections: under load every process opens "
                f"as many as it has concurrent requests, until {engine.server} refuses them",
                "set a finite max_overflow (and pool_size > 0); python -m planner recommend gives the numbers",
                advised(engine.name), engine.server,
            ))
    return out


def prepared_statements(plan: Plan) -> list[Finding]:
    """asyncpg/psycopg through a PgBouncer that drops prepared statements, without the caches turned off."""
    out: list[Finding] = []
    bouncer = plan.pgbouncer
    for engine in plan.engines:
        if not (engine.via_pgbouncer and bouncer and pgbouncer_drops_prepared_statements(bouncer)):
            continue
        url = parse_url(engine.url) if engine.url else None
        driver = url.get_driver_name() if url else "asyncpg"
        if driver not in ("asyncpg", "psycopg"):
            continue
        sqla_off, asyncpg_off = statement_caches_off(url, engine.statement_cache_size)
        if driver == "asyncpg" and sqla_off and asyncpg_off:
            continue
        missing = [label for label, off in (("?prepared_statement_cache_size=0 in the URL", sqla_off),
                                            ('connect_args={"statement_cache_size": 0}', asyncpg_off)) if not off]
        why = (f"version {bouncer.version} < 1.21" if bouncer.version_tuple < (1, 21)
               else f"max_prepared_statements = {bouncer.effective_max_prepared_statements}")
        fix, snippet = prepared_statement_fix(driver)
        lacking = f"lacks {' and '.join(missing)}" if driver == "asyncpg" else "uses psycopg's prepared statements"
        critical = len(missing) == 2 or driver != "asyncpg"
        effect = ('queries fail with prepared statement "__asyncpg_stmt_N__" does not exist' if critical else
                  "one cache off avoided the failure in a load test, but both at 0 is the setting known to hold")
        out.append(Finding(
            ids.PREPARED_STATEMENT_CACHE, "critical" if critical else "warning",
            f"engine {engine.name} goes through PgBouncer in {bouncer.pool_mode} mode ({why}) and {lacking}: {effect}",
            fix, snippet, engine.server,
        ))
    return out


def url_findings(plan: Plan) -> list[Finding]:
    """Per-driver URL checks (asyncpg-ssl, sync-driver, ...) for every engine with a URL."""
    out: list[Finding] = []
    for engine in plan.engines:
        if engine.url:
            out += check_url(engine.url, statement_cache_size=engine.statement_cache_size,
                             pgbouncer_declared=engine.via_pgbouncer, engine=engine.name, server=engine.server)
    return out


def timeout_findings(plan: Plan, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Finding]:
    """recycle-after-idle-timeout and pool-timeout-exceeds-request-timeout."""
    out: list[Finding] = []
    for engine in plan.engines:
        server = plan.server(engine.server)
        idle = [(t, what) for t, what in (
            (server.idle_session_timeout_s, f"{server.name}'s idle_session_timeout"),
            (plan.lb_idle_timeout_s or 0.0, "the load balancer's idle timeout"),
        ) if t > 0]
        if idle:
            shortest, what = min(idle)
            if engine.pool_recycle == -1 or engine.pool_recycle >= shortest:
                suggested = _advised_timeouts(plan, engine)[1]
                current = "unset (-1, never)" if engine.pool_recycle == -1 else f"{engine.pool_recycle:g} s"
                relation = "" if engine.pool_recycle == -1 else f" >= {shortest:g} s"
                out.append(Finding(
                    ids.RECYCLE_AFTER_IDLE_TIMEOUT, "info" if engine.pool_pre_ping else "warning",
                    f"engine {engine.name}: pool_recycle {current}{relation}, {what} is {shortest:g} s: idle pooled "
                    f"connections get closed under the pool, and the next checkout fails with "
                    f"'connection is closed'" + (" (pool_pre_ping hides it at the cost of a reconnect)"
                                                 if engine.pool_pre_ping else ""),
                    f"pool_recycle={suggested:g} (below {shortest:g} s) and pool_pre_ping=True",
                    f"create_async_engine(url, pool_recycle={suggested:g}, pool_pre_ping=True)", engine.server,
                ))
        workload = plan.workload
        if workload and workload.request_timeout_s is not None and engine.pool_timeout >= workload.request_timeout_s:
            suggested_t = _advised_timeouts(plan, engine)[0]
            out.append(Finding(
                ids.POOL_TIMEOUT_EXCEEDS_REQUEST_TIMEOUT, "warning",
                f"engine {engine.name}: pool_timeout {engine.pool_timeout:g} s >= request timeout "
                f"{workload.request_timeout_s:g} s: callers give up before the pool does, so overload shows as "
                f"timeouts upstream instead of a clear pool TimeoutError, and the waiting work is wasted",
                f"pool_timeout={suggested_t:g} (below the request timeout)",
                f"create_async_engine(url, pool_timeout={suggested_t:g})", engine.server,
            ))
    return out


def pgbouncer_clients(plan: Plan) -> list[Finding]:
    """PgBouncer's own ceiling: max_client_conn below the client connections the fleet opens at rollout peak;
    in session mode, fewer server connections than clients (each pins one for its life); in transaction
    mode, fewer server connections than the fleet's traffic keeps busy (PgBouncer's queue grows)."""
    budget = pgbouncer_budget(plan)
    bouncer = plan.pgbouncer
    if budget is None or bouncer is None or budget.clients_rollout_peak is None:
        return []
    routed = [e for e in plan.engines if e.via_pgbouncer]
    dep = plan.deployment
    processes = dep.rollout_processes
    clients, servers = budget.clients_rollout_peak, budget.server_connections
    pool_text = f"default_pool_size {bouncer.default_pool_size} x pools {bouncer.pools} = {servers}"
    server_budget = next(b for b in plan_budgets(plan) if b.name == bouncer.server)
    room = server_budget.usable - ((server_budget.rollout_peak or 0) - server_budget.pgbouncer_connections)
    """Server slots PgBouncer could have: the usable ones less what the engines connecting directly take."""

    def larger_pool(connections: int) -> int | None:
        """The default_pool_size that gives ``connections``, or None when the server has no room for them."""
        size = math.ceil(connections / bouncer.pools)
        return size if size * bouncer.pools <= room else None

    def larger_pool_text(connections: int) -> str:
        size = larger_pool(connections)
        if size is not None:
            return f"default_pool_size = {size} ({bouncer.server} has room for {room})"
        return f"not a larger default_pool_size: {bouncer.server} has room for {room}, not {connections}"

    out = []
    if clients > bouncer.max_client_conn:
        out.append(Finding(
            ids.TOO_MANY_CONNECTIONS, "critical",
            f"PgBouncer: {processes} rollout processes x {_per_engine(routed)} = {clients} client connections "
            f"> max_client_conn {bouncer.max_client_conn}",
            f"max_client_conn = {clients} in pgbouncer.ini (client connections are cheap; server ones are not)",
            f"max_client_conn = {clients}", bouncer.server,
        ))
    if bouncer.pool_mode == "session" and clients > servers:
        out.append(Finding(
            OVERLOAD_ID, "critical",
            f"PgBouncer in session mode: {processes} rollout processes x {_per_engine(routed)} = {clients} client "
            f"connections, each holding a server connection until it disconnects (idle pool connections too), "
            f"but {pool_text}: the other {clients - servers} wait in PgBouncer and fail after query_wait_timeout "
            f"(120 s by default)",
            f"pool_mode = transaction (clients share the server connections between transactions; asyncpg then "
            f"needs PgBouncer >= 1.21 with max_prepared_statements > 0, or its statement caches off); or "
            f"{larger_pool_text(clients)}",
            "pool_mode = transaction", bouncer.server,
        ))
    need = pgbouncer_pool_need(bouncer, plan.engines, plan.workload)
    if need is not None and need[2].pool_size > servers:
        fleet_rps, busy, pool = need
        overloaded = busy >= servers
        resized = larger_pool(pool.pool_size) is not None
        fix = larger_pool_text(pool.pool_size)
        out.append(Finding(
            OVERLOAD_ID, "critical" if overloaded else "warning",
            f"PgBouncer: {fleet_rps:g} req/s x {plan.workload.hold_ms:g} ms held = {busy:.1f} server connections "
            f"busy on average fleet-wide (at most: a transaction is no longer than the checkout), but {pool_text}: "
            + ("its queue grows until query_wait_timeout (120 s by default) fails the clients" if overloaded else
               f"clients wait in its queue beyond the p99 target ({plan.workload.target_p99_wait_ms:g} ms), "
               f"which needs {pool.pool_size}"),
            f"{fix}{', sized by the queueing model for the whole fleet' if resized else ''}, or "
            f"shorten the transactions",
            f"default_pool_size = {math.ceil(pool.pool_size / bouncer.pools)}" if resized else "",
            bouncer.server,
        ))
    return out


def _refusal(plan: Plan, server_name: str) -> str:
    """The refusal text the application's (ordinary) role gets first on this server's version."""
    server = plan.server(server_name)
    return first_refusal(server.major_version, server.superuser_reserved_connections, server.reserved_connections)


def _per_engine(engines: list[Engine]) -> str:
    return " + ".join(f"({e.pool_size} + {e.max_overflow})" for e in engines)


def static_findings(plan: Plan, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Finding]:
    """Every static rule over the plan, sorted (critical first). Bad URLs raise InputError('url', ...).

    A plan with several services: the server-level rules once per server and PgBouncer (``planner.rules.services``),
    the per-service ones on each service's view (``planner.budget.service_view``), each finding naming its service."""
    if plan.multi_service:
        return sort_findings(several_services_findings(plan, thresholds))
    findings = (
        budget_findings(plan, thresholds)
        + pgbouncer_clients(plan)
        + replica_findings(plan)
        + prepared_statements(plan)
        + url_findings(plan)
        + timeout_findings(plan, thresholds)
    )
    return sort_findings(findings)


def several_services_findings(plan: Plan, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Finding]:
    """The findings of a multi-service plan, unsorted: server-level facts once, per-service rules per service."""
    rec = _recommendation(plan)
    budgets = plan_budgets(plan, thresholds)
    out = (shared_budget_findings(plan, thresholds, budgets) + shared_pgbouncer_findings(plan)
           + replica_below_primary(plan) + same_host(plan))
    views = service_views(plan, budgets)
    advice = {s.service: s.engines for s in rec.services} if rec.fits else {}
    for service in plan.services:
        lines = tuple((a.name, _engine_line(a, False)) for a in advice.get(service.name, ()))
        out += _service_findings(views[service.name], lines, thresholds)
    return out


@lru_cache(maxsize=2048)
def _service_findings(view: Plan, lines: tuple[tuple[str, str], ...], thresholds: Thresholds) -> tuple[Finding, ...]:
    """The per-service rules on one service's view, each finding naming the service (memoised per view: a
    slider move changes one service's view, the others' stay)."""
    advised = dict(lines)
    found = (unbounded_findings(view, lambda name: advised.get(name, "")) + prepared_statements(view)
             + url_findings(view) + timeout_findings(view, thresholds) + replica_on_primary(view))
    name = view.services[0].name
    return tuple(dataclasses.replace(f, service=name) for f in found)


__all__ = ["several_services_findings", "sort_findings", "static_findings"]

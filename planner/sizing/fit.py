"""One sizing attempt: the pools that fit each server's allowed connections at rollout peak, or the typed
shortfalls (``Shortfall``: which limit, on which server, need against have) when they do not fit.

``attempt`` walks the servers (``_size_server``), checks the plan's PgBouncer (``_check_pgbouncer``) and, when
everything fits, advises each engine (``_advise``) with one sentence per number; the timeouts come from the
policy's fractions (``timeouts``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from planner.budget import usable_slots
from planner.model import Deployment, Engine, PgBouncer, Plan, Server, Workload
from planner.policy import BURST_FRACTION, DEFAULT_POLICY, Policy
from planner.sizing.requirement import PoolRequirement, RequirementModel, pgbouncer_pool_need
from planner.sizing.results import EngineAdvice, Limit, Shortfall

DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 10
"""SQLAlchemy's defaults, used when no workload is given (capped by the budget)."""
DEFAULT_POOL_TIMEOUT_S = 10.0
"""Fail a checkout after 10 s rather than SQLAlchemy's 30 s: a queue that long means overload."""
DEFAULT_POOL_RECYCLE_S = 1800.0
DEFAULT_PGBOUNCER_POOL = 20


@dataclass
class Attempt:
    """The outcome of one attempt: the sized engines and their advice, or the shortfalls."""

    fits: bool = True
    engines: list[Engine] = field(default_factory=list)
    advice: list[EngineAdvice] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    min_per_process: dict[str, int] = field(default_factory=dict)
    """server -> smallest per-process ceiling the engines need"""
    allowed: dict[str, int] = field(default_factory=dict)
    """server -> most connections allowed at rollout peak"""

    def short(self, shortfall: Shortfall) -> None:
        self.fits = False
        self.shortfalls.append(shortfall)


@dataclass(frozen=True)
class _Context:
    """What every step of one attempt reads."""

    plan: Plan
    margin: float
    requirement: RequirementModel
    policy: Policy
    need_of: dict[str, PoolRequirement | None]

    @property
    def deployment(self) -> Deployment:
        return self.plan.deployment

    @property
    def workload(self) -> Workload | None:
        return self.plan.workload


def spare(usable: int, margin: float) -> int:
    """The slots kept free: ``margin`` of the usable ones, rounded up."""
    return math.ceil(max(margin, 0.0) * usable) if usable > 0 else 0


def distribute(total: int, floors: list[int], targets: list[int]) -> list[int]:
    """Raise each value from its floor toward its target, one at a time in turn, until ``total`` is spent."""
    values = list(floors)
    left = total - sum(values)
    while left > 0:
        progressed = False
        for i, target in enumerate(targets):
            if left > 0 and values[i] < target:
                values[i] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return values


def _pool_timeout(workload: Workload | None, policy: Policy) -> tuple[float, str]:
    fraction = policy.pool_timeout_fraction_of_request_timeout
    if workload is None or workload.request_timeout_s is None:
        return DEFAULT_POOL_TIMEOUT_S, (
            f"pool_timeout {DEFAULT_POOL_TIMEOUT_S:g} s: no request timeout given; fail a checkout after "
            f"{DEFAULT_POOL_TIMEOUT_S:g} s rather than queue for SQLAlchemy's 30 s"
        )
    half = workload.request_timeout_s * fraction
    pool_timeout = min(DEFAULT_POOL_TIMEOUT_S, math.floor(half * 10) / 10 if half >= 0.1 else half)
    return pool_timeout, (
        f"pool_timeout {pool_timeout:g} s: below the request timeout {workload.request_timeout_s:g} s "
        f"(min({DEFAULT_POOL_TIMEOUT_S:g}, {fraction:g} x {workload.request_timeout_s:g})), so the "
        f"pool gives up before the caller does and the query keeps the rest"
    )


def _pool_recycle(server: Server, lb_idle: float | None, policy: Policy) -> tuple[float, str]:
    fraction = policy.recycle_fraction_of_idle_timeout
    idle = [(t, what) for t, what in (
        (server.idle_session_timeout_s, f"{server.name}'s idle_session_timeout"),
        (lb_idle or 0.0, "the load balancer's idle timeout"),
    ) if t > 0]
    if not idle:
        return DEFAULT_POOL_RECYCLE_S, (
            f"pool_recycle {DEFAULT_POOL_RECYCLE_S:g} s: no idle timeout given; replace connections every 30 min, "
            f"with pool_pre_ping=True to survive restarts and dropped connections"
        )
    shortest, what = min(idle)
    pool_recycle = float(min(DEFAULT_POOL_RECYCLE_S, max(1, math.floor(shortest * fraction))))
    return pool_recycle, (
        f"pool_recycle {pool_recycle:g} s: below {what} {shortest:g} s ({fraction:g} x {shortest:g}, "
        f"at most {DEFAULT_POOL_RECYCLE_S:g}), so no connection is reused after the server or network dropped it"
    )


def timeouts(plan: Plan, engine: Engine, policy: Policy = DEFAULT_POLICY) -> tuple[float, str, float, str]:
    """``(pool_timeout, its reason, pool_recycle, its reason)`` for an engine of the plan."""
    pool_timeout, timeout_reason = _pool_timeout(plan.workload, policy)
    pool_recycle, recycle_reason = _pool_recycle(plan.server(engine.server), plan.lb_idle_timeout_s, policy)
    return pool_timeout, timeout_reason, pool_recycle, recycle_reason


def _workload_reason(ctx: _Context) -> str:
    workload, deployment, engines = ctx.workload, ctx.deployment, ctx.plan.engines
    shared = [e for e in engines if e.traffic_share < 1]
    head = (f"per worker: {workload.rps:g} req/s / ({deployment.instances} instances x {deployment.workers} "
            f"workers) = {workload.per_worker_rps(deployment):.4g} req/s; ")
    if not shared:
        return head + "each engine is sized for all of it (a request may use each)"
    return (head + "each engine is sized for its share of it: "
            + ", ".join(f"{e.name} {e.traffic_share:.0%} = {workload.engine_rps(deployment, e):.4g} req/s"
                        for e in shared)
            + (", the others all of it" if len(shared) < len(engines) else ""))


def _allowed_reason(ctx: _Context, server: Server, direct: list[Engine], bouncer: int, share: int) -> str:
    usable, dep = usable_slots(server), ctx.deployment
    room = spare(usable, ctx.margin)
    allowed = usable - room
    allowed_text = (f"{server.name}: {usable} usable - {room} spare ({ctx.margin:.0%} margin) = {allowed} "
                    f"connections allowed at rollout peak")
    if not direct:
        return (f"{allowed_text}; PgBouncer holds {bouncer} of them, whatever the fleet: the pools through it are "
                f"sized by the workload, within PgBouncer's max_client_conn")
    bouncer_text = f" - {bouncer} PgBouncer server connections" if bouncer else ""
    return (f"{allowed_text}; ({allowed}{bouncer_text}) / {dep.rollout_processes} rollout processes "
            f"(({dep.max_instances} instances + {dep.surge_instances} surge) x "
            f"{dep.workers} workers) = {share} per process")


def _size_server(ctx: _Context, server: Server, result: Attempt, sized: dict) -> None:
    """Fit the engines on one server: the direct ones share what it allows per process; those through
    PgBouncer are sized by the workload (then PgBouncer is checked)."""
    on = [e for e in ctx.plan.engines if e.server == server.name]
    direct = [e for e in on if not e.via_pgbouncer]
    routed = [e for e in on if e.via_pgbouncer]
    pgbouncer, processes = ctx.plan.pgbouncer_for(server.name), ctx.deployment.rollout_processes
    usable = usable_slots(server)
    room = spare(usable, ctx.margin)
    allowed = usable - room
    bouncer = pgbouncer.server_connections if (pgbouncer and routed) else 0
    share = (allowed - bouncer) // processes if allowed - bouncer > 0 else 0
    result.allowed[server.name] = allowed
    floors = [ctx.need_of[e.name].pool_size if ctx.need_of[e.name] else 1 for e in direct]
    result.min_per_process[server.name] = sum(floors)
    if usable <= 0:
        result.short(Shortfall(Limit.NO_USABLE_SLOTS, server.name, 1, usable,
                               f"{server.name}: usable slots {usable} <= 0: the reserved slots and other clients "
                               f"take all {server.max_connections} connections"))
        return
    if not on:
        return
    result.reasons.append(_allowed_reason(ctx, server, direct, bouncer, share))
    if bouncer > allowed:
        result.short(Shortfall(Limit.PGBOUNCER_OVER_ALLOWED, server.name, bouncer, allowed,
                               f"{server.name}: PgBouncer's {bouncer} server connections exceed the {allowed} "
                               f"allowed ({usable} usable - {room} spare)"))
    if direct and sum(floors) > share:
        need_text = " + ".join(str(f) for f in floors)
        result.short(Shortfall(
            Limit.SERVER_CONNECTIONS, server.name, processes * sum(floors), allowed,
            f"{server.name}: {processes} rollout processes x {sum(floors)} connections per process "
            f"({need_text}, the least the workload needs) = {processes * sum(floors)} > {allowed} "
            f"allowed ({usable} usable - {room} spare)"
        ))
        return
    _size_pools(ctx, server, direct, routed, floors, share, bouncer, sized)
    if routed and pgbouncer:
        _check_pgbouncer(ctx, server, routed, pgbouncer, result, sized)


def _size_pools(ctx: _Context, server: Server, direct: list[Engine], routed: list[Engine], floors: list[int],
                share: int, bouncer: int, sized: dict) -> None:
    if ctx.workload:
        pool_targets = floors
        overflow_targets = [math.ceil(f * BURST_FRACTION) for f in floors]
    else:
        pool_targets = [DEFAULT_POOL_SIZE] * len(direct)
        overflow_targets = [DEFAULT_MAX_OVERFLOW] * len(direct)
    pools = distribute(share, floors, pool_targets)
    overflows = distribute(share - sum(pools), [0] * len(direct), overflow_targets)
    for e, p, o in zip(direct, pools, overflows, strict=True):
        sized[e.name] = (p, o, f"on {server.name}, {share} connections per process for {len(direct)} engine(s)")
    for e in routed:
        need = ctx.need_of[e.name]
        p = need.pool_size if need else DEFAULT_POOL_SIZE
        o = math.ceil(p * BURST_FRACTION) if ctx.workload else DEFAULT_MAX_OVERFLOW
        sized[e.name] = (p, o, f"through PgBouncer, which holds {bouncer} connections to {server.name}")


def _check_pgbouncer(ctx: _Context, server: Server, routed: list[Engine], pgbouncer: PgBouncer, result: Attempt,
                     sized: dict) -> None:
    """PgBouncer's own limits: max_client_conn, its pool against the fleet's traffic, session mode's pins."""
    processes, workload = ctx.deployment.rollout_processes, ctx.workload
    title = ctx.plan.pgbouncer_title(pgbouncer)
    clients = processes * sum(sized[e.name][0] + sized[e.name][1] for e in routed)
    if clients > pgbouncer.max_client_conn:
        result.short(Shortfall(
            Limit.PGBOUNCER_MAX_CLIENT_CONN, server.name, clients, pgbouncer.max_client_conn,
            f"{title} max_client_conn {pgbouncer.max_client_conn} < {clients} client connections at "
            f"rollout peak ({processes} processes x their pools)"
        ))
    fleet = pgbouncer_pool_need(pgbouncer, ctx.plan.engines, workload, ctx.requirement)
    if fleet is not None and fleet[2].pool_size > pgbouncer.server_connections:
        fleet_rps, busy, pool = fleet
        result.short(Shortfall(
            Limit.PGBOUNCER_POOL, server.name, pool.pool_size, pgbouncer.server_connections,
            f"{title}: {fleet_rps:g} req/s x {workload.hold_ms:g} ms = {busy:.1f} server connections busy "
            f"fleet-wide; its pool needs {pool.pool_size} for the p99 wait target, it has "
            f"{pgbouncer.server_connections} (default_pool_size x pools)"
        ))
    if pgbouncer.pool_mode == "session" and clients > pgbouncer.server_connections:
        result.short(Shortfall(
            Limit.PGBOUNCER_SESSION_CLIENTS, server.name, clients, pgbouncer.server_connections,
            f"{title} in session mode: {clients} client connections at rollout peak > its "
            f"{pgbouncer.server_connections} server connections (default_pool_size x pools); each client "
            f"pins one until it disconnects, so the rest wait in PgBouncer: use transaction mode or a "
            f"larger default_pool_size"
        ))


def _advise(ctx: _Context, e: Engine, pool: int, overflow: int, where: str) -> tuple[Engine, EngineAdvice]:
    """The engine with its sized numbers, and the advice with one sentence per number."""
    need = ctx.need_of[e.name]
    timeout, timeout_reason, recycle, recycle_reason = timeouts(ctx.plan, e, ctx.policy)
    if need is not None:
        pool_reason = need.reason + (f"; raised to {pool}" if pool > need.pool_size else "")
    else:
        pool_reason = (f"pool_size {pool}: no workload given: SQLAlchemy's default {DEFAULT_POOL_SIZE}, "
                       f"capped by the budget ({where})")
    target = math.ceil(pool * BURST_FRACTION) if need is not None else DEFAULT_MAX_OVERFLOW
    overflow_reason = (
        f"max_overflow {overflow}: bursts above the pool, up to {target} "
        f"({'50% of pool_size' if need is not None else 'SQLAlchemy default'}), limited to what the budget "
        f"leaves ({where})"
    )
    engine = dataclasses.replace(e, pool_size=pool, max_overflow=overflow, pool_timeout=timeout,
                                 pool_recycle=recycle, pool_pre_ping=True)
    advice = EngineAdvice(
        e.name, e.server, pool, overflow, timeout, recycle, True, need.pool_size if need else 1,
        (pool_reason, overflow_reason, timeout_reason, recycle_reason,
         "pool_pre_ping True: one round trip per checkout buys silent recovery from restarts and "
         "dropped connections"),
    )
    return engine, advice


def attempt(plan: Plan, margin: float, requirement: RequirementModel, policy: Policy = DEFAULT_POLICY) -> Attempt:
    """Size every engine of ``plan`` (its pool numbers are ignored) so the rollout peak keeps ``margin`` of each
    server's usable slots free and each worker gets the pool its traffic needs."""
    workload, deployment = plan.workload, plan.deployment
    need_of = {e.name: requirement(workload.engine_rps(deployment, e), workload.hold_ms) if workload else None
               for e in plan.engines}
    ctx = _Context(plan, margin, requirement, policy, need_of)
    result = Attempt()
    if workload:
        result.reasons.append(_workload_reason(ctx))
    sized: dict[str, tuple[int, int, str]] = {}
    for server in plan.servers:
        _size_server(ctx, server, result, sized)
    if not result.fits:
        return result
    for e in plan.engines:
        engine, advice = _advise(ctx, e, *sized[e.name])
        result.engines.append(engine)
        result.advice.append(advice)
    return result

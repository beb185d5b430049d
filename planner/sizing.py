"""``recommend()``: pool settings that fit the rollout peak into the usable slots with a margin, and meet
the workload's concurrency, with one sentence of arithmetic per number.

When nothing fits, the result says why and lists the smallest changes that would fit (fewer workers,
PgBouncer in front, a higher max_connections), each with the plan it implies: never a silent best effort.

The per-worker pool a workload needs comes from one callable ``(per_worker_rps, hold_ms) -> PoolRequirement``:
by default the queueing model's smallest pool for a p99 checkout-wait target
(``planner.queueing.requirement``); ``model="littles-law"`` gives ``required_pool_size`` (busy connections x
1.5); ``requirement=`` takes any other.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

from planner.budget import TIGHT_FRACTION, overall_verdict, pgbouncer_budget, plan_budgets, usable_slots
from planner.model import (
    MAX_CONNECTIONS_LIMIT,
    Deployment,
    Engine,
    InputError,
    PgBouncer,
    Plan,
    Server,
    Workload,
)
from planner.rules.thresholds import DEFAULT_THRESHOLDS

DEFAULT_HEADROOM = 0.5
"""Little's law gives the mean busy connections; the pool gets this much more (pool = busy x 1.5)."""
BURST_FRACTION = 0.5
"""max_overflow allowance, as a share of pool_size, for bursts above the mean (when the budget has room)."""
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 10
"""SQLAlchemy's defaults, used when no workload is given (capped by the budget)."""
DEFAULT_POOL_TIMEOUT_S = 10.0
"""Fail a checkout after 10 s rather than SQLAlchemy's 30 s: a queue that long means overload."""
DEFAULT_POOL_RECYCLE_S = 1800.0
POOL_TIMEOUT_FRACTION = DEFAULT_THRESHOLDS.pool_timeout_fraction_of_request_timeout
"""pool_timeout as a share of the request timeout: the rest of the request's time is for the query."""
RECYCLE_FRACTION = DEFAULT_THRESHOLDS.recycle_fraction_of_idle_timeout
"""pool_recycle as a share of the shortest idle timeout (server idle_session_timeout, load balancer)."""
DEFAULT_PGBOUNCER_POOL = 20


@dataclass(frozen=True, slots=True)
class PoolRequirement:
    """The smallest pool_size one worker needs for its traffic, and the sentence that shows why."""

    pool_size: int
    reason: str
    method: str = "littles-law"
    """Which model answered (``littles-law``; a queueing model names itself)."""


RequirementModel = Callable[[float, float], PoolRequirement]


def required_pool_size(per_worker_rps: float, hold_ms: float, *, headroom: float = DEFAULT_HEADROOM) -> PoolRequirement:
    """Little's law: busy connections = arrival rate x hold time; the pool gets ``headroom`` more, at least 1."""
    if headroom < 0:
        raise InputError("headroom", f"must be at least 0, got {headroom:g}")
    busy = per_worker_rps * hold_ms / 1000.0
    size = max(1, math.ceil(busy * (1 + headroom) - 1e-9))
    return PoolRequirement(
        size,
        f"pool_size {size}: Little's law gives {per_worker_rps:.4g} req/s per worker x {hold_ms:g} ms held = "
        f"{busy:.2f} busy connections on average; x {1 + headroom:g} headroom, rounded up (at least 1) = {size}",
    )


@dataclass(frozen=True, slots=True)
class EngineAdvice:
    """Recommended settings of one engine, each with its reason."""

    name: str
    server: str
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_recycle: float
    pool_pre_ping: bool
    required_pool_size: int
    """The workload's minimum (1 without a workload)."""
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class Alternative:
    """One change that would make the plan fit, and the recommendation under it."""

    change: str
    """``fewer-workers``, ``pgbouncer``, ``pgbouncer-settings`` or ``max-connections``."""
    summary: str
    plan: Plan

    def as_dict(self) -> dict[str, object]:
        from planner.config import plan_to_data

        return {"change": self.change, "summary": self.summary, "plan": plan_to_data(self.plan, mask=True)}


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The recommended plan (``fits``), or why nothing fits and what would (``alternatives``)."""

    fits: bool
    plan: Plan | None
    """The plan the numbers imply; None when nothing fits (never a best effort that does not fit)."""
    engines: tuple[EngineAdvice, ...]
    workers: int
    reasons: tuple[str, ...]
    """One sentence per number, with its arithmetic."""
    why: tuple[str, ...] = ()
    """When nothing fits: the arithmetic that shows it."""
    alternatives: tuple[Alternative, ...] = ()
    shortfalls: tuple[Shortfall, ...] = ()
    """When nothing fits: the typed form of ``why`` (which limit, on which server, need against have)."""

    def _first(self, name: str):
        return getattr(self.engines[0], name) if self.engines else None

    @property
    def pool_size(self) -> int | None:
        return self._first("pool_size")

    @property
    def max_overflow(self) -> int | None:
        return self._first("max_overflow")

    @property
    def pool_timeout(self) -> float | None:
        return self._first("pool_timeout")

    @property
    def pool_recycle(self) -> float | None:
        return self._first("pool_recycle")

    def as_dict(self) -> dict[str, object]:
        from planner.config import plan_to_data

        return {
            "fits": self.fits,
            "workers": self.workers,
            "pool_size": self.pool_size,
            "max_overflow": self.max_overflow,
            "pool_timeout": self.pool_timeout,
            "pool_recycle": self.pool_recycle,
            "engines": [e.as_dict() for e in self.engines],
            "reasons": list(self.reasons),
            "why": list(self.why),
            "alternatives": [a.as_dict() for a in self.alternatives],
            "plan": plan_to_data(self.plan, mask=True) if self.plan else None,
        }


# --------------------------------------------------------------------------------------------- the sizing


class Limit(enum.Enum):
    """Which limit a plan does not fit under (the alternatives choose by this, never by a sentence)."""

    NO_USABLE_SLOTS = "no-usable-slots"
    """The reserved slots and other clients take all of a server's max_connections."""
    PGBOUNCER_OVER_ALLOWED = "pgbouncer-over-allowed"
    """PgBouncer's server connections exceed what the server allows at rollout peak."""
    SERVER_CONNECTIONS = "server-connections"
    """The fleet's direct pools, at the least the workload needs, exceed what the server allows."""
    PGBOUNCER_MAX_CLIENT_CONN = "pgbouncer-max-client-conn"
    PGBOUNCER_POOL = "pgbouncer-pool"
    """PgBouncer's server pool is smaller than the fleet's traffic needs for the p99 wait target."""
    PGBOUNCER_SESSION_CLIENTS = "pgbouncer-session-clients"
    """Session mode: more clients than server connections (each pins one)."""

    @property
    def on_pgbouncer(self) -> bool:
        """True for PgBouncer's own limits (its settings can fix them); False for a server's."""
        return self in (Limit.PGBOUNCER_MAX_CLIENT_CONN, Limit.PGBOUNCER_POOL, Limit.PGBOUNCER_SESSION_CLIENTS)


@dataclass(frozen=True, slots=True)
class Shortfall:
    """One reason a plan does not fit: which limit, on which server (PgBouncer's limits name the server behind
    it), what is needed against what there is, and the sentence with the arithmetic (rendered here from these
    numbers, for the edge to show; nothing reads it back)."""

    limit: Limit
    server: str
    need: float
    have: float
    sentence: str

    def as_dict(self) -> dict[str, object]:
        return {"limit": self.limit.value, "server": self.server, "need": self.need, "have": self.have}


@dataclass
class _Attempt:
    fits: bool
    engines: list[Engine]
    advice: list[EngineAdvice]
    reasons: list[str]
    shortfalls: list[Shortfall]
    min_per_process: dict[str, int]  # server -> smallest per-process ceiling the engines need
    allowed: dict[str, int]  # server -> most connections allowed at rollout peak


def _spare(usable: int, margin: float) -> int:
    return math.ceil(max(margin, 0.0) * usable) if usable > 0 else 0


def _distribute(total: int, floors: list[int], targets: list[int]) -> list[int]:
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


def _timeouts(plan_servers: dict[str, Server], workload: Workload | None, lb_idle: float | None, server: str):
    timeout_reason = (
        f"pool_timeout {DEFAULT_POOL_TIMEOUT_S:g} s: no request timeout given; fail a checkout after "
        f"{DEFAULT_POOL_TIMEOUT_S:g} s rather than queue for SQLAlchemy's 30 s"
    )
    pool_timeout = DEFAULT_POOL_TIMEOUT_S
    if workload is not None and workload.request_timeout_s is not None:
        half = workload.request_timeout_s * POOL_TIMEOUT_FRACTION
        pool_timeout = min(DEFAULT_POOL_TIMEOUT_S, math.floor(half * 10) / 10 if half >= 0.1 else half)
        timeout_reason = (
            f"pool_timeout {pool_timeout:g} s: below the request timeout {workload.request_timeout_s:g} s "
            f"(min({DEFAULT_POOL_TIMEOUT_S:g}, {POOL_TIMEOUT_FRACTION:g} x {workload.request_timeout_s:g})), so the "
            f"pool gives up before the caller does and the query keeps the rest"
        )
    idle = [(t, what) for t, what in (
        (plan_servers[server].idle_session_timeout_s, f"{server}'s idle_session_timeout"),
        (lb_idle or 0.0, "the load balancer's idle timeout"),
    ) if t > 0]
    if idle:
        shortest, what = min(idle)
        pool_recycle = float(min(DEFAULT_POOL_RECYCLE_S, max(1, math.floor(shortest * RECYCLE_FRACTION))))
        recycle_reason = (
            f"pool_recycle {pool_recycle:g} s: below {what} {shortest:g} s ({RECYCLE_FRACTION:g} x {shortest:g}, "
            f"at most {DEFAULT_POOL_RECYCLE_S:g}), so no connection is reused after the server or network dropped it"
        )
    else:
        pool_recycle = DEFAULT_POOL_RECYCLE_S
        recycle_reason = (
            f"pool_recycle {pool_recycle:g} s: no idle timeout given; replace connections every 30 min, with "
            f"pool_pre_ping=True to survive restarts and dropped connections"
        )
    return pool_timeout, timeout_reason, pool_recycle, recycle_reason


def _attempt(
    servers: tuple[Server, ...],
    engines: tuple[Engine, ...],
    deployment: Deployment,
    workload: Workload | None,
    pgbouncer: PgBouncer | None,
    lb_idle: float | None,
    margin: float,
    requirement: RequirementModel,
) -> _Attempt:
    by_name = {s.name: s for s in servers}
    rollout_processes = deployment.rollout_processes
    per_worker_rps = workload.per_worker_rps(deployment) if workload else 0.0
    result = _Attempt(True, [], [], [], [], {}, {})
    why = result.shortfalls
    sized: dict[str, tuple[int, int, list[str]]] = {}
    need_of: dict[str, PoolRequirement | None] = {
        e.name: requirement(workload.engine_rps(deployment, e), workload.hold_ms) if workload else None
        for e in engines
    }
    if workload:
        shared = [e for e in engines if e.traffic_share < 1]
        result.reasons.append(
            f"per worker: {workload.rps:g} req/s / ({deployment.instances} instances x {deployment.workers} "
            f"workers) = {per_worker_rps:.4g} req/s; "
            + ("each engine is sized for all of it (a request may use each)" if not shared else
               "each engine is sized for its share of it: "
               + ", ".join(f"{e.name} {e.traffic_share:.0%} = {workload.engine_rps(deployment, e):.4g} req/s"
                           for e in shared)
               + (", the others all of it" if len(shared) < len(engines) else ""))
        )

    for server in servers:
        on = [e for e in engines if e.server == server.name]
        direct = [e for e in on if not e.via_pgbouncer]
        routed = [e for e in on if e.via_pgbouncer]
        usable = usable_slots(server)
        spare = _spare(usable, margin)
        allowed = usable - spare
        bouncer = pgbouncer.server_connections if (pgbouncer and routed and pgbouncer.server == server.name) else 0
        share = (allowed - bouncer) // rollout_processes if allowed - bouncer > 0 else 0
        result.allowed[server.name] = allowed
        floors = [need_of[e.name].pool_size if need_of[e.name] else 1 for e in direct]
        result.min_per_process[server.name] = sum(floors)
        if usable <= 0:
            result.fits = False
            why.append(Shortfall(Limit.NO_USABLE_SLOTS, server.name, 1, usable,
                                 f"{server.name}: usable slots {usable} <= 0: the reserved slots and other clients "
                                 f"take all {server.max_connections} connections"))
            continue
        if not on:
            continue
        bouncer_text = f" - {bouncer} PgBouncer server connections" if bouncer else ""
        allowed_text = (f"{server.name}: {usable} usable - {spare} spare ({margin:.0%} margin) = {allowed} "
                        f"connections allowed at rollout peak")
        if direct:
            result.reasons.append(
                f"{allowed_text}; ({allowed}{bouncer_text}) / {rollout_processes} rollout processes "
                f"(({deployment.max_instances} instances + {deployment.surge_instances} surge) x "
                f"{deployment.workers} workers) = {share} per process"
            )
        else:
            result.reasons.append(
                f"{allowed_text}; PgBouncer holds {bouncer} of them, whatever the fleet: the pools through it are "
                f"sized by the workload, within PgBouncer's max_client_conn"
            )
        if bouncer > allowed:
            result.fits = False
            why.append(Shortfall(Limit.PGBOUNCER_OVER_ALLOWED, server.name, bouncer, allowed,
                                 f"{server.name}: PgBouncer's {bouncer} server connections exceed the {allowed} "
                                 f"allowed ({usable} usable - {spare} spare)"))
        if direct and sum(floors) > share:
            result.fits = False
            need_text = " + ".join(str(f) for f in floors)
            why.append(Shortfall(
                Limit.SERVER_CONNECTIONS, server.name, rollout_processes * sum(floors), allowed,
                f"{server.name}: {rollout_processes} rollout processes x {sum(floors)} connections per process "
                f"({need_text}, the least the workload needs) = {rollout_processes * sum(floors)} > {allowed} "
                f"allowed ({usable} usable - {spare} spare)"
            ))
            continue
        if workload:
            pool_targets = floors
            overflow_targets = [math.ceil(f * BURST_FRACTION) for f in floors]
        else:
            pool_targets = [DEFAULT_POOL_SIZE] * len(direct)
            overflow_targets = [DEFAULT_MAX_OVERFLOW] * len(direct)
        pools = _distribute(share, floors, pool_targets)
        overflows = _distribute(share - sum(pools), [0] * len(direct), overflow_targets)
        for e, p, o in zip(direct, pools, overflows, strict=True):
            sized[e.name] = (p, o, [f"on {server.name}, {share} connections per process for "
                                    f"{len(direct)} engine(s)"])
        for e in routed:
            p = need_of[e.name].pool_size if need_of[e.name] else DEFAULT_POOL_SIZE
            o = math.ceil(p * BURST_FRACTION) if workload else DEFAULT_MAX_OVERFLOW
            sized[e.name] = (p, o, [f"through PgBouncer, which holds {bouncer} connections to {server.name}"])
        if routed and pgbouncer:
            clients = rollout_processes * sum(sized[e.name][0] + sized[e.name][1] for e in routed)
            if clients > pgbouncer.max_client_conn:
                result.fits = False
                why.append(Shortfall(
                    Limit.PGBOUNCER_MAX_CLIENT_CONN, server.name, clients, pgbouncer.max_client_conn,
                    f"PgBouncer max_client_conn {pgbouncer.max_client_conn} < {clients} client connections at "
                    f"rollout peak ({rollout_processes} processes x their pools)"
                ))
            fleet = pgbouncer_pool_need(pgbouncer, engines, workload, requirement)
            if fleet is not None and fleet[2].pool_size > pgbouncer.server_connections:
                fleet_rps, busy, pool = fleet
                result.fits = False
                why.append(Shortfall(
                    Limit.PGBOUNCER_POOL, server.name, pool.pool_size, pgbouncer.server_connections,
                    f"PgBouncer: {fleet_rps:g} req/s x {workload.hold_ms:g} ms = {busy:.1f} server connections busy "
                    f"fleet-wide; its pool needs {pool.pool_size} for the p99 wait target, it has "
                    f"{pgbouncer.server_connections} (default_pool_size x pools)"
                ))
            if pgbouncer.pool_mode == "session" and clients > pgbouncer.server_connections:
                result.fits = False
                why.append(Shortfall(
                    Limit.PGBOUNCER_SESSION_CLIENTS, server.name, clients, pgbouncer.server_connections,
                    f"PgBouncer in session mode: {clients} client connections at rollout peak > its "
                    f"{pgbouncer.server_connections} server connections (default_pool_size x pools); each client "
                    f"pins one until it disconnects, so the rest wait in PgBouncer: use transaction mode or a "
                    f"larger default_pool_size"
                ))

    if not result.fits:
        return result
    for e in engines:
        pool, overflow, where = sized[e.name]
        need = need_of[e.name]
        timeout, timeout_reason, recycle, recycle_reason = _timeouts(by_name, workload, lb_idle, e.server)
        if need is not None:
            pool_reason = need.reason + (f"; raised to {pool}" if pool > need.pool_size else "")
        else:
            pool_reason = (f"pool_size {pool}: no workload given: SQLAlchemy's default {DEFAULT_POOL_SIZE}, "
                           f"capped by the budget ({where[0]})")
        target = math.ceil(pool * BURST_FRACTION) if need is not None else DEFAULT_MAX_OVERFLOW
        overflow_reason = (
            f"max_overflow {overflow}: bursts above the pool, up to {target} "
            f"({'50% of pool_size' if need is not None else 'SQLAlchemy default'}), limited to what the budget "
            f"leaves ({where[0]})"
        )
        engine = dataclasses.replace(e, pool_size=pool, max_overflow=overflow, pool_timeout=timeout,
                                     pool_recycle=recycle, pool_pre_ping=True)
        result.engines.append(engine)
        result.advice.append(EngineAdvice(
            e.name, e.server, pool, overflow, timeout, recycle, True, need.pool_size if need else 1,
            (pool_reason, overflow_reason, timeout_reason, recycle_reason,
             "pool_pre_ping True: one round trip per checkout buys silent recovery from restarts and "
             "dropped connections"),
        ))
    return result


def recommend(
    servers: Server | Sequence[Server],
    deployment: Deployment,
    workload: Workload | None = None,
    *,
    engines: Sequence[Engine] | None = None,
    pgbouncer: PgBouncer | None = None,
    lb_idle_timeout_s: float | None = None,
    margin: float = TIGHT_FRACTION,
    headroom: float = DEFAULT_HEADROOM,
    requirement: RequirementModel | None = None,
    model: str = "queueing",
    hold_dist: str | None = None,
    target_p99_ms: float | None = None,
) -> Recommendation:
    """Pool settings for every engine (default: one engine per server, ``primary`` then the server names) that
    keep the rollout peak at least ``margin`` below each server's usable slots and give each worker the pool its
    traffic needs. Workers stay as deployed; fewer workers is offered as an alternative when nothing fits.

    ``model="queueing"`` (the default) sizes each pool as the smallest that meets the workload's p99
    checkout-wait target (``Workload.target_p99_wait_ms``, 10 ms) for its hold-time distribution
    (planner.queueing); ``hold_dist`` and ``target_p99_ms`` override the workload's. ``model="littles-law"``
    sizes by busy connections x (1 + ``headroom``). ``requirement`` replaces both with any callable."""
    server_tuple = (servers,) if isinstance(servers, Server) else tuple(servers)
    if not server_tuple:
        raise InputError("servers", "at least one server is needed")
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 1:
        raise InputError("margin", f"must be a fraction between 0 and 1, got {margin!r}")
    if engines is None:
        engines = tuple(Engine(name="primary" if i == 0 else s.name, server=s.name, pool_size=1, max_overflow=0)
                        for i, s in enumerate(server_tuple))  # pool numbers are placeholders: sizing sets them
    if workload is not None and (hold_dist is not None or target_p99_ms is not None):
        overrides: dict[str, object] = {}
        if hold_dist is not None:
            overrides.update(hold_dist=hold_dist, hold_p50_ms=None, hold_p95_ms=None, hold_p99_ms=None)
        if target_p99_ms is not None:
            overrides["target_p99_wait_ms"] = target_p99_ms
        workload = dataclasses.replace(workload, **overrides)
    if requirement is None:
        requirement = _requirement_model(model, workload, headroom)
    template = Plan(servers=server_tuple, engines=tuple(engines), deployment=deployment, workload=workload,
                    pgbouncer=pgbouncer, lb_idle_timeout_s=lb_idle_timeout_s)
    return _recommend(template, margin, requirement)


SIZING_MODELS = ("queueing", "littles-law")


def _requirement_model(model: str, workload: Workload | None, headroom: float) -> RequirementModel:
    if model == "littles-law":
        return partial(required_pool_size, headroom=headroom)
    if model != "queueing":
        raise InputError("model", f"must be one of {', '.join(SIZING_MODELS)}, got {model!r}")
    from planner.queueing.requirement import pool_requirement, workload_hold  # lazy: it imports this module

    if workload is None or workload.hold_ms <= 0:
        return partial(required_pool_size, headroom=headroom)
    return partial(pool_requirement, hold=workload_hold(workload), target_p99_ms=workload.target_p99_wait_ms)


def pgbouncer_pool_need(bouncer: PgBouncer | None, engines: Sequence[Engine], workload: Workload | None,
                        requirement: RequirementModel | None = None):
    """PgBouncer's server pool serves the whole fleet's transactions, like one pool for all of it:
    ``(req/s through it, busy connections, the pool the model sizes for it)``. None without PgBouncer, an
    engine through it or a workload, and in session mode (there the clients, not the traffic, decide)."""
    routed = [e for e in engines if e.via_pgbouncer]
    if bouncer is None or workload is None or not routed or bouncer.pool_mode == "session" or workload.hold_ms <= 0:
        return None
    fleet_rps = sum(workload.rps * e.traffic_share for e in routed)  # a request may use each routed engine
    requirement = requirement or _requirement_model("queueing", workload, DEFAULT_HEADROOM)
    return fleet_rps, fleet_rps * workload.hold_ms / 1000.0, requirement(fleet_rps, workload.hold_ms)


def recommend_for_plan(plan: Plan, **kwargs) -> Recommendation:
    """``recommend`` for the servers, engines, deployment, workload and PgBouncer of an existing plan.

    The one source of advised pool numbers: the ``recommend`` command, ``export --recommended``, the fixes and
    snippets of ``check``'s findings and the dashboard's "Recommended" all call this with the plan they judge.
    Without keyword arguments the result is cached per plan (a plan is immutable), so the rules that quote it
    cost one sizing per plan, not one per finding."""
    if not kwargs:
        try:
            return _recommend_cached(plan)
        except TypeError:  # an unhashable value inside the plan: size it uncached
            pass
    return recommend(plan.servers, plan.deployment, plan.workload, engines=plan.engines, pgbouncer=plan.pgbouncer,
                     lb_idle_timeout_s=plan.lb_idle_timeout_s, **kwargs)


@lru_cache(maxsize=256)
def _recommend_cached(plan: Plan) -> Recommendation:
    return recommend(plan.servers, plan.deployment, plan.workload, engines=plan.engines, pgbouncer=plan.pgbouncer,
                     lb_idle_timeout_s=plan.lb_idle_timeout_s)


def engine_timeouts(plan: Plan, engine: Engine) -> tuple[float, float]:
    """``(pool_timeout, pool_recycle)`` the planner advises for an engine, from the request and idle timeouts
    alone (the same numbers ``recommend`` gives, whether or not the pools fit)."""
    servers = {s.name: s for s in plan.servers}
    pool_timeout, _, pool_recycle, _ = _timeouts(servers, plan.workload, plan.lb_idle_timeout_s, engine.server)
    return pool_timeout, pool_recycle


def _run(plan: Plan, margin: float, model: RequirementModel) -> _Attempt:
    return _attempt(plan.servers, plan.engines, plan.deployment, plan.workload, plan.pgbouncer,
                    plan.lb_idle_timeout_s, margin, model)


def _recommend(template: Plan, margin: float, model: RequirementModel, *, alternatives: bool = True) -> Recommendation:
    attempt = _run(template, margin, model)
    dep = template.deployment
    if attempt.fits:
        plan = dataclasses.replace(template, engines=tuple(attempt.engines))
        budgets = plan_budgets(plan)
        rollout = "; ".join(f"{b.name} {b.rollout_peak} of {b.usable} usable ({b.verdict})" for b in budgets)
        bouncer = pgbouncer_budget(plan)
        if bouncer is not None:
            rollout += (f"; PgBouncer {bouncer.clients_rollout_peak} clients of {bouncer.limit} "
                        f"({'server connections' if bouncer.limited_by_server_connections else 'max_client_conn'}, "
                        f"{bouncer.verdict})")
        reasons = [
            *attempt.reasons,
            f"workers {dep.workers}: as deployed; rollout peak {rollout}",
        ]
        for advice in attempt.advice:
            reasons += [f"{advice.name}: {r}" for r in advice.reasons]
        assert overall_verdict(budgets, bouncer) != "unsafe", budgets  # the sizing's own invariant
        return Recommendation(True, plan, tuple(attempt.advice), dep.workers, tuple(reasons))
    alts = _alternatives(template, attempt, margin, model) if alternatives else ()
    return Recommendation(False, None, (), dep.workers, tuple(attempt.reasons),
                          tuple(w.sentence for w in attempt.shortfalls), alts, tuple(attempt.shortfalls))


def _alternatives(template: Plan, failed: _Attempt, margin: float, model: RequirementModel) -> tuple[Alternative, ...]:
    found: list[Alternative] = []
    dep = template.deployment
    for workers in range(dep.workers - 1, 0, -1):
        trial = dataclasses.replace(template, deployment=dataclasses.replace(dep, workers=workers))
        if _surely_too_many(trial, failed):
            continue
        rec = _recommend(trial, margin, model, alternatives=False)
        if rec.fits and rec.plan:
            found.append(Alternative(
                "fewer-workers",
                f"run {workers} workers per instance instead of {dep.workers} (pool_size {rec.pool_size}, "
                f"max_overflow {rec.max_overflow})",
                rec.plan,
            ))
            break
    found += _pgbouncer_alternative(template, failed, margin, model)
    found += _pgbouncer_settings_alternative(template, failed, margin, model)
    found += _max_connections_alternative(template, failed, margin, model)
    return tuple(found)


def _pgbouncer_settings_alternative(template: Plan, failed: _Attempt, margin: float,
                                    model: RequirementModel) -> list[Alternative]:
    """When the plan's own PgBouncer is what does not fit, the pgbouncer.ini changes that make it fit:
    a max_client_conn that takes the fleet's clients (they are cheap); in transaction mode a default_pool_size
    for the fleet's traffic; in session mode one server connection per client if the server has room for
    them, else transaction mode (where the clients share them, sized for the traffic)."""
    bouncer = template.pgbouncer
    if bouncer is None or not any(w.limit.on_pgbouncer for w in failed.shortfalls):
        return []
    need = pgbouncer_pool_need(dataclasses.replace(bouncer, pool_mode="transaction"), template.engines,
                               template.workload, model)
    traffic_pool = math.ceil(need[2].pool_size / bouncer.pools) if need else 0
    roomy = dataclasses.replace(bouncer, max_client_conn=10_000_000, pool_mode="transaction",
                                default_pool_size=max(bouncer.default_pool_size, traffic_pool))
    sized = _run(dataclasses.replace(template, pgbouncer=roomy), margin, model)
    if not sized.fits:
        return []  # something else does not fit either
    clients = pgbouncer_budget(dataclasses.replace(template, engines=tuple(sized.engines),
                                                   pgbouncer=roomy)).clients_rollout_peak
    changes = [f"max_client_conn {bouncer.max_client_conn} -> {clients}"] if clients > bouncer.max_client_conn else []
    fixed = dataclasses.replace(bouncer, max_client_conn=max(bouncer.max_client_conn, clients))
    transaction = bouncer.pool_mode != "session"
    if not transaction and clients > bouncer.server_connections:
        pool = math.ceil(clients / bouncer.pools)
        trial = dataclasses.replace(template, pgbouncer=dataclasses.replace(fixed, default_pool_size=pool))
        if _run(trial, margin, model).fits:
            changes.append(f"default_pool_size {bouncer.default_pool_size} -> {pool} (session mode: one server "
                           f"connection per client)")
            fixed = trial.pgbouncer
        else:
            changes.append(f"pool_mode session -> transaction ({clients} clients cannot each pin one of "
                           f"{template.server(bouncer.server).max_connections} server slots)")
            fixed, transaction = dataclasses.replace(fixed, pool_mode="transaction"), True
    if transaction and traffic_pool > fixed.default_pool_size:
        changes.append(f"default_pool_size {fixed.default_pool_size} -> {traffic_pool} ({need[0]:g} req/s x "
                       f"{template.workload.hold_ms:g} ms = {need[1]:.1f} busy fleet-wide)")
        fixed = dataclasses.replace(fixed, default_pool_size=traffic_pool)
    rec = _recommend(dataclasses.replace(template, pgbouncer=fixed), margin, model, alternatives=False)
    if not (changes and rec.fits and rec.plan):
        return []
    return [Alternative("pgbouncer-settings", f"in pgbouncer.ini: {'; '.join(changes)}", rec.plan)]


def _server_short(failed: _Attempt, server: str) -> bool:
    """True when one of ``server``'s own limits (not PgBouncer's) is short."""
    return any(w.server == server and not w.limit.on_pgbouncer for w in failed.shortfalls)


def _surely_too_many(plan: Plan, failed: _Attempt) -> bool:
    """True when even the least any model can give (one more connection than the busy ones) overflows a
    server at this worker count: the fewer-workers search skips it without sizing anything."""
    wl, dep = plan.workload, plan.deployment
    if wl is None:
        return False
    rollout_processes = dep.rollout_processes
    for server, allowed in failed.allowed.items():
        least = sum(math.floor(wl.engine_rps(dep, e) * wl.hold_ms / 1000.0) + 1
                    for e in plan.engines if e.server == server and not e.via_pgbouncer)
        if least and rollout_processes * least > allowed:
            return True
    return False


def _pgbouncer_alternative(template: Plan, failed: _Attempt, margin: float, model: RequirementModel):
    failing = [s for s in template.servers
               if failed.min_per_process.get(s.name, 0) and _server_short(failed, s.name)]
    if template.pgbouncer is not None or len(failing) != 1:
        return []
    server = failing[0]
    allowed = failed.allowed[server.name]
    wl = template.workload
    engines = tuple(dataclasses.replace(e, via_pgbouncer=True) if e.server == server.name else e
                    for e in template.engines)
    # PgBouncer's pool serves the whole fleet's traffic: sized by the same model, as the sizing then checks it
    fleet = pgbouncer_pool_need(PgBouncer(server=server.name, pool_mode="transaction"), engines, wl, model)
    pool = fleet[2].pool_size if fleet else DEFAULT_PGBOUNCER_POOL
    if pool > allowed or pool < 1:
        return []  # the server cannot hold the connections the fleet's traffic keeps busy, PgBouncer or not
    dep = template.deployment
    rollout_processes = dep.rollout_processes
    per_process = sum(
        (p + math.ceil(p * BURST_FRACTION)) if wl else p + DEFAULT_MAX_OVERFLOW
        for p in (model(wl.engine_rps(dep, e), wl.hold_ms).pool_size if wl else DEFAULT_POOL_SIZE
                  for e in engines if e.server == server.name)
    )
    bouncer = PgBouncer(server=server.name, version="1.24.0", pool_mode="transaction", default_pool_size=pool,
                        max_client_conn=max(100, rollout_processes * per_process))
    trial = dataclasses.replace(template, engines=engines, pgbouncer=bouncer)
    rec = _recommend(trial, margin, model, alternatives=False)
    if not (rec.fits and rec.plan):
        return []
    sizing = (f"{fleet[0]:g} req/s x {wl.hold_ms:g} ms = {fleet[1]:.1f} busy connections fleet-wide, sized like "
              f"one pool for all of it" if fleet else "PgBouncer's default")
    return [Alternative(
        "pgbouncer",
        f"put PgBouncer (>= 1.24, transaction mode) in front of {server.name} with default_pool_size {pool} "
        f"({sizing}, at most {allowed} allowed) and max_client_conn {bouncer.max_client_conn}: the server then "
        f"holds {pool} connections whatever the fleet size",
        rec.plan,
    )]


def _max_connections_alternative(template: Plan, failed: _Attempt, margin: float, model: RequirementModel):
    dep = template.deployment
    rollout_processes = dep.rollout_processes
    servers = list(template.servers)
    changed = []
    for i, server in enumerate(servers):
        if not _server_short(failed, server.name):
            continue
        bouncer = (template.pgbouncer.server_connections
                   if template.pgbouncer and template.pgbouncer.server == server.name
                   and any(e.via_pgbouncer and e.server == server.name for e in template.engines) else 0)
        need = rollout_processes * failed.min_per_process.get(server.name, 0) + bouncer
        fixed = server.superuser_reserved_connections + server.reserved_connections + server.other_clients
        n = max(server.max_connections + 1, need + fixed)
        while n <= MAX_CONNECTIONS_LIMIT:
            usable = n - fixed
            if usable - _spare(usable, margin) >= need:
                break
            n += 1
        if n > MAX_CONNECTIONS_LIMIT:
            return []
        servers[i] = dataclasses.replace(server, max_connections=n)
        changed.append(f"{server.name} max_connections {server.max_connections} -> {n}")
    if not changed:
        return []
    trial = dataclasses.replace(template, servers=tuple(servers))
    rec = _recommend(trial, margin, model, alternatives=False)
    if not (rec.fits and rec.plan):
        return []
    return [Alternative(
        "max-connections",
        f"raise {'; '.join(changed)} (a restart; each connection costs server memory, so prefer PgBouncer "
        f"for large fleets)",
        rec.plan,
    )]

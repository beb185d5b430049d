"""Sizing a plan with several services: every service on a shared server is sized together.

Each service's pools come from its own workload, by the same per-worker requirement as a single service
(``planner.sizing.requirement``): its least per process (the pool its traffic needs) and what it would take with
the full burst allowance (pool + 50% overflow). On each server:

- everyone's full pools fit the allowed connections (usable - spare, less PgBouncer's server connections) at
  the plan's rollout peak: each service gets them (rule ``wanted``);
- else, when everyone's least fits, the allowed connections are split by weight (``load``: the offered load
  each service's engines carry there, rps x traffic_share x hold, in erlangs; ``priority`` when any service
  sets one, 1 for those that do not): a weighted fair share (water-filling), each service between its least and
  its full pools;
- else nothing fits: the result names the services to cut, and by how much (``ServiceCut``), lowest priority
  (or, by load, largest share) first.

The rollout peak is summed as ``planner.budget.rollout_total`` does (``together``: every surge; ``one-at-a-time``:
everyone at the autoscaling maximum plus the largest single surge), so a fitting recommendation's budgets are
never unsafe.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from dataclasses import dataclass
from functools import lru_cache

from planner.budget import pgbouncer_budget, usable_slots
from planner.model import MAX_CONNECTIONS_LIMIT, Engine, Plan, Server, Service, Workload
from planner.policy import BURST_FRACTION, DEFAULT_POLICY, Policy
from planner.sizing.fit import DEFAULT_MAX_OVERFLOW, DEFAULT_POOL_SIZE, _advise, _Context, distribute, spare
from planner.sizing.requirement import PoolRequirement, RequirementModel, requirement_model
from planner.sizing.results import (
    Alternative,
    EngineAdvice,
    Limit,
    Recommendation,
    ServerSplit,
    ServiceAdvice,
    ServiceCut,
    ServicePart,
    Shortfall,
)


@dataclass(frozen=True)
class SharedSizer:
    """One sizing setup for a multi-service plan: margin, per-worker model, policy."""

    margin: float
    model: str = "queueing"
    headroom: float = 0.5
    policy: Policy = DEFAULT_POLICY
    littles_law: frozenset[str] = frozenset()
    """Services sized by Little's law whatever ``model`` says (``live observe``: a service whose rate and hold
    were not measurable, only its offered load)."""

    def requirement(self, workload: Workload | None, service: str | None = None) -> RequirementModel:
        model = "littles-law" if service in self.littles_law else self.model
        return requirement_model(model, workload, self.headroom)


@dataclass(frozen=True)
class _Demand:
    """One service's direct engines on one server: least and wanted per process, weight, process counts."""

    service: Service
    engines: tuple[Engine, ...]
    floors: tuple[int, ...]
    pool_targets: tuple[int, ...]
    overflow_targets: tuple[int, ...]
    weight: float
    rollout: int
    """rollout processes (autoscaling maximum + surge) x workers"""
    autoscale: int

    @property
    def least(self) -> int:
        return sum(self.floors)

    @property
    def wanted(self) -> int:
        return sum(self.pool_targets) + sum(self.overflow_targets)


def _peak(demands: list[_Demand], ceilings: list[int], rollout: str) -> int:
    """The services' rollout peak at these per-process ceilings (``planner.budget.rollout_total``'s sum)."""
    if rollout == "together" or len(demands) < 2:
        return sum(d.rollout * c for d, c in zip(demands, ceilings, strict=True))
    return (sum(d.autoscale * c for d, c in zip(demands, ceilings, strict=True))
            + max((d.rollout - d.autoscale) * c for d, c in zip(demands, ceilings, strict=True)))


class _Meter:
    """The rollout peak kept up to date as ceilings rise one at a time (O(1) per step)."""

    def __init__(self, demands: list[_Demand], ceilings: list[int], rollout: str):
        self.together = rollout == "together" or len(demands) < 2
        self.demands = demands
        self.base = sum((d.rollout if self.together else d.autoscale) * c for d, c in zip(demands, ceilings,
                                                                                         strict=True))
        self.surge = 0 if self.together else max((d.rollout - d.autoscale) * c
                                                 for d, c in zip(demands, ceilings, strict=True))

    def after(self, i: int, ceiling: int) -> tuple[int, int]:
        """(base, largest surge) with demand ``i`` raised to ``ceiling`` (from ``ceiling - 1``)."""
        d = self.demands[i]
        if self.together:
            return self.base + d.rollout, 0
        return self.base + d.autoscale, max(self.surge, (d.rollout - d.autoscale) * ceiling)


def share_out(demands: list[_Demand], budget: int, rollout: str) -> list[int]:
    """Per-process ceilings from each one's least toward its wanted, a weighted fair share of ``budget``
    connections at rollout peak: the next connection goes to the service with the fewest connections per unit
    of weight (water-filling); zero-weight services get what is left last."""
    ceilings = [d.least for d in demands]
    meter = _Meter(demands, ceilings, rollout)
    heap = [(_level(d, c + 1), i) for i, (d, c) in enumerate(zip(demands, ceilings, strict=True)) if c < d.wanted]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        base, surge = meter.after(i, ceilings[i] + 1)
        if base + surge > budget:
            continue  # this one cannot grow; the others may still (a smaller step, or no surge)
        ceilings[i] += 1
        meter.base, meter.surge = base, surge
        if ceilings[i] < demands[i].wanted:
            heapq.heappush(heap, (_level(demands[i], ceilings[i] + 1), i))
    return ceilings


def _level(d: _Demand, ceiling: int) -> float:
    return math.inf if d.weight <= 0 else d.rollout * ceiling / d.weight


def _weights(plan: Plan) -> tuple[dict[str, float], str]:
    """Each service's weight and the rule: ``priority`` when any service sets one (1 for the others), else
    ``load``: its offered load, rps x hold (erlangs; 0 without a workload)."""
    if any(s.priority is not None for s in plan.services):
        return {s.name: (s.priority if s.priority is not None else 1.0) for s in plan.services}, "priority"
    return {s.name: (s.workload.rps * s.workload.hold_ms / 1000.0 if s.workload else 0.0)
            for s in plan.services}, "load"


def _weight_on(service: Service, direct: tuple[Engine, ...], weights: dict[str, float], by: str) -> float:
    """A service's weight on one server: its priority, or (by load) the load its engines there carry: rps x
    traffic_share x hold in erlangs, summed over them (an engine taking half the requests carries half)."""
    if by == "priority" or service.workload is None:
        return weights[service.name]
    wl = service.workload
    return sum(wl.rps * e.traffic_share for e in direct) * wl.hold_ms / 1000.0


def _requirements(plan: Plan, sizer: SharedSizer) -> dict[tuple[str, str], PoolRequirement | None]:
    out: dict[tuple[str, str], PoolRequirement | None] = {}
    for svc in plan.services:
        wl, dep = svc.workload, svc.deployment
        for e in svc.engines:
            out[svc.name, e.name] = _need(sizer, wl, wl.engine_rps(dep, e), svc.name in sizer.littles_law) \
                if wl else None
    return out


@lru_cache(maxsize=8192)
def _need(sizer: SharedSizer, workload: Workload, rate: float, littles_law: bool) -> PoolRequirement:
    """One engine's per-worker requirement, memoised (a slider move re-sizes one service, not fifty)."""
    model = "littles-law" if littles_law else sizer.model
    return requirement_model(model, workload, sizer.headroom)(rate, workload.hold_ms)


def _targets(need: PoolRequirement | None, has_workload: bool) -> tuple[int, int, int]:
    """(floor, pool target, overflow target) of one engine, as the single-service sizing has them."""
    floor = need.pool_size if need else 1
    if has_workload:
        return floor, floor, math.ceil(floor * BURST_FRACTION)
    return floor, DEFAULT_POOL_SIZE, DEFAULT_MAX_OVERFLOW


def _direct_index(plan: Plan) -> dict[str, list[tuple[Service, tuple[Engine, ...]]]]:
    """server -> [(service, its direct engines there)] in the plan's order, in one pass."""
    index: dict[str, list[tuple[Service, tuple[Engine, ...]]]] = {}
    for svc in plan.services:
        by_server: dict[str, list[Engine]] = {}
        for e in svc.engines:
            if not e.via_pgbouncer:
                by_server.setdefault(e.server, []).append(e)
        for name, engines in by_server.items():
            index.setdefault(name, []).append((svc, tuple(engines)))
    return index


def _demands(pairs: list, needs: dict, weights: dict[str, float], by: str) -> list[_Demand]:
    out = []
    for svc, direct in pairs:
        targets = [_targets(needs[svc.name, e.name], svc.workload is not None) for e in direct]
        dep = svc.deployment
        out.append(_Demand(svc, direct, tuple(t[0] for t in targets), tuple(t[1] for t in targets),
                           tuple(t[2] for t in targets), _weight_on(svc, direct, weights, by), dep.rollout_processes,
                           dep.autoscale_processes))
    return out


def _bouncer_on(plan: Plan, server: Server) -> int:
    bouncer = plan.pgbouncer
    if bouncer is None or bouncer.server != server.name:
        return 0
    routed = any(e.via_pgbouncer for s in plan.services for e in s.engines_on(server.name))
    return bouncer.server_connections if routed else 0


def cuts_for(demands: list[_Demand], budget: int, rollout: str, by: str, server: str) -> tuple[ServiceCut, ...]:
    """Which services to cut, and by how much, so everyone's least fits ``budget``: lowest priority first (by
    priority), else the largest part first; each cut as connections at rollout peak and processes."""
    least = [d.least for d in demands]
    excess = _peak(demands, least, rollout) - budget
    part = {d.service.name: _peak(demands, least, rollout)
            - _peak(demands[:i] + demands[i + 1:], least[:i] + least[i + 1:], rollout) if len(demands) > 1
            else d.rollout * d.least for i, d in enumerate(demands)}
    order = sorted(demands, key=lambda d: ((d.weight, -part[d.service.name]) if by == "priority"
                                           else (-part[d.service.name], d.service.name)))
    cuts = []
    for d in order:
        if excess <= 0:
            break
        cut = min(excess, part[d.service.name])
        cuts.append(ServiceCut(d.service.name, server, cut, min(d.rollout, math.ceil(cut / max(d.least, 1))),
                               d.least, d.rollout))
        excess -= cut
    return tuple(cuts)


def cut_text(cut: ServiceCut) -> str:
    """The cut in words (for the CLI, the findings and the dashboard)."""
    what = ("all of them: move it off the server" if cut.processes >= cut.rollout_processes
            else f"each needs at least {cut.per_process}")
    return (f"cut {cut.service} by {cut.connections} connections at rollout peak on {cut.server}: "
            f"{cut.processes} fewer of its {cut.rollout_processes} rollout processes ({what}), or route it "
            f"through PgBouncer")


@dataclass
class _Sized:
    """What the attempt found so far."""

    pools: dict[tuple[str, str], tuple[int, int, str]] = dataclasses.field(default_factory=dict)
    splits: list[ServerSplit] = dataclasses.field(default_factory=list)
    shortfalls: list[Shortfall] = dataclasses.field(default_factory=list)
    cuts: list[ServiceCut] = dataclasses.field(default_factory=list)
    reasons: list[str] = dataclasses.field(default_factory=list)
    least: dict[str, int] = dataclasses.field(default_factory=dict)
    """server -> everyone's least at rollout peak plus PgBouncer's (for the max-connections alternative)"""


def _size_server(plan: Plan, server: Server, sizer: SharedSizer, needs: dict, weights: dict[str, float], by: str,
                 out: _Sized, pairs: list) -> None:
    usable = usable_slots(server)
    room = spare(usable, sizer.margin)
    allowed = usable - room
    bouncer = _bouncer_on(plan, server)
    demands = _demands(pairs, needs, weights, by)
    if not demands and not bouncer:
        return
    if usable <= 0:
        out.shortfalls.append(Shortfall(Limit.NO_USABLE_SLOTS, server.name, 1, usable,
                                        f"{server.name}: usable slots {usable} <= 0: the reserved slots and other "
                                        f"clients take all {server.max_connections} connections"))
        return
    if bouncer > allowed:
        out.shortfalls.append(Shortfall(Limit.PGBOUNCER_OVER_ALLOWED, server.name, bouncer, allowed,
                                        f"{server.name}: PgBouncer's {bouncer} server connections exceed the "
                                        f"{allowed} allowed ({usable} usable - {room} spare)"))
    budget = allowed - bouncer
    head = (f"{server.name}: {usable} usable - {room} spare ({sizer.margin:.0%} margin) = {allowed} connections "
            f"allowed at rollout peak" + (f", {bouncer} of them PgBouncer's" if bouncer else ""))
    if not demands:
        out.reasons.append(head)
        return
    least = [d.least for d in demands]
    wanted = [d.wanted for d in demands]
    out.least[server.name] = _peak(demands, least, plan.rollout) + bouncer
    if _peak(demands, wanted, plan.rollout) <= budget:
        ceilings, rule = wanted, "wanted"
    elif _peak(demands, least, plan.rollout) <= max(budget, 0):
        ceilings, rule = share_out(demands, budget, plan.rollout), by
    else:
        need = _peak(demands, least, plan.rollout) + bouncer
        terms = " + ".join(f"{d.service.name} {d.rollout} x {d.least}" for d in demands)
        out.shortfalls.append(Shortfall(
            Limit.SERVER_CONNECTIONS, server.name, need, allowed,
            f"{server.name}: the services' least pools at rollout peak ({plan.rollout}: {terms}"
            f"{f' + {bouncer} via PgBouncer' if bouncer else ''}) = {need} > {allowed} allowed ({usable} usable - "
            f"{room} spare)"))
        out.cuts += cuts_for(demands, budget, plan.rollout, by, server.name)
        return
    parts = []
    for d, c in zip(demands, ceilings, strict=True):
        pools = distribute(c, list(d.floors), list(d.pool_targets))
        overflows = distribute(c - sum(pools), [0] * len(d.engines), list(d.overflow_targets))
        where = f"on {server.name}, {c} connections per process ({rule})"
        for e, p, o in zip(d.engines, pools, overflows, strict=True):
            out.pools[d.service.name, e.name] = (p, o, where)
        parts.append(ServicePart(d.service.name, d.weight, d.rollout * d.least, d.rollout * d.wanted, d.rollout * c, c))
    peak = _peak(demands, ceilings, plan.rollout) + bouncer
    out.splits.append(ServerSplit(server.name, allowed, bouncer, rule, tuple(parts), peak))
    out.reasons.append(f"{head}; {_split_text(rule, parts, by)}: rollout peak {peak} ({plan.rollout})")


def _split_text(rule: str, parts: list[ServicePart], by: str) -> str:
    if rule == "wanted":
        return "every service's full pools fit: " + ", ".join(f"{p.service} {p.given}" for p in parts)
    unit = "priority" if by == "priority" else "erlangs (rps x hold)"
    return (f"the full pools ({sum(p.wanted for p in parts)}) do not fit, the least ({sum(p.least for p in parts)}) "
            f"do: split by {by}, a fair share per unit of weight: "
            + ", ".join(f"{p.service} {p.weight:.3g} {unit} -> {p.given} (least {p.least}, full {p.wanted})"
                        for p in parts))


def _size_routed(plan: Plan, needs: dict, sizer: SharedSizer, out: _Sized) -> None:
    """The engines through PgBouncer: sized by their workload; PgBouncer's limits checked on their sum."""
    bouncer = plan.pgbouncer
    routed = [(s, e) for s in plan.services for e in s.engines if e.via_pgbouncer]
    if bouncer is None or not routed:
        return
    for svc, e in routed:
        need = needs[svc.name, e.name]
        p = need.pool_size if need else DEFAULT_POOL_SIZE
        o = math.ceil(p * BURST_FRACTION) if svc.workload else DEFAULT_MAX_OVERFLOW
        out.pools[svc.name, e.name] = (p, o, f"through PgBouncer, which holds {bouncer.server_connections} "
                                             f"connections to {bouncer.server}")
    trial = _with_pools(plan, out.pools)
    clients = pgbouncer_budget(trial, sizer.policy)
    if clients is not None and clients.clients_rollout_peak is not None:
        peak = clients.clients_rollout_peak
        if peak > bouncer.max_client_conn:
            out.shortfalls.append(Shortfall(
                Limit.PGBOUNCER_MAX_CLIENT_CONN, bouncer.server, peak, bouncer.max_client_conn,
                f"PgBouncer max_client_conn {bouncer.max_client_conn} < {peak} client connections at rollout "
                f"peak (every service's processes x their pools)"))
        if bouncer.pool_mode == "session" and peak > bouncer.server_connections:
            out.shortfalls.append(Shortfall(
                Limit.PGBOUNCER_SESSION_CLIENTS, bouncer.server, peak, bouncer.server_connections,
                f"PgBouncer in session mode: {peak} client connections at rollout peak > its "
                f"{bouncer.server_connections} server connections (default_pool_size x pools)"))
    fleet = shared_pgbouncer_need(plan, sizer)
    if fleet is not None and fleet[2].pool_size > bouncer.server_connections:
        rps, busy, pool = fleet
        out.shortfalls.append(Shortfall(
            Limit.PGBOUNCER_POOL, bouncer.server, pool.pool_size, bouncer.server_connections,
            f"PgBouncer: {rps:g} req/s from every service through it, {busy:.1f} server connections busy; its pool "
            f"needs {pool.pool_size} for the p99 wait target, it has {bouncer.server_connections}"))


def shared_pgbouncer_need(plan: Plan, sizer: SharedSizer | None = None):
    """PgBouncer's server pool serves every routed service's transactions: ``(req/s, busy connections, pool)``,
    the pool sized by the queueing model for their summed traffic (mean hold weighted by rate, the strictest p99
    target). None in session mode, or without a routed service with a workload."""
    bouncer = plan.pgbouncer
    if bouncer is None or bouncer.pool_mode == "session":
        return None
    flows = [(s.workload.rps * e.traffic_share, s.workload.hold_ms, s.workload.target_p99_wait_ms)
             for s in plan.services if s.workload and s.workload.hold_ms > 0 for e in s.engines if e.via_pgbouncer]
    rps = sum(f[0] for f in flows)
    if not flows or rps <= 0:
        return None
    busy = sum(f[0] * f[1] for f in flows) / 1000.0
    hold = busy * 1000.0 / rps
    workload = Workload(rps=rps, hold_ms=hold, target_p99_wait_ms=min(f[2] for f in flows))
    sizer = sizer or SharedSizer(DEFAULT_POLICY.tight_fraction)
    return rps, busy, sizer.requirement(workload)(rps, hold)


def _with_pools(plan: Plan, pools: dict) -> Plan:
    services = tuple(dataclasses.replace(s, engines=tuple(
        dataclasses.replace(e, pool_size=pools[s.name, e.name][0], max_overflow=pools[s.name, e.name][1])
        if (s.name, e.name) in pools else e for e in s.engines)) for s in plan.services)
    return plan.with_services(services)


@dataclass(frozen=True)
class _Advising:
    """What advising one service's engines reads of the plan (``fit.timeouts``: its workload, its servers, the
    load balancer's idle timeout), without building a plan per service."""

    service: Service
    servers: dict[str, Server]
    lb_idle_timeout_s: float | None

    @property
    def workload(self) -> Workload | None:
        return self.service.workload

    @property
    def deployment(self):
        return self.service.deployment

    @property
    def engines(self) -> tuple[Engine, ...]:
        return self.service.engines

    def server(self, name: str) -> Server:
        return self.servers[name]


def _needs_given(rate: float, hold_ms: float) -> PoolRequirement:
    raise AssertionError("advising reads the requirements already found (need_of), never the model")


def _advice(plan: Plan, sizer: SharedSizer, needs: dict, pools: dict, weights: dict, by: str):
    services, advice, reasons = [], [], []
    servers = {s.name: s for s in plan.servers}
    for svc in plan.services:
        used = tuple(sorted({servers[e.server] for e in svc.engines}, key=lambda s: s.name))
        sized, engines = _advise_service(svc, used, plan.lb_idle_timeout_s, sizer,
                                         tuple(needs[svc.name, e.name] for e in svc.engines),
                                         tuple(pools[svc.name, e.name] for e in svc.engines))
        services.append(sized)
        advice.append(ServiceAdvice(svc.name, engines, svc.deployment.workers, weights[svc.name], by))
        reasons += [f"{svc.name}/{a.name}: {r}" for a in engines for r in a.reasons]
    return plan.with_services(tuple(services)), tuple(advice), reasons


@lru_cache(maxsize=4096)
def _advise_service(svc: Service, servers: tuple[Server, ...], lb_idle_timeout_s: float | None, sizer: SharedSizer,
                    needs: tuple, pools: tuple) -> tuple[Service, tuple[EngineAdvice, ...]]:
    """One service's engines advised (memoised: a slider move changes one service, the others' advice is the
    same)."""
    view = _Advising(svc, {s.name: s for s in servers}, lb_idle_timeout_s)
    ctx = _Context(view, sizer.margin, _needs_given, sizer.policy,  # type: ignore[arg-type]
                   {e.name: need for e, need in zip(svc.engines, needs, strict=True)})
    pairs = [_advise(ctx, e, *sized) for e, sized in zip(svc.engines, pools, strict=True)]
    return dataclasses.replace(svc, engines=tuple(p[0] for p in pairs)), tuple(p[1] for p in pairs)


def _workload_reasons(plan: Plan) -> list[str]:
    out = []
    for svc in plan.services:
        wl, dep = svc.workload, svc.deployment
        if wl is None:
            out.append(f"{svc.name}: no workload given: SQLAlchemy's default pools, capped by its share")
            continue
        out.append(f"{svc.name}: {wl.rps:g} req/s / ({dep.instances} instances x {dep.workers} workers) = "
                   f"{wl.per_worker_rps(dep):.4g} req/s per worker, {wl.hold_ms:g} ms held "
                   f"({wl.rps * wl.hold_ms / 1000:.3g} erlangs offered)")
    return out


def recommend_shared(plan: Plan, sizer: SharedSizer, *, alternatives: bool = True) -> Recommendation:
    """Size every service of ``plan`` together on the servers they share (see the module's docstring)."""
    weights, by = _weights(plan)
    needs = _requirements(plan, sizer)
    out = _Sized(reasons=_workload_reasons(plan))
    index = _direct_index(plan)
    for server in plan.servers:
        _size_server(plan, server, sizer, needs, weights, by, out, index.get(server.name, []))
    if not out.shortfalls:
        _size_routed(plan, needs, sizer, out)
    first = plan.services[0]
    if out.shortfalls:
        alts = _max_connections_alternative(plan, out, sizer) if alternatives else ()
        return Recommendation(False, None, (), first.deployment.workers, tuple(out.reasons),
                              tuple(w.sentence for w in out.shortfalls), alts, tuple(out.shortfalls),
                              splits=tuple(out.splits), cuts=tuple(out.cuts),
                              services=tuple(ServiceAdvice(s.name, (), s.deployment.workers, weights[s.name], by)
                                             for s in plan.services))
    sized, advice, engine_reasons = _advice(plan, sizer, needs, out.pools, weights, by)
    assert all(split.rollout_peak <= split.allowed for split in out.splits), out.splits  # the sizing's invariant
    return Recommendation(True, sized, advice[0].engines, first.deployment.workers,
                          (*out.reasons, *engine_reasons), services=advice, splits=tuple(out.splits))


def _max_connections_alternative(plan: Plan, failed: _Sized, sizer: SharedSizer) -> tuple[Alternative, ...]:
    """The max_connections each short server needs for everyone's least pools (then sized again)."""
    short = {w.server for w in failed.shortfalls if w.limit is Limit.SERVER_CONNECTIONS}
    if not short or any(w.limit is not Limit.SERVER_CONNECTIONS for w in failed.shortfalls):
        return ()
    servers, changed = list(plan.servers), []
    for i, server in enumerate(servers):
        if server.name not in short:
            continue
        need = failed.least[server.name]
        fixed = server.max_connections - usable_slots(server)
        n = max(server.max_connections + 1, need + fixed)
        while n <= MAX_CONNECTIONS_LIMIT and (n - fixed) - spare(n - fixed, sizer.margin) < need:
            n += 1
        if n > MAX_CONNECTIONS_LIMIT:
            return ()
        servers[i] = dataclasses.replace(server, max_connections=n)
        changed.append(f"{server.name} max_connections {server.max_connections} -> {n}")
    rec = recommend_shared(dataclasses.replace(plan, servers=tuple(servers)), sizer, alternatives=False)
    if not (rec.fits and rec.plan):
        return ()
    return (Alternative("max-connections", f"raise {'; '.join(changed)} (a restart; each connection costs server "
                                           f"memory: every service keeps its least pools)", rec.plan),)


def advice_of(rec: Recommendation, service: str) -> tuple[EngineAdvice, ...]:
    """One service's engine advice in a recommendation (the single service's for a single-service plan)."""
    if not rec.services:
        return rec.engines
    return next((s.engines for s in rec.services if s.service == service), ())


__all__ = ["SharedSizer", "advice_of", "cut_text", "cuts_for", "recommend_shared", "share_out",
           "shared_pgbouncer_need"]

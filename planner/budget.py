"""The connection arithmetic, per server: usable slots, steady, peak, rollout peak, headroom, verdict; and
PgBouncer's own ceiling (max_client_conn; in session mode its server connections) when engines go through it.

Each number carries the sentence that produced it, so a person can check it by hand. The lesson's rule
(``pool_size x workers <= max_connections``) ignores ``max_overflow``, the reserved slots, other clients and
rolling deploys; the figures here count all of them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from planner.model import Engine, Plan, Server, Service
from planner.policy import DEFAULT_POLICY, TIGHT_FRACTION, Policy

Verdict = Literal["safe", "tight", "unsafe"]
VERDICT_ORDER: dict[str, int] = {"safe": 0, "tight": 1, "unsafe": 2}

__all__ = ["TIGHT_FRACTION"]  # re-exported from planner.policy (the tight margin's one home), for old imports


@dataclass(frozen=True, slots=True)
class ServerBudget:
    """The connection budget of one server under a plan. ``None`` means unbounded (no ceiling)."""

    name: str
    max_connections: int
    usable: int
    """max_connections - superuser_reserved - reserved - other clients."""
    per_process_steady: int
    """Sum of pool_size over one process's engines on this server."""
    per_process_peak: int | None
    """Sum of pool_size + max_overflow over one process's engines on this server."""
    processes: int
    """instances x workers in steady state."""
    rollout_processes: int
    """(max instances + surge) x workers while a rolling deploy overlaps old and new instances."""
    pgbouncer_connections: int
    """Server connections PgBouncer holds for engines routed through it (counted once, not per process)."""
    steady: int
    peak: int | None
    rollout_peak: int | None
    headroom: int | None
    """usable - rollout_peak: slots left at the worst moment (negative = over budget)."""
    lesson_rule_total: int
    """pool_size x processes: what the lesson's rule compares with max_connections."""
    verdict: Verdict
    explanation: tuple[str, ...]
    shares: tuple[ServiceShare, ...] = ()
    """What each service's engines can open on this server (empty when no engine connects directly). With several
    services, ``per_process_*``, ``processes`` and ``rollout_processes`` above are sums over them."""
    rollout: str = "together"
    """How the plan's services roll out (``together`` or ``one-at-a-time``): how ``rollout_peak`` was summed."""

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "max_connections": self.max_connections,
            "usable": self.usable,
            "steady": self.steady,
            "peak": self.peak,
            "rollout_peak": self.rollout_peak,
            "headroom": self.headroom,
            "verdict": self.verdict,
            "per_process_steady": self.per_process_steady,
            "per_process_peak": self.per_process_peak,
            "processes": self.processes,
            "rollout_processes": self.rollout_processes,
            "pgbouncer_connections": self.pgbouncer_connections,
            "lesson_rule_total": self.lesson_rule_total,
            "explanation": list(self.explanation),
            "services": [share.as_dict() for share in self.shares],
            "rollout": self.rollout,
        }


@dataclass(frozen=True, slots=True)
class ServiceShare:
    """One service's part of one server's budget: what its engines there can open, by moment."""

    service: str
    processes: int
    rollout_processes: int
    per_process_steady: int
    per_process_peak: int | None
    steady: int
    peak: int | None
    autoscale_peak: int | None
    """At the autoscaling maximum, outside a rollout."""
    rollout_peak: int | None
    """At the autoscaling maximum plus its rollout surge."""

    @property
    def surge(self) -> int | None:
        """What its rollout adds on top of its autoscale peak."""
        return None if self.rollout_peak is None else self.rollout_peak - self.autoscale_peak  # type: ignore[operator]

    def as_dict(self) -> dict[str, object]:
        return {"service": self.service, "processes": self.processes, "steady": self.steady, "peak": self.peak,
                "autoscale_peak": self.autoscale_peak, "rollout_peak": self.rollout_peak,
                "per_process_steady": self.per_process_steady, "per_process_peak": self.per_process_peak}


def service_share(service: Service, engines: tuple[Engine, ...]) -> ServiceShare:
    """What ``engines`` (one process's, of ``service``) can open across the service's fleet."""
    dep = service.deployment
    per_steady = sum(e.pool_size for e in engines)
    per_peak = None if any(e.unbounded for e in engines) else sum(e.pool_size + e.max_overflow for e in engines)
    return ServiceShare(
        service=service.name, processes=dep.processes, rollout_processes=dep.rollout_processes,
        per_process_steady=per_steady, per_process_peak=per_peak, steady=dep.processes * per_steady,
        peak=None if per_peak is None else dep.processes * per_peak,
        autoscale_peak=None if per_peak is None else dep.autoscale_processes * per_peak,
        rollout_peak=None if per_peak is None else dep.rollout_processes * per_peak,
    )


def _total(values) -> int | None:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def rollout_total(shares: tuple[ServiceShare, ...], rollout: str) -> int | None:
    """The services' rollout peak together: every surge at once (``together``), or everyone at the autoscaling
    maximum plus the largest single surge (``one-at-a-time``)."""
    if rollout == "together" or len(shares) < 2:
        return _total(s.rollout_peak for s in shares)
    peaks = _total(s.autoscale_peak for s in shares)
    return None if peaks is None else peaks + max(s.surge for s in shares)  # type: ignore[type-var]


def usable_slots(server: Server) -> int:
    """Slots an ordinary application role can actually get (may be <= 0: nothing fits)."""
    return (
        server.max_connections
        - server.superuser_reserved_connections
        - server.reserved_connections
        - server.other_clients
    )


def _sum_terms(engines: tuple[Engine, ...], value) -> str:
    return " + ".join(value(e) for e in engines) if engines else "0"


def server_budget(plan: Plan, server: Server, policy: Policy = DEFAULT_POLICY) -> ServerBudget:
    """The whole budget of ``server``: every figure, the verdict (``policy.tight_fraction`` is the tight margin),
    and the arithmetic in words."""
    if plan.multi_service:
        return _shared_server_budget(plan, server, policy)
    dep = plan.deployment
    direct = tuple(e for e in plan.engines_on(server.name) if not e.via_pgbouncer)
    routed = tuple(e for e in plan.engines_on(server.name) if e.via_pgbouncer)
    bouncer = plan.pgbouncer.server_connections if (plan.pgbouncer and routed) else 0

    processes = dep.processes
    rollout_processes = dep.rollout_processes
    per_steady = sum(e.pool_size for e in direct)
    unbounded = any(e.unbounded for e in direct)
    per_peak = None if unbounded else sum(e.pool_size + e.max_overflow for e in direct)

    usable = usable_slots(server)
    steady = processes * per_steady + bouncer
    peak = None if per_peak is None else processes * per_peak + bouncer
    rollout = None if per_peak is None else rollout_processes * per_peak + bouncer
    headroom = None if rollout is None else usable - rollout

    lines = [
        f"usable = max_connections {server.max_connections} - superuser_reserved "
        f"{server.superuser_reserved_connections} - reserved {server.reserved_connections} - other clients "
        f"{server.other_clients} = {usable}",
        f"processes = {dep.instances} instances x {dep.workers} workers = {processes}",
    ]
    bouncer_term = f" + {bouncer} via PgBouncer" if bouncer else ""
    if direct:
        lines.append(
            f"steady = {processes} processes x pool_size ({_sum_terms(direct, lambda e: str(e.pool_size))})"
            f"{bouncer_term} = {steady}"
        )
    else:
        lines.append(f"steady = no engine connects directly{bouncer_term} = {steady}")
    if per_peak is None:
        lines.append("peak = unbounded: max_overflow=-1 or pool_size=0 puts no ceiling on the pool")
    else:
        terms = _sum_terms(direct, lambda e: f"{e.pool_size} + {e.max_overflow}")
        lines.append(f"peak = {processes} processes x ({terms}){bouncer_term} = {peak}")
        lines.append(
            f"rollout peak = ({dep.max_instances} instances + {dep.surge_instances} surge) x {dep.workers} "
            f"workers x {per_peak}{bouncer_term} = {rollout}"
        )
        relation = "<=" if headroom >= 0 else ">"
        lines.append(
            f"headroom = usable {usable} - rollout peak {rollout} = {headroom} ({rollout} {relation} {usable})"
        )

    verdict = _verdict(usable, rollout, policy)
    return ServerBudget(
        name=server.name,
        max_connections=server.max_connections,
        usable=usable,
        per_process_steady=per_steady,
        per_process_peak=per_peak,
        processes=processes,
        rollout_processes=rollout_processes,
        pgbouncer_connections=bouncer,
        steady=steady,
        peak=peak,
        rollout_peak=rollout,
        headroom=headroom,
        lesson_rule_total=processes * per_steady,
        verdict=verdict,
        explanation=tuple(lines),
        shares=(service_share(plan.services[0], direct),) if direct else (),
        rollout=plan.rollout,
    )


def _usable_line(server: Server, usable: int) -> str:
    return (f"usable = max_connections {server.max_connections} - superuser_reserved "
            f"{server.superuser_reserved_connections} - reserved {server.reserved_connections} - other clients "
            f"{server.other_clients} = {usable}")


def _share_line(share: ServiceShare, service: Service) -> str:
    dep = service.deployment
    if share.per_process_peak is None:
        return f"{share.service}: {share.processes} processes x unbounded pool (max_overflow=-1 or pool_size=0)"
    return (f"{share.service}: steady {share.processes} processes x {share.per_process_steady} = {share.steady}; "
            f"peak {share.processes} x {share.per_process_peak} = {share.peak}; rollout peak ({dep.max_instances} "
            f"instances + {dep.surge_instances} surge) x {dep.workers} workers x {share.per_process_peak} = "
            f"{share.rollout_peak}")


def _shared_server_budget(plan: Plan, server: Server, policy: Policy,
                          index: dict[str, tuple[list, bool]] | None = None) -> ServerBudget:
    """The budget of a server several services use: each service's share, summed (``rollout_total``). ``index``:
    ``_server_index(plan)`` when the caller has it (one pass over the engines for every server)."""
    pairs, routed = (index or _server_index(plan)).get(server.name, ([], False))
    shares = tuple(service_share(svc, engines) for svc, engines in pairs)
    bouncer = plan.pgbouncer.server_connections if (plan.pgbouncer and routed) else 0
    usable = usable_slots(server)
    steady = sum(s.steady for s in shares) + bouncer
    peak = _total(s.peak for s in shares)
    rollout = rollout_total(shares, plan.rollout)
    peak = None if peak is None else peak + bouncer
    rollout = None if rollout is None else rollout + bouncer
    headroom = None if rollout is None else usable - rollout
    bouncer_term = f" + {bouncer} via PgBouncer" if bouncer else ""
    lines = [_usable_line(server, usable), *(_share_line(sh, svc) for sh, (svc, _) in zip(shares, pairs, strict=True))]
    names = " + ".join(str(s.steady) for s in shares) or "0"
    lines.append(f"steady = {names}{bouncer_term} = {steady}")
    if rollout is None:
        lines.append("peak = unbounded: a service's pool has no ceiling (max_overflow=-1 or pool_size=0)")
    else:
        lines.append(f"peak = {' + '.join(str(s.peak) for s in shares) or '0'}{bouncer_term} = {peak}")
        lines.append(_rollout_line(shares, plan.rollout, bouncer_term, rollout))
        relation = "<=" if headroom >= 0 else ">"
        lines.append(f"headroom = usable {usable} - rollout peak {rollout} = {headroom} "
                     f"({rollout} {relation} {usable})")
    return ServerBudget(
        name=server.name, max_connections=server.max_connections, usable=usable,
        per_process_steady=sum(s.per_process_steady for s in shares),
        per_process_peak=_total(s.per_process_peak for s in shares),
        processes=sum(s.processes for s in shares), rollout_processes=sum(s.rollout_processes for s in shares),
        pgbouncer_connections=bouncer, steady=steady, peak=peak, rollout_peak=rollout, headroom=headroom,
        lesson_rule_total=sum(s.steady for s in shares), verdict=_verdict(usable, rollout, policy),
        explanation=tuple(lines), shares=shares, rollout=plan.rollout,
    )


def _rollout_line(shares: tuple[ServiceShare, ...], rollout: str, bouncer_term: str, total: int) -> str:
    if rollout == "together" or len(shares) < 2:
        terms = " + ".join(str(s.rollout_peak) for s in shares) or "0"
        return f"rollout peak = every service rolling at once: {terms}{bouncer_term} = {total}"
    largest = max(shares, key=lambda s: s.surge)
    terms = " + ".join(str(s.autoscale_peak) for s in shares)
    return (f"rollout peak = one service at a time: everyone at the autoscaling maximum ({terms}) + the largest "
            f"surge ({largest.service}: {largest.surge}){bouncer_term} = {total}")


def _verdict(usable: int, rollout_peak: int | None, policy: Policy) -> Verdict:
    if rollout_peak is None or usable <= 0 or rollout_peak > usable:
        return "unsafe"
    if usable - rollout_peak < policy.tight_fraction * usable:
        return "tight"
    return "safe"


def _server_index(plan: Plan) -> dict[str, tuple[list, bool]]:
    """server -> ([(service, its direct engines there)], whether an engine reaches it through PgBouncer)."""
    index: dict[str, tuple[list, bool]] = {}
    for svc in plan.services:
        direct: dict[str, list] = {}
        for e in svc.engines:
            pairs, _ = index.setdefault(e.server, ([], False))
            if e.via_pgbouncer:
                index[e.server] = (pairs, True)
            else:
                direct.setdefault(e.server, []).append(e)
        for name, engines in direct.items():
            index[name][0].append((svc, tuple(engines)))
    return index


def plan_budgets(plan: Plan, policy: Policy = DEFAULT_POLICY) -> tuple[ServerBudget, ...]:
    """One budget per server of the plan, in the plan's order. A multi-service plan's are memoised per plan (a plan
    is immutable; the rules, the sizing's own check and the page ask for the same plan's budgets several times)."""
    if plan.multi_service:
        try:
            return _shared_budgets(plan, policy)
        except TypeError:  # an unhashable value inside the plan
            return _shared_budgets.__wrapped__(plan, policy)
    return tuple(server_budget(plan, s, policy) for s in plan.servers)


@lru_cache(maxsize=64)
def _shared_budgets(plan: Plan, policy: Policy) -> tuple[ServerBudget, ...]:
    index = _server_index(plan)
    return tuple(_shared_server_budget(plan, s, policy, index) for s in plan.servers)


@dataclass(frozen=True, slots=True)
class PgBouncerBudget:
    """PgBouncer's own ceiling under a plan: the fleet's client connections against ``max_client_conn`` and,
    in session mode, against the server connections each client pins for its whole life."""

    server: str
    pool_mode: str
    max_client_conn: int
    server_connections: int
    """default_pool_size x pools: what PgBouncer opens to the server."""
    per_process_peak: int | None
    """Sum of pool_size + max_overflow over one process's engines routed through PgBouncer."""
    clients_steady: int
    clients_peak: int | None
    clients_rollout_peak: int | None
    limit: int
    """max_client_conn; in session mode the smaller of it and the server connections."""
    headroom: int | None
    verdict: Verdict
    explanation: tuple[str, ...]

    @property
    def limited_by_server_connections(self) -> bool:
        """Session mode with fewer server connections than max_client_conn: those, not max_client_conn, bind."""
        return self.limit < self.max_client_conn

    def as_dict(self) -> dict[str, object]:
        return {
            "server": self.server,
            "pool_mode": self.pool_mode,
            "max_client_conn": self.max_client_conn,
            "server_connections": self.server_connections,
            "clients_steady": self.clients_steady,
            "clients_peak": self.clients_peak,
            "clients_rollout_peak": self.clients_rollout_peak,
            "limit": self.limit,
            "headroom": self.headroom,
            "verdict": self.verdict,
            "per_process_peak": self.per_process_peak,
            "explanation": list(self.explanation),
        }


def pgbouncer_budget(plan: Plan, policy: Policy = DEFAULT_POLICY) -> PgBouncerBudget | None:
    """PgBouncer's budget, or None when the plan routes no engine through one.

    Each application connection is a PgBouncer client, open as long as the pool keeps it (idle ones too).
    In transaction or statement mode a client holds a server connection only while it runs one, so
    ``max_client_conn`` is the ceiling; in session mode it holds one until it disconnects, so the clients
    beyond ``default_pool_size x pools`` wait in PgBouncer (``query_wait_timeout``, 120 s) instead of running.
    """
    bouncer = plan.pgbouncer
    routed = tuple(e for e in plan.engines if e.via_pgbouncer)
    if plan.multi_service and bouncer is not None:
        return _shared_pgbouncer_budget(plan, policy)
    if bouncer is None or not routed:
        return None
    dep = plan.deployment
    processes = dep.processes
    rollout_processes = dep.rollout_processes
    per_steady = sum(e.pool_size for e in routed)
    per_peak = None if any(e.unbounded for e in routed) else sum(e.pool_size + e.max_overflow for e in routed)
    peak = None if per_peak is None else processes * per_peak
    rollout = None if per_peak is None else rollout_processes * per_peak
    servers = bouncer.server_connections
    session = bouncer.pool_mode == "session"
    limit = min(bouncer.max_client_conn, servers) if session else bouncer.max_client_conn
    lines = [f"clients steady = {processes} processes x pool_size ({_sum_terms(routed, lambda e: str(e.pool_size))})"
             f" = {processes * per_steady}"]
    if per_peak is None:
        lines.append("client peak = unbounded: max_overflow=-1 or pool_size=0 puts no ceiling on the pool")
    else:
        terms = _sum_terms(routed, lambda e: f"{e.pool_size} + {e.max_overflow}")
        lines.append(f"client rollout peak = ({dep.max_instances} instances + {dep.surge_instances} surge) x "
                     f"{dep.workers} workers x ({terms}) = {rollout}")
    server_text = f"default_pool_size {bouncer.default_pool_size} x pools {bouncer.pools} = {servers}"
    if session:
        lines.append(f"limit = min(max_client_conn {bouncer.max_client_conn}, server connections {server_text}) = "
                     f"{limit}: in session mode each client holds a server connection until it disconnects")
    else:
        lines.append(f"limit = max_client_conn {bouncer.max_client_conn}: in {bouncer.pool_mode} mode the clients "
                     f"share the server connections ({server_text}, counted in {bouncer.server}'s budget)")
    headroom = None if rollout is None else limit - rollout
    if rollout is not None:
        relation = "<=" if headroom >= 0 else ">"
        lines.append(f"headroom = limit {limit} - client rollout peak {rollout} = {headroom} ({rollout} {relation} "
                     f"{limit})")
    return PgBouncerBudget(
        server=bouncer.server, pool_mode=bouncer.pool_mode, max_client_conn=bouncer.max_client_conn,
        server_connections=servers, per_process_peak=per_peak, clients_steady=processes * per_steady,
        clients_peak=peak, clients_rollout_peak=rollout, limit=limit, headroom=headroom,
        verdict=_verdict(limit, rollout, policy), explanation=tuple(lines),
    )


def _shared_pgbouncer_budget(plan: Plan, policy: Policy) -> PgBouncerBudget | None:
    """PgBouncer's budget when several services go through it: their clients summed (``rollout_total``)."""
    bouncer = plan.pgbouncer
    pairs = [(svc, tuple(e for e in svc.engines if e.via_pgbouncer)) for svc in plan.services]
    shares = tuple(service_share(svc, engines) for svc, engines in pairs if engines)
    if bouncer is None or not shares:
        return None
    servers = bouncer.server_connections
    session = bouncer.pool_mode == "session"
    limit = min(bouncer.max_client_conn, servers) if session else bouncer.max_client_conn
    rollout = rollout_total(shares, plan.rollout)
    lines = [*(f"clients of {_share_line(sh, plan.service(sh.service))}" for sh in shares)]
    if rollout is None:
        lines.append("client peak = unbounded: a service's pool has no ceiling")
    else:
        lines.append(_rollout_line(shares, plan.rollout, "", rollout).replace("rollout peak", "client rollout peak", 1))
    lines.append(f"limit = {'min(max_client_conn, server connections)' if session else 'max_client_conn'} = {limit}")
    headroom = None if rollout is None else limit - rollout
    if rollout is not None:
        lines.append(f"headroom = limit {limit} - client rollout peak {rollout} = {headroom}")
    return PgBouncerBudget(
        server=bouncer.server, pool_mode=bouncer.pool_mode, max_client_conn=bouncer.max_client_conn,
        server_connections=servers, per_process_peak=_total(s.per_process_peak for s in shares),
        clients_steady=sum(s.steady for s in shares), clients_peak=_total(s.peak for s in shares),
        clients_rollout_peak=rollout, limit=limit, headroom=headroom, verdict=_verdict(limit, rollout, policy),
        explanation=tuple(lines),
    )


def overall_verdict(budgets: tuple[ServerBudget, ...], bouncer: PgBouncerBudget | None = None) -> Verdict:
    """The worst verdict over all servers and PgBouncer."""
    verdicts = [b.verdict for b in budgets] + ([bouncer.verdict] if bouncer else [])
    return max(verdicts, key=VERDICT_ORDER.__getitem__, default="safe")


def plan_verdict(plan: Plan, policy: Policy = DEFAULT_POLICY) -> Verdict:
    """The plan's verdict: the worst over its servers and its PgBouncer."""
    return overall_verdict(plan_budgets(plan, policy), pgbouncer_budget(plan, policy))


def service_view(plan: Plan, name: str) -> Plan:
    """One service of ``plan`` alone on its servers, the other services' use of each server it uses counted as that
    server's other clients (their rollout peak there; PgBouncer's server connections when only the others go
    through it), so that advice which depends on the room left (the per-service rules) sees the room the others
    leave."""
    if not plan.multi_service:
        return plan
    return service_views(plan)[name]


def service_views(plan: Plan, budgets: tuple[ServerBudget, ...] | None = None) -> dict[str, Plan]:
    """``service_view`` of every service, in one pass over the servers' budgets (``budgets``: the plan's, when
    the caller has them)."""
    budgets = plan_budgets(plan) if budgets is None else budgets
    totals = {b.name: (sum(s.rollout_peak or 0 for s in b.shares), b.pgbouncer_connections,
                       {s.service: s.rollout_peak or 0 for s in b.shares}) for b in budgets}
    bouncer_server = plan.pgbouncer.server if plan.pgbouncer else None
    views = {}
    for service in plan.services:
        used = {e.server for e in service.engines}
        routed = any(e.via_pgbouncer for e in service.engines)
        servers = tuple(_others_as_clients(server, totals[server.name], service.name,
                                           routed=routed and server.name == bouncer_server)
                        if server.name in used else server for server in plan.servers)
        views[service.name] = Plan(servers=servers, pgbouncer=plan.pgbouncer, lb_idle_timeout_s=plan.lb_idle_timeout_s,
                                   services=(service,), rollout=plan.rollout)
    return views


def _others_as_clients(server: Server, totals: tuple[int, int, dict[str, int]], service: str, *,
                       routed: bool) -> Server:
    """``server`` with what the other services take at rollout peak added to its other clients."""
    direct, bouncer, own = totals
    others = direct - own.get(service, 0) + (0 if routed else bouncer)
    return _more_other_clients(server, others) if others > 0 else server


@lru_cache(maxsize=4096)
def _more_other_clients(server: Server, more: int) -> Server:
    """Memoised: a slider move changes one service; the others' views of the servers stay the same."""
    return dataclasses.replace(server, other_clients=server.other_clients + more)

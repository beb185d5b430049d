"""What would make a plan fit when nothing does: fewer workers, PgBouncer in front, PgBouncer's own settings,
a higher max_connections; each tried by the caller's sizer and chosen by the typed shortfalls (``Limit``),
never by the words of a sentence."""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol

from planner.budget import bouncer_budget
from planner.model import MAX_CONNECTIONS_LIMIT, PgBouncer, Plan
from planner.policy import BURST_FRACTION
from planner.sizing.fit import (
    DEFAULT_MAX_OVERFLOW,
    DEFAULT_PGBOUNCER_POOL,
    DEFAULT_POOL_SIZE,
    Attempt,
    spare,
)
from planner.sizing.requirement import RequirementModel, pgbouncer_pool_need
from planner.sizing.results import Alternative, Recommendation


class Sizer(Protocol):
    """The sizing the alternatives try their changes with (``planner.sizing.recommendation.Sizer``)."""

    margin: float
    model: RequirementModel

    def run(self, plan: Plan) -> Attempt: ...

    def size(self, plan: Plan) -> Recommendation: ...


def alternatives(template: Plan, failed: Attempt, sizer: Sizer) -> tuple[Alternative, ...]:
    """The smallest changes that would make ``template`` fit (fewer workers, PgBouncer, its settings, a higher
    max_connections), each with the recommendation under it."""
    found: list[Alternative] = []
    dep = template.deployment
    for workers in range(dep.workers - 1, 0, -1):
        trial = dataclasses.replace(template, deployment=dataclasses.replace(dep, workers=workers))
        if _surely_too_many(trial, failed):
            continue
        rec = sizer.size(trial)
        if rec.fits and rec.plan:
            found.append(Alternative(
                "fewer-workers",
                f"run {workers} workers per instance instead of {dep.workers} (pool_size {rec.pool_size}, "
                f"max_overflow {rec.max_overflow})",
                rec.plan,
            ))
            break
    found += _pgbouncer_alternative(template, failed, sizer)
    found += _pgbouncer_settings_alternative(template, failed, sizer)
    found += _max_connections_alternative(template, failed, sizer)
    return tuple(found)


def _pgbouncer_settings_alternative(template: Plan, failed: Attempt, sizer: Sizer) -> list[Alternative]:
    """When the plan's own PgBouncers are what does not fit, the pgbouncer.ini changes that make them fit (each
    PgBouncer that is short): a max_client_conn that takes the fleet's clients (they are cheap); in transaction
    mode a default_pool_size for the fleet's traffic; in session mode one server connection per client if the
    server has room for them, else transaction mode (where the clients share them, sized for the traffic)."""
    servers = dict.fromkeys(w.server for w in failed.shortfalls if w.limit.on_pgbouncer)
    bouncers = [b for b in (template.pgbouncer_for(s) for s in servers) if b is not None]
    if not bouncers:
        return []
    needs = {b.server: pgbouncer_pool_need(dataclasses.replace(b, pool_mode="transaction"), template.engines,
                                           template.workload, sizer.model) for b in bouncers}
    traffic = {b.server: math.ceil(needs[b.server][2].pool_size / b.pools) if needs[b.server] else 0
               for b in bouncers}
    current = template
    for b in bouncers:
        current = current.with_pgbouncer(dataclasses.replace(b, max_client_conn=10_000_000, pool_mode="transaction",
                                                             default_pool_size=max(b.default_pool_size,
                                                                                   traffic[b.server])))
    sized = sizer.run(current)
    if not sized.fits:
        return []  # something else does not fit either
    sized_plan = dataclasses.replace(current, engines=tuple(sized.engines))
    parts = []
    for b in bouncers:
        clients = bouncer_budget(sized_plan, sized_plan.pgbouncer_for(b.server)).clients_rollout_peak
        current, changes = _fixed_pgbouncer(current, b, clients, needs[b.server], traffic[b.server], sizer)
        if changes:
            where = "" if len(template.pgbouncers) == 1 else f" of {template.pgbouncer_name(b)}"
            parts.append(f"in pgbouncer.ini{where}: {'; '.join(changes)}")
    rec = sizer.size(current)
    if not (parts and rec.fits and rec.plan):
        return []
    return [Alternative("pgbouncer-settings", "; ".join(parts), rec.plan)]


def _fixed_pgbouncer(current: Plan, bouncer: PgBouncer, clients: int, need, traffic_pool: int,
                     sizer: Sizer) -> tuple[Plan, list[str]]:
    """``current`` with ``bouncer`` (as the plan had it) changed to take ``clients`` and the traffic, and the
    changes in words."""
    changes = [f"max_client_conn {bouncer.max_client_conn} -> {clients}"] if clients > bouncer.max_client_conn else []
    fixed = dataclasses.replace(bouncer, max_client_conn=max(bouncer.max_client_conn, clients))
    transaction = bouncer.pool_mode != "session"
    if not transaction and clients > bouncer.server_connections:
        pool = math.ceil(clients / bouncer.pools)
        trial = current.with_pgbouncer(dataclasses.replace(fixed, default_pool_size=pool))
        if sizer.run(trial).fits:
            changes.append(f"default_pool_size {bouncer.default_pool_size} -> {pool} (session mode: one server "
                           f"connection per client)")
            fixed = trial.pgbouncer_for(bouncer.server)
        else:
            changes.append(f"pool_mode session -> transaction ({clients} clients cannot each pin one of "
                           f"{current.server(bouncer.server).max_connections} server slots)")
            fixed, transaction = dataclasses.replace(fixed, pool_mode="transaction"), True
    if transaction and traffic_pool > fixed.default_pool_size:
        changes.append(f"default_pool_size {fixed.default_pool_size} -> {traffic_pool} ({need[0]:g} req/s x "
                       f"{current.workload.hold_ms:g} ms = {need[1]:.1f} busy fleet-wide)")
        fixed = dataclasses.replace(fixed, default_pool_size=traffic_pool)
    return current.with_pgbouncer(fixed), changes


def _server_short(failed: Attempt, server: str) -> bool:
    """True when one of ``server``'s own limits (not PgBouncer's) is short."""
    return any(w.server == server and not w.limit.on_pgbouncer for w in failed.shortfalls)


def _surely_too_many(plan: Plan, failed: Attempt) -> bool:
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


def _pgbouncer_alternative(template: Plan, failed: Attempt, sizer: Sizer):
    failing = [s for s in template.servers
               if failed.min_per_process.get(s.name, 0) and _server_short(failed, s.name)]
    if len(failing) != 1 or template.pgbouncer_for(failing[0].name) is not None:
        return []
    server = failing[0]
    allowed = failed.allowed[server.name]
    wl = template.workload
    engines = tuple(dataclasses.replace(e, via_pgbouncer=True) if e.server == server.name else e
                    for e in template.engines)
    # PgBouncer's pool serves the whole fleet's traffic: sized by the same model, as the sizing then checks it
    fleet = pgbouncer_pool_need(PgBouncer(server=server.name, pool_mode="transaction"), engines, wl, sizer.model)
    pool = fleet[2].pool_size if fleet else DEFAULT_PGBOUNCER_POOL
    if pool > allowed or pool < 1:
        return []  # the server cannot hold the connections the fleet's traffic keeps busy, PgBouncer or not
    dep = template.deployment
    rollout_processes = dep.rollout_processes
    per_process = sum(
        (p + math.ceil(p * BURST_FRACTION)) if wl else p + DEFAULT_MAX_OVERFLOW
        for p in (sizer.model(wl.engine_rps(dep, e), wl.hold_ms).pool_size if wl else DEFAULT_POOL_SIZE
                  for e in engines if e.server == server.name)
    )
    bouncer = PgBouncer(server=server.name, version="1.24.0", pool_mode="transaction", default_pool_size=pool,
                        max_client_conn=max(100, rollout_processes * per_process))
    trial = dataclasses.replace(template.with_pgbouncer(bouncer), engines=engines)
    rec = sizer.size(trial)
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


def _max_connections_alternative(template: Plan, failed: Attempt, sizer: Sizer):
    dep = template.deployment
    rollout_processes = dep.rollout_processes
    servers = list(template.servers)
    changed = []
    for i, server in enumerate(servers):
        if not _server_short(failed, server.name):
            continue
        fronting = template.pgbouncer_for(server.name)
        bouncer = (fronting.server_connections if fronting is not None
                   and any(e.via_pgbouncer and e.server == server.name for e in template.engines) else 0)
        need = rollout_processes * failed.min_per_process.get(server.name, 0) + bouncer
        fixed = server.superuser_reserved_connections + server.reserved_connections + server.other_clients
        n = max(server.max_connections + 1, need + fixed)
        while n <= MAX_CONNECTIONS_LIMIT:
            usable = n - fixed
            if usable - spare(usable, sizer.margin) >= need:
                break
            n += 1
        if n > MAX_CONNECTIONS_LIMIT:
            return []
        servers[i] = dataclasses.replace(server, max_connections=n)
        changed.append(f"{server.name} max_connections {server.max_connections} -> {n}")
    if not changed:
        return []
    trial = dataclasses.replace(template, servers=tuple(servers))
    rec = sizer.size(trial)
    if not (rec.fits and rec.plan):
        return []
    return [Alternative(
        "max-connections",
        f"raise {'; '.join(changed)} (a restart; each connection costs server memory, so prefer PgBouncer "
        f"for large fleets)",
        rec.plan,
    )]


"""The connection arithmetic, per server: usable slots, steady, peak, rollout peak, headroom, verdict.

Each number carries the sentence that produced it, so a person can check it by hand. The lesson's rule
(``pool_size x workers <= max_connections``) ignores ``max_overflow``, the reserved slots, other clients and
rolling deploys; the figures here count all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from planner.model import Engine, Plan, Server

Verdict = Literal["safe", "tight", "unsafe"]
VERDICT_ORDER: dict[str, int] = {"safe": 0, "tight": 1, "unsafe": 2}

TIGHT_FRACTION = 0.10
"""A plan is ``tight`` when it fits with less than this share of the usable slots to spare."""


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
        }


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


def server_budget(plan: Plan, server: Server) -> ServerBudget:
    """The whole budget of ``server``: every figure, the verdict, and the arithmetic in words."""
    dep = plan.deployment
    direct = tuple(e for e in plan.engines_on(server.name) if not e.via_pgbouncer)
    routed = tuple(e for e in plan.engines_on(server.name) if e.via_pgbouncer)
    bouncer = plan.pgbouncer.server_connections if (plan.pgbouncer and routed) else 0

    processes = dep.instances * dep.workers
    rollout_processes = (dep.max_instances + dep.surge_instances) * dep.workers
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

    verdict = _verdict(usable, rollout)
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
    )


def _verdict(usable: int, rollout_peak: int | None) -> Verdict:
    if rollout_peak is None or usable <= 0 or rollout_peak > usable:
        return "unsafe"
    if usable - rollout_peak < TIGHT_FRACTION * usable:
        return "tight"
    return "safe"


def plan_budgets(plan: Plan) -> tuple[ServerBudget, ...]:
    """One budget per server of the plan, in the plan's order."""
    return tuple(server_budget(plan, s) for s in plan.servers)


def overall_verdict(budgets: tuple[ServerBudget, ...]) -> Verdict:
    """The worst verdict over all servers."""
    return max((b.verdict for b in budgets), key=VERDICT_ORDER.__getitem__, default="safe")

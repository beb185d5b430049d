"""Server-level rules of a plan with several services: each server's budget judged once, from what every service
can open there (``planner.budget``'s shares), and PgBouncer's ceiling from every service routed through it.

Their messages name each service's part ("primary: at rollout peak, orders-api 48 + billing-worker 12 +
reconcile-cron 2 + 15 via PgBouncer = 77 > 60 usable"); their fixes quote the shared recommendation
(``planner.sizing.recommend_for_plan``: every service sized together) or, when nothing fits, which service to cut.
The per-service rules (URLs, prepared statements, timeouts, unbounded pools, replica engines) run in
``planner.rules.static`` on each service's view of the plan.
"""

from __future__ import annotations

import math

from planner import ids
from planner.budget import ServerBudget, ServiceShare, pgbouncer_budget, plan_budgets, service_share
from planner.model import Finding, Plan
from planner.refusal import first_refusal
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds
from planner.sizing import Recommendation, recommend_for_plan
from planner.sizing.shared import advice_of, cut_text, shared_pgbouncer_need


def _bouncer_term(budget: ServerBudget) -> str:
    return f" + {budget.pgbouncer_connections} via PgBouncer" if budget.pgbouncer_connections else ""


def parts_text(budget: ServerBudget, moment: str) -> str:
    """The services' parts of one moment's total: ``orders-api 48 + billing-worker 12 + 15 via PgBouncer``.
    ``moment``: steady, peak, autoscale or rollout (summed as the plan's rollout setting says)."""
    shares = budget.shares
    if moment == "rollout" and budget.rollout == "one-at-a-time" and len(shares) > 1:
        largest = max(shares, key=lambda s: s.surge or 0)
        terms = " + ".join(f"{s.service} {s.autoscale_peak}" for s in shares)
        return f"{terms} + the largest surge ({largest.service} {largest.surge}){_bouncer_term(budget)}"
    field = {"steady": "steady", "peak": "peak", "autoscale": "autoscale_peak", "rollout": "rollout_peak"}[moment]
    terms = " + ".join(f"{s.service} {getattr(s, field)}" for s in shares) or "0"
    return terms + _bouncer_term(budget)


def _advised(plan: Plan, rec: Recommendation, server: str) -> list[tuple[str, str, int, int]]:
    """(service, engine, pool_size, max_overflow) the shared recommendation gives the direct engines on ``server``."""
    out = []
    for svc in plan.services:
        direct = {e.name for e in svc.engines_on(server) if not e.via_pgbouncer}
        out += [(svc.name, a.name, a.pool_size, a.max_overflow) for a in advice_of(rec, svc.name) if a.name in direct]
    return out


def budget_fix(plan: Plan, budget: ServerBudget, rec: Recommendation) -> tuple[str, str]:
    """The pools the shared recommendation gives every service on this server, or which services to cut."""
    advice = _advised(plan, rec, budget.name)
    if rec.fits and rec.plan is not None and advice:
        split = next((s for s in rec.splits if s.server == budget.name), None)
        settings = "; ".join(f"{svc}: {eng} pool_size={p}, max_overflow={o}" for svc, eng, p, o in advice)
        peak = f" (rollout peak {split.rollout_peak} <= {split.allowed} on {budget.name})" if split else ""
        return (f"use the pools python -m planner recommend gives every service sharing {budget.name}: {settings}"
                f"{peak}; or PgBouncer, or a higher max_connections",
                "\n".join(f"create_async_engine(url, pool_size={p}, max_overflow={o})  # {svc} engine {eng}"
                          for svc, eng, p, o in advice))
    cuts = [cut_text(c) for c in rec.cuts if c.server == budget.name]
    alts = [a.summary for a in rec.alternatives]
    return (f"nothing fits {budget.name} with every service's least pools ({'; '.join(rec.why)}): "
            + "; or ".join(cuts + alts or ["no single change found"]), "")


def _refusal(plan: Plan, server_name: str) -> str:
    server = plan.server(server_name)
    return first_refusal(server.major_version, server.superuser_reserved_connections, server.reserved_connections)


def _over(plan: Plan, budget: ServerBudget, rec: Recommendation) -> Finding:
    usable = budget.usable
    at_peak = budget.peak is not None and budget.peak > usable
    worst, moment = (budget.peak, "peak") if at_peak else (budget.rollout_peak, "rollout")
    rollout = f", rollout peak {budget.rollout_peak}" if at_peak else ""
    fix, snippet = budget_fix(plan, budget, rec)
    return Finding(
        ids.TOO_MANY_CONNECTIONS, "critical",
        f"{budget.name}: {'at peak' if at_peak else 'at rollout peak'}, {parts_text(budget, moment)} = {worst} > "
        f"{usable} usable (max_connections {budget.max_connections} - {budget.max_connections - usable} "
        f"reserved/other){rollout}; the server refuses the rest with '{_refusal(plan, budget.name)}'",
        fix, snippet, budget.name)


def _tight(plan: Plan, budget: ServerBudget, rec: Recommendation, thresholds: Thresholds) -> Finding:
    fix, snippet = budget_fix(plan, budget, rec)
    return Finding(
        ids.TOO_MANY_CONNECTIONS, "warning",
        f"{budget.name}: rollout peak {parts_text(budget, 'rollout')} = {budget.rollout_peak} leaves "
        f"{budget.headroom} of {budget.usable} usable slots ({budget.headroom / budget.usable:.0%}), less than the "
        f"{thresholds.tight_fraction:.0%} margin", fix, snippet, budget.name)


def _lesson(plan: Plan, budget: ServerBudget, rec: Recommendation) -> Finding:
    pools = " + ".join(f"{s.service} {s.per_process_steady} x {s.processes}" for s in budget.shares)
    return Finding(
        ids.OVERFLOW_EXCEEDS_BUDGET, "critical",
        f"{budget.name}: the lesson's rule passes (pool_size x processes: {pools} = {budget.lesson_rule_total} <= "
        f"max_connections {budget.max_connections}) but it ignores max_overflow: at peak "
        f"{parts_text(budget, 'peak')} = {budget.peak} > {budget.usable} usable",
        "count max_overflow in the budget: every service's processes x (pool_size + max_overflow), summed, must fit "
        "the usable slots", budget_fix(plan, budget, rec)[1], budget.name)


def _autoscale_total(budget: ServerBudget) -> int:
    return sum(s.autoscale_peak or 0 for s in budget.shares) + budget.pgbouncer_connections


def _growth(plan: Plan, budget: ServerBudget) -> list[Finding]:
    """Peak fits, rollout peak does not: the autoscalers' maxima (autoscale-exceeds-budget) or the surges
    (rollout-surge), with the parts of each service."""
    usable = budget.usable
    autoscale = _autoscale_total(budget)
    if autoscale > usable:
        scaled = [s.service for s in budget.shares if s.autoscale_peak != s.peak]
        return [Finding(
            ids.AUTOSCALE_EXCEEDS_BUDGET, "critical",
            f"{budget.name}: fits at the services' steady instances ({parts_text(budget, 'peak')} = {budget.peak} <= "
            f"{usable} usable), but at the autoscalers' maxima {parts_text(budget, 'autoscale')} = {autoscale} > "
            f"{usable} (and {budget.rollout_peak} during a rollout); maxSurge 0 would not help, the growth is the "
            f"autoscaler's",
            f"lower the autoscaler's maximum (HPA maxReplicas) of {', '.join(scaled) or 'the autoscaled services'}, "
            f"or smaller pools (python -m planner recommend sizes every service together), or PgBouncer in front",
            "", budget.name)]
    return [_surge(plan, budget, autoscale)]


def _surge(plan: Plan, budget: ServerBudget, autoscale: int) -> Finding:
    usable = budget.usable
    surging = [s for s in budget.shares if s.surge]
    fixes = []
    one_at_a_time = autoscale + max((s.surge or 0 for s in budget.shares), default=0)
    if budget.rollout == "together" and len(budget.shares) > 1 and one_at_a_time <= usable:
        largest = max(budget.shares, key=lambda s: s.surge or 0)
        fixes.append(f'roll the services out one at a time (rollout = "one-at-a-time": {autoscale} + the largest '
                     f"surge, {largest.service} {largest.surge}, = {one_at_a_time} <= {usable})")
    fixes.append("deploy " + ", ".join(s.service for s in surging) + " with maxSurge 0 / maxUnavailable >= 1 "
                 "(old pods stop before new ones start)")
    fixes.append("lower the pools so the rollout peak fits (python -m planner recommend)")
    return Finding(
        ids.ROLLOUT_SURGE, "critical",
        f"{budget.name}: fits in steady state and at the autoscaling maxima ({parts_text(budget, 'autoscale')} = "
        f"{autoscale} <= {usable} usable) but not while rolling deploys overlap old and new instances "
        f"({budget.rollout}): {parts_text(budget, 'rollout')} = {budget.rollout_peak} > {usable}",
        "; or ".join(fixes), "strategy:\n  rollingUpdate:\n    maxSurge: 0\n    maxUnavailable: 1", budget.name)


def shared_budget_findings(plan: Plan, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                           budgets: tuple[ServerBudget, ...] | None = None) -> list[Finding]:
    """too-many-connections, overflow-exceeds-budget, rollout-surge and autoscale-exceeds-budget, once per server,
    from the summed budget (unbounded pools are reported per service, by the per-service rules)."""
    out: list[Finding] = []
    rec = recommend_for_plan(plan)
    for budget in plan_budgets(plan, thresholds) if budgets is None else budgets:
        if budget.rollout_peak is None or not (budget.shares or budget.pgbouncer_connections):
            continue
        usable = budget.usable
        if usable <= 0:
            out.append(Finding(
                ids.TOO_MANY_CONNECTIONS, "critical",
                f"{budget.name}: usable = {budget.max_connections} - reserved - other clients = {usable}: no slot is "
                f"left for the services", "raise max_connections or lower other_clients/reserved slots", "",
                budget.name))
            continue
        if budget.rollout_peak > usable:
            out.append(_over(plan, budget, rec))
        elif budget.verdict == "tight":
            out.append(_tight(plan, budget, rec, thresholds))
        if budget.peak is not None and budget.peak > usable and budget.lesson_rule_total <= budget.max_connections:
            out.append(_lesson(plan, budget, rec))
        if budget.peak is not None and budget.peak <= usable < budget.rollout_peak:
            out += _growth(plan, budget)
    return out


def _clients_text(shares: tuple[ServiceShare, ...]) -> str:
    return " + ".join(f"{s.service} {s.rollout_peak}" for s in shares)


def shared_pgbouncer_findings(plan: Plan) -> list[Finding]:
    """PgBouncer's ceiling from every service routed through it: max_client_conn, session mode's pins, and its
    server pool against their summed traffic."""
    budget, bouncer = pgbouncer_budget(plan), plan.pgbouncer
    if budget is None or bouncer is None or budget.clients_rollout_peak is None:
        return []
    from_services = [(s, tuple(e for e in s.engines if e.via_pgbouncer)) for s in plan.services]
    shares = tuple(service_share(s, engines) for s, engines in from_services if engines)
    clients, servers = budget.clients_rollout_peak, budget.server_connections
    pool_text = f"default_pool_size {bouncer.default_pool_size} x pools {bouncer.pools} = {servers}"
    out = []
    if clients > bouncer.max_client_conn:
        out.append(Finding(
            ids.TOO_MANY_CONNECTIONS, "critical",
            f"PgBouncer: client connections at rollout peak {_clients_text(shares)} = {clients} > max_client_conn "
            f"{bouncer.max_client_conn}",
            f"max_client_conn = {clients} in pgbouncer.ini (client connections are cheap; server ones are not)",
            f"max_client_conn = {clients}", bouncer.server))
    if bouncer.pool_mode == "session" and clients > servers:
        out.append(Finding(
            ids.POOL_OVERLOAD, "critical",
            f"PgBouncer in session mode: {_clients_text(shares)} = {clients} client connections at rollout peak, each "
            f"holding a server connection until it disconnects, but {pool_text}: the other {clients - servers} wait "
            f"in PgBouncer and fail after query_wait_timeout (120 s by default)",
            "pool_mode = transaction (clients share the server connections between transactions)",
            "pool_mode = transaction", bouncer.server))
    need = shared_pgbouncer_need(plan)
    if need is not None and need[2].pool_size > servers:
        rps, busy, pool = need
        overloaded = busy >= servers
        out.append(Finding(
            ids.POOL_OVERLOAD, "critical" if overloaded else "warning",
            f"PgBouncer: every service through it, {rps:g} req/s, keeps {busy:.1f} server connections busy on "
            f"average, but {pool_text}: " + ("its queue grows until query_wait_timeout fails the clients"
                                              if overloaded else f"its clients wait beyond the p99 target, which "
                                                                 f"needs {pool.pool_size}"),
            f"default_pool_size = {math.ceil(pool.pool_size / bouncer.pools)} (sized by the queueing model for the "
            f"services' summed traffic), or shorten the transactions",
            f"default_pool_size = {math.ceil(pool.pool_size / bouncer.pools)}", bouncer.server))
    return out


__all__ = ["budget_fix", "parts_text", "shared_budget_findings", "shared_pgbouncer_findings"]

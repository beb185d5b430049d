"""Live findings from the in-app probes (``planner.probe``): what the application's own pool says.

Pure functions over ``ProbeReading`` rounds (oldest first; each round one reading per process and engine),
judged with the plan when there is one. Ids: ``pool-exhausted`` (requests waiting for a connection, or
timing out), ``pool-oversized`` (p99 checked out far below pool_size for a long window: connections held
for nothing), ``hold-time-drift`` (measured hold far from the plan's ``hold_ms``), ``pre-ping-failures``
(pooled connections found dead at checkout).
"""

from __future__ import annotations

from collections.abc import Sequence

from planner import ids
from planner.model import Engine, Finding, Plan
from planner.pool_verdict import belongs
from planner.probe.reading import ProbeReading
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds

PROBE_RULE_IDS = (ids.POOL_EXHAUSTED, ids.POOL_OVERSIZED, ids.HOLD_TIME_DRIFT, ids.PRE_PING_FAILURES)


def plan_engine(plan: Plan | None, service: str, engine: str) -> Engine | None:
    """The plan's engine behind a probe: by ``application_name`` (or name) and, with several, engine name; a
    plan with one engine and no name to match (the dashboard's sidebar plan) has that engine."""
    if plan is None:
        return None
    matches = [e for e in plan.engines if belongs(service, e.application_name or e.name)]
    named = [e for e in matches if e.name == engine]
    if not matches and len(plan.engines) == 1 and plan.engines[0].application_name is None:
        return plan.engines[0]
    return (named or matches or [None])[0]


def _services(readings: Sequence[ProbeReading]) -> dict[tuple[str, str], list[ProbeReading]]:
    out: dict[tuple[str, str], list[ProbeReading]] = {}
    for reading in readings:
        if reading.ok:
            out.setdefault((reading.service, reading.engine), []).append(reading)
    return out


def probe_findings(plan: Plan | None, rounds: Sequence[Sequence[ProbeReading]],
                   thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Finding]:
    """Findings for every service seen in the latest round (``pool-oversized`` looks at all rounds)."""
    if not rounds:
        return []
    findings: list[Finding] = []
    history = [r for round_ in rounds for r in round_]
    for (service, engine_name), latest in sorted(_services(rounds[-1]).items()):
        engine = plan_engine(plan, service, engine_name)
        server = engine.server if engine else None
        findings += _exhausted(service, latest, server)
        findings += _pre_ping(service, latest, server)
        findings += _drift(service, latest, plan, server, thresholds)
        past = [r for r in history if r.ok and (r.service, r.engine) == (service, engine_name)]
        findings += _oversized(service, past, server, thresholds)
    return findings


def _exhausted(service: str, latest: list[ProbeReading], server: str | None) -> list[Finding]:
    waiting = sum(r.waiting or 0 for r in latest)
    timeouts = sum(r.recent_timeouts or 0 for r in latest)
    if not waiting and not timeouts:
        return []
    full = sum(1 for r in latest if r.pool_size is not None and r.max_overflow is not None and r.max_overflow >= 0
               and (r.checked_out or 0) >= r.pool_size + r.max_overflow)
    message = (f"{service}: {waiting} request(s) waiting for a connection now and {timeouts} pool timeout(s) "
               f"{latest[0].span}, over {len(latest)} process(es), {full} of them at pool_size + max_overflow")
    return [Finding(
        id=ids.POOL_EXHAUSTED, severity="critical" if timeouts else "warning", message=message, server=server,
        fix="Find what holds the connections (the server's view: long transactions, locks, idle in transaction); "
            "if the load is real, size the pool for it (`python -m planner recommend`) within the server's budget.",
    )]


def _pre_ping(service: str, latest: list[ProbeReading], server: str | None) -> list[Finding]:
    failures = sum(r.recent_pre_ping_failures or 0 for r in latest)
    if not failures:
        return []
    return [Finding(
        id=ids.PRE_PING_FAILURES, severity="warning", server=server,
        message=f"{service}: {failures} pre-ping failure(s) {latest[0].span}: pooled connections were dead at "
                "checkout (server restart, idle_session_timeout, a load balancer's or NAT's idle timeout)",
        fix="Set pool_recycle below the shortest idle timeout between the application and the server, so "
            "connections are replaced before they are cut; pre-ping then only covers restarts.",
        snippet="create_async_engine(url, pool_pre_ping=True, pool_recycle=300)  # below the idle timeout",
    )]


def _drift(service: str, latest: list[ProbeReading], plan: Plan | None, server: str | None,
           th: Thresholds) -> list[Finding]:
    if plan is None or plan.workload is None:
        return []
    holds = [(r.hold_ms.mean, r.hold_ms.count) for r in latest if r.hold_ms and r.hold_ms.mean is not None]
    count = sum(n for _, n in holds)
    if count < th.hold_drift_min_checkouts:
        return []
    measured = sum(mean * n for mean, n in holds) / count
    planned = plan.workload.hold_ms
    if planned <= 0 or abs(measured / planned - 1) <= th.hold_drift_fraction:
        return []
    return [Finding(
        id=ids.HOLD_TIME_DRIFT, severity="warning", server=server,
        message=f"{service}: measured mean hold {measured:.1f} ms over {count} checkouts {latest[0].span} vs the "
                f"plan's hold_ms {planned:g} ms ({measured / planned:.1f}x): the pool was sized for another load",
        fix=f"Set workload.hold_ms = {measured:.1f} in the plan and re-run `python -m planner recommend`; a hold "
            "far above the query time means work done while holding the connection.",
    )]


def _oversized(service: str, past: list[ProbeReading], server: str | None, th: Thresholds) -> list[Finding]:
    by_pid: dict[int | None, list[ProbeReading]] = {}
    for reading in past:
        by_pid.setdefault(reading.pid, []).append(reading)
    for pid, readings in by_pid.items():
        pool_size = readings[-1].pool_size
        if pool_size is None or pool_size < th.pool_oversized_min_pool_size:
            continue
        span, checkouts, p99 = _use(readings)
        if span < th.pool_oversized_window_s or checkouts < th.pool_oversized_min_checkouts or p99 is None:
            continue
        if p99 <= th.pool_oversized_fraction * pool_size:
            return [Finding(
                id=ids.POOL_OVERSIZED, severity="info", server=server,
                message=f"{service} (pid {pid}): p99 of the connections checked out is {p99} of pool_size "
                        f"{pool_size} over {span:.0f} s and {checkouts} checkouts: the rest are held for nothing",
                fix=f"Lower pool_size towards {p99 + 1} (keep max_overflow for bursts) and give the slots back to "
                    "the server's budget; check a peak-hour window first.",
            )]
    return []


def _use(readings: list[ProbeReading]) -> tuple[float, int, int | None]:
    """(seconds covered, checkouts, highest p99 checked out) of one process's readings."""
    windowed = [r for r in readings if r.window_s is not None]
    if windowed:
        p99s = [r.checked_out_p99 for r in windowed if r.checked_out_p99 is not None]
        span = sum(r.window_s or 0.0 for r in windowed)
        return span, sum(r.checkouts_window or 0 for r in windowed), max(p99s) if p99s else None
    last = readings[-1]
    return last.uptime_s or 0.0, last.checkouts or 0, last.checked_out_p99

"""The joined view's data: per service and second, the in-app probes next to the server's view and the plan.

Pure (no Streamlit): ``joined_services`` takes the probe monitor's rounds, the server's samples and the plan,
and returns one ``JoinedService`` per service: a per-second frame (application side: checked out, overflow,
waiting, p99 wait, timeouts; server side: the service's connections by state), the plan's lines, the latest
readings per endpoint, and the verdict of ``planner.pool_verdict``. ``dashboard/probe_panel.py`` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from planner.model import Plan
from planner.pool_verdict import PgBouncerSide, PoolVerdict, app_side, belongs, judge, server_side, verdict_line
from planner.probe.reading import ProbeReading
from planner.rules.probe import plan_engine
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds
from planner.snapshot import Snapshot

APP_COLUMNS = ("app checked out", "app overflow", "app waiting", "app timeouts", "app p99 wait ms")


@dataclass(frozen=True)
class JoinedService:
    service: str
    verdict: PoolVerdict
    line: str
    """``verdict_line(verdict)``: the sentence the page shows (as text)."""
    frame: pd.DataFrame
    """Index: second (UTC); columns: ``APP_COLUMNS`` then ``server <state>`` per state seen."""
    plan_lines: dict[str, float | None]
    endpoints: list[ProbeReading]
    """The latest reading of every endpoint of the service, failed ones included (their status is the gap)."""


def _second(value: float | datetime) -> pd.Timestamp:
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return pd.Timestamp(moment).floor("s")


def _app_rows(service: str, rounds: Sequence[tuple[float, Sequence[ProbeReading]]]) -> dict[pd.Timestamp, dict]:
    """Per round, the service's processes summed; a round where every endpoint failed is a row of gaps."""
    rows = {}
    for taken_at, readings in rounds:
        side = app_side(service, readings)
        values = dict.fromkeys(APP_COLUMNS, float("nan")) if side is None else {
            "app checked out": side.checked_out, "app overflow": side.overflow, "app waiting": side.waiting,
            "app timeouts": side.timeouts, "app p99 wait ms": side.wait_p99_ms,
        }
        rows[_second(taken_at)] = values
    return rows


def _server_rows(service: str, snapshots: Sequence[Snapshot]) -> dict[pd.Timestamp, dict | None]:
    rows: dict[pd.Timestamp, dict | None] = {}
    for snap in snapshots:
        side = server_side(service, snap)
        ok = side is not None and snap.ok
        rows[_second(snap.taken_at)] = {f"server {s}": n for s, n in side.by_state.items()} if ok else None
    return rows


def _aligned(rows: dict[pd.Timestamp, dict | None], columns: list[str], index: pd.DatetimeIndex) -> pd.DataFrame:
    """One side's rows on the common seconds: each second takes the side's nearest row within 1.5 s (the two
    samplers tick apart), so only a failed sample or a real pause is a gap."""
    frame = pd.DataFrame(
        [{c: float("nan") for c in columns} if v is None else {c: v.get(c, 0.0) for c in columns}
         for v in rows.values()], index=pd.DatetimeIndex(list(rows), name="second"), columns=columns, dtype=float)
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    if frame.empty:
        return frame.reindex(index)
    return frame.reindex(index, method="nearest", tolerance=pd.Timedelta(seconds=1.5))


def service_frame(service: str, rounds, snapshots) -> pd.DataFrame:
    """Per second, both sides; a second one side missed is a gap (NaN) on that side, never a zero."""
    app, server = _app_rows(service, rounds), _server_rows(service, snapshots)
    index = pd.DatetimeIndex(sorted(set(app) | set(server)), name="second")
    server_columns = sorted({c for values in server.values() if values for c in values})
    return pd.concat([_aligned(app, list(APP_COLUMNS), index), _aligned(server, server_columns, index)], axis=1)


def plan_lines(plan: Plan | None, service: str, processes: int) -> dict[str, float | None]:
    """pool_size and pool_size + max_overflow over the processes seen, and the plan's fleet ceiling."""
    engine = plan_engine(plan, service, "default")
    if engine is None:
        return {}
    fleet = plan.deployment.processes  # type: ignore[union-attr]
    ceiling = engine.ceiling
    return {
        f"pool_size x {processes}": float(engine.pool_size * processes),
        f"pool_size + max_overflow x {processes}": None if ceiling is None else float(ceiling * processes),
        f"fleet ceiling ({fleet} processes)": None if ceiling is None else float(ceiling * fleet),
    }


def services_in(rounds: Sequence[tuple[float, Sequence[ProbeReading]]]) -> list[str]:
    return sorted({r.service for _, readings in rounds for r in readings})


def joined_services(rounds: Sequence[tuple[float, Sequence[ProbeReading]]], snapshots: Sequence[Snapshot],
                    plan: Plan | None, *, pgbouncer: dict[str, PgBouncerSide] | None = None,
                    thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[JoinedService]:
    """One joined view per service the probes report (oldest-first rounds and samples of one server)."""
    latest_round = rounds[-1][1] if rounds else []
    latest_snapshot = snapshots[-1] if snapshots else None
    out = []
    for service in services_in(rounds):
        app = app_side(service, latest_round)
        verdict = judge(app, server_side(service, latest_snapshot), (pgbouncer or {}).get(service), thresholds,
                        service=service)
        endpoints = [r for r in latest_round if r.service == service]
        out.append(JoinedService(service, verdict, verdict_line(verdict), service_frame(service, rounds, snapshots),
                                 plan_lines(plan, service, app.processes if app else 0), endpoints))
    return out


def endpoint_table(service: JoinedService) -> pd.DataFrame:
    """The latest reading per endpoint and process: status first (a gap says why)."""
    rows = [{"endpoint": r.endpoint, "pid": r.pid, "status": r.status, "checked out": r.checked_out,
             "idle": r.idle, "overflow": r.overflow, "waiting": r.waiting, "timeouts": r.timeouts,
             "p99 wait ms": r.wait_ms.p99 if r.wait_ms else None,
             "p99 hold ms": r.hold_ms.p99 if r.hold_ms else None} for r in service.endpoints]
    return pd.DataFrame(rows)


__all__ = ["APP_COLUMNS", "JoinedService", "belongs", "endpoint_table", "joined_services", "plan_lines",
           "service_frame"]

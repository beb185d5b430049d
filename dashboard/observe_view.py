"""The "Observed" panel's content, without Streamlit: per service, the measured workload as a table (rate, hold,
busy quantiles, censoring), the model checked live (predicted against measured P(wait) and p99 wait over the
same window) and the inputs "Use measured workload" puts into the sidebar.

Every figure comes from ``dashboard.live.observe.observe`` (the same code as ``live observe``); service names
are server strings and go into ``st.dataframe`` / ``st.text`` cells only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from dashboard.live.observe import ServiceResult
from dashboard.state import Inputs


@dataclass(frozen=True, slots=True)
class ObservedService:
    name: str
    table: pd.DataFrame
    line: str
    """One sentence: where rate and hold came from, and "at least" when censored."""
    model: pd.DataFrame | None
    mismatch: bool
    inputs_change: dict[str, object] | None
    """What "Use measured workload" sets (None: rate and hold not measurable, nothing to fill in)."""


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def service_view(result: ServiceResult) -> ObservedService:
    o = result.observation
    floor = "at least " if o.censored else ""
    rows = [("samples", str(o.samples)), ("processes", f"{o.processes} ({result.processes_from})"),
            ("busy mean / p95 / p99 / max", f"{o.busy.mean:.2f} / {o.busy.p95:g} / {o.busy.p99:g} / {o.busy.max}"),
            ("offered load (fleet, per process)",
             f"{floor}{o.offered_fleet:.2f} / {o.offered_per_process:.2f} erlangs"),
            ("rate", "not measurable here" if o.rate_rps is None else f"{floor}{o.rate_rps:.1f} req/s"),
            ("hold", "not measurable here" if o.hold_ms is None else
             f"{o.hold_ms:.2f} ms" + (f" ({o.hold_shape})" if o.hold_shape else "")),
            ("source", str(o.source)),
            ("censored", f"yes: busy at the {o.censored_by} in {o.at_cap_fraction:.0%} of samples" if o.censored
             else "no")]
    if result.advice is not None and result.advice.pool_size is not None:
        advice = result.advice
        rows.append(("recommended", f"{floor}pool_size {advice.pool_size}, max_overflow {advice.max_overflow}"
                     f" ({result.advice.method}), predicted p99 wait {_num(result.advice.p99_wait_ms, 1)} ms"))
    table = pd.DataFrame(rows, columns=["measure", "value"])
    if o.measurable:
        line = f"{o.name}: rate and hold from {o.source}" + (
            "; censored: the true demand is at least this" if o.censored else "")
    else:
        line = f"{o.name}: only the offered load is measurable here (no probe, no PgBouncer, shared database)"
    model, mismatch = None, False
    if result.model is not None:
        m = result.model
        model = pd.DataFrame([("P(wait)", f"{m.predicted_p_wait:.3f}", f"{m.measured_p_wait:.3f}"),
                              ("p99 checkout wait (ms)", f"{m.predicted_p99_ms:.1f}", f"{m.measured_p99_ms:.1f}")],
                             columns=["over the same window", "predicted (queueing model)", "measured (probe)"])
        mismatch = m.disagrees()
    return ObservedService(o.name, table, line, model, mismatch, measured_inputs(result))


def measured_inputs(result: ServiceResult) -> dict[str, object] | None:
    """The sidebar's workload inputs from the measurement: rate, hold and its distribution (``const`` when the
    probe saw a constant hold, else ``exp``: the sidebar has no lognormal), processes as instances x 1 worker
    unless the page already has that many processes."""
    o = result.observation
    if not o.measurable:
        return None
    return {"rps": round(o.rate_rps, 1), "hold_ms": round(o.hold_ms, 2),  # type: ignore[arg-type]
            "hold_dist": "const" if o.hold_shape == "constant" else "exp"}


def apply_measured(inputs: Inputs, change: dict[str, object]) -> Inputs:
    return dataclasses.replace(inputs, **change)

"""The queueing model checked live: ``model-mismatch`` when the probe's measured P(wait) or p99 checkout wait
disagrees with what ``planner.queueing.predict_wait`` predicts for the same pool at the measured rate and hold,
beyond the benchmark's tolerance (``Thresholds.model_mismatch_*``; docs/queueing.md). Either the workload is
not what the model assumes (arrivals in bursts, holds that all stretch together, a CPU-starved event loop), or
the model is wrong here: both worth knowing before trusting its pool sizes. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner import ids
from planner.model import Finding
from planner.observe import Observation, ProbeWindow, Source
from planner.observe_sizing import measured_workload
from planner.queueing import predict_wait
from planner.queueing.requirement import workload_hold
from planner.rules.thresholds import DEFAULT_THRESHOLDS, Thresholds

RULE_ID = ids.MODEL_MISMATCH


@dataclass(frozen=True, slots=True)
class ModelCheck:
    """Predicted against measured over the same window, for one service's current pool."""

    service: str
    pool_size: int
    max_overflow: int
    per_process_rps: float
    predicted_p_wait: float
    measured_p_wait: float
    predicted_p99_ms: float
    measured_p99_ms: float
    checkouts: int

    def disagrees(self, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> bool:
        if self.checkouts < thresholds.model_mismatch_min_checkouts:
            return False
        p_wait_off = abs(self.measured_p_wait - self.predicted_p_wait) > thresholds.model_mismatch_p_wait
        gap = abs(self.measured_p99_ms - self.predicted_p99_ms)
        scale = max(self.predicted_p99_ms, thresholds.model_mismatch_p99_floor_ms)
        p99_off = gap > thresholds.model_mismatch_p99_floor_ms and gap / scale > thresholds.model_mismatch_p99_fraction
        return p_wait_off or p99_off


def model_check(obs: Observation, probe: ProbeWindow | None, pool_timeout_s: float = 30.0) -> ModelCheck | None:
    """The comparison, when the probe measured the waits and reported its pool (else None: nothing to check)."""
    if obs.source is not Source.PROBE or probe is None or probe.pool_size is None or obs.p_wait is None \
            or obs.wait_p99_ms is None:
        return None
    workload = measured_workload(obs)
    if workload is None:
        return None
    per_process = workload.rps / max(1, probe.processes or obs.processes)
    predicted = predict_wait(per_process, workload_hold(workload), probe.pool_size, max(0, probe.max_overflow or 0),
                             pool_timeout_s)
    return ModelCheck(obs.name, probe.pool_size, max(0, probe.max_overflow or 0), per_process,
                      round(predicted.p_wait, 4), round(obs.p_wait, 4), round(predicted.wait_p99_ms, 3),
                      round(obs.wait_p99_ms, 3), probe.checkouts)


def model_mismatch_findings(checks: list[ModelCheck | None],
                            thresholds: Thresholds = DEFAULT_THRESHOLDS) -> list[Finding]:
    findings = []
    for check in checks:
        if check is None or not check.disagrees(thresholds):
            continue
        findings.append(Finding(
            id=RULE_ID, severity="warning",
            message=(f"{check.service}: the queueing model predicts P(wait) {check.predicted_p_wait:.3f} and p99 "
                     f"checkout wait {check.predicted_p99_ms:.1f} ms for pool_size {check.pool_size} + "
                     f"max_overflow {check.max_overflow} at {check.per_process_rps:.4g} req/s per process; the "
                     f"probe measured P(wait) {check.measured_p_wait:.3f} and p99 {check.measured_p99_ms:.1f} ms "
                     f"over {check.checkouts} checkouts"),
            fix=("the workload is not what the model assumes (bursty arrivals, holds that stretch together, a "
                 "CPU-starved event loop) or the model is wrong here: size from the measured waits, leave headroom, "
                 "and check the event loop's lag before trusting the predicted pool")))
    return findings

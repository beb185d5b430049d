"""The recommendation from a measured workload: a ``Workload`` built from an ``Observation``, sized by the one
sizing function (``planner.sizing.recommend_for_plan``), with the queueing model's predicted p99 wait.

Pure. With a plan, the plan's servers, deployment and the engine whose ``application_name`` is the service are
kept and only the workload is replaced; with a plan of several services, every measured service's workload
replaces its planned one and they are sized together on their shared servers (``recommend_observed_services``:
each service's advice and the shared server's split come from the same shared sizing); without one, the server is
the sampled one (its max_connections and reserved slots, the other applications' connections as ``other_clients``)
and the deployment is the observed processes, one worker each, no surge (a rollout was not observed: give a plan
for that).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from planner.model import Deployment, Engine, InputError, Plan, Server, Service, Workload
from planner.observe import Observation, Source
from planner.queueing import DEFAULT_CONNECT_MS, HoldTime, WaitPrediction, predict_wait
from planner.queueing.requirement import SIM_ARRIVALS, workload_hold
from planner.sizing import Recommendation, recommend_for_plan
from planner.sizing.results import ServerSplit, ServiceCut
from planner.sizing.shared import advice_of

CONNECT_SHARE = 0.01
"""At most this share of checkouts may open an overflow connection in the recommended pool (see
``keep_connects_out_of_p99``)."""
LITTLE_NOMINAL_HOLD_MS = 1000.0
"""Without a measured rate and hold only their product (the offered load) is known: Little's law sizes from it
alone, so it is fed as rate = offered load per second at this nominal hold."""
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """The sampled server, for a plan built without a plan file."""

    max_connections: int
    superuser_reserved_connections: int = 3
    reserved_connections: int = 0
    major_version: int = 16
    other_clients: int = 0


@dataclass(frozen=True, slots=True)
class ObservedAdvice:
    """What the measured workload needs: pool numbers, their predicted p99 wait and how they were found."""

    pool_size: int | None
    max_overflow: int | None
    p99_wait_ms: float | None
    """Predicted by the queueing model for the recommended pool at the measured rate and hold (None without a
    measured rate and hold)."""
    p_wait: float | None
    fits: bool
    method: str
    """``queueing`` (rate and hold measured) or ``littles-law`` (offered load only)."""
    workload: Workload | None
    reasons: tuple[str, ...] = ()
    plan: Plan | None = None
    """The recommended plan (for ``export``), None when nothing fits."""
    service: str | None = None
    """The planned service it was sized as, in a plan with several services (None otherwise)."""
    splits: tuple[ServerSplit, ...] = ()
    """A plan with several services: how the shared sizing split each server between them."""
    cuts: tuple[ServiceCut, ...] = ()
    """... and, when their least needs do not fit, which services to cut."""

    def as_dict(self) -> dict[str, object]:
        skip = ("workload", "plan", "splits", "cuts")
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}
        out["reasons"] = list(self.reasons)
        out["workload"] = None if self.workload is None else dataclasses.asdict(self.workload)
        if self.splits or self.cuts:
            out["shared_servers"] = [split.as_dict() for split in self.splits]
            out["cuts"] = [cut.as_dict() for cut in self.cuts]
        return out


def measured_workload(obs: Observation, target_p99_ms: float = 10.0,
                      request_timeout_s: float | None = None) -> Workload | None:
    """The fleet's workload as measured (None when rate and hold are not measurable here)."""
    if not obs.measurable or obs.rate_rps <= 0 or obs.hold_ms <= 0:  # type: ignore[operator]
        return None
    rate = obs.rate_rps
    if obs.censored and obs.demand_rps is not None and obs.demand_rps > rate:  # type: ignore[operator]
        rate = obs.demand_rps  # the probe counted the requests the saturated pool kept waiting or timed out
    rps, hold = round(rate, 4), round(obs.hold_ms, 4)  # type: ignore[arg-type]
    common = {"rps": rps, "hold_ms": hold, "target_p99_wait_ms": target_p99_ms, "request_timeout_s": request_timeout_s}
    if obs.hold_shape == "constant" or (obs.hold_percentiles is None and obs.source is Source.PROBE):
        return Workload(**common, hold_dist="const" if obs.hold_shape == "constant" else None)
    if obs.hold_percentiles is not None:
        p50, p95, p99 = (max(0.001, round(v, 4)) for v in obs.hold_percentiles)
        return Workload(**common, hold_p50_ms=p50, hold_p95_ms=max(p50, p95), hold_p99_ms=max(p50, p95, p99))
    return Workload(**common)


def engine_name(service: str) -> str:
    return (_SAFE.sub("_", service)[:63]) or "service"


def observed_plan(obs: Observation, workload: Workload, plan: Plan | None, server: ServerFacts | None) -> Plan:
    """The plan to size: the given plan with the measured workload, or one built from the sampled server."""
    if plan is not None and plan.multi_service:
        return services_plan(plan, {obs.name: (obs, workload)})
    if plan is not None:
        engines = tuple(e for e in plan.engines if (e.application_name or e.name) == obs.name) or plan.engines[:1]
        engines = tuple(dataclasses.replace(e, traffic_share=1.0) for e in engines[:1])
        return dataclasses.replace(plan, engines=engines, workload=workload)
    if server is None:
        raise InputError("server", "give a plan or the sampled server's settings")
    facts = Server(max_connections=server.max_connections,
                   superuser_reserved_connections=server.superuser_reserved_connections,
                   reserved_connections=server.reserved_connections if server.major_version >= 16 else 0,
                   major_version=server.major_version, other_clients=server.other_clients)
    return Plan(servers=(facts,), engines=(Engine(name=engine_name(obs.name), application_name=obs.name[:63]),),
                deployment=Deployment(instances=obs.processes, workers=1, surge=0), workload=workload)


def recommend_observed(obs: Observation, *, plan: Plan | None = None, server: ServerFacts | None = None,
                       target_p99_ms: float = 10.0) -> ObservedAdvice:
    """Pool numbers for the measured workload through ``recommend_for_plan``, with the predicted p99 wait."""
    if plan is not None and plan.multi_service:
        return recommend_observed_services([obs], plan, target_p99_ms=target_p99_ms)[obs.name]
    workload = measured_workload(obs, target_p99_ms, plan.workload.request_timeout_s if plan and plan.workload
                                 else None)
    if workload is None:
        offered = max(obs.offered_fleet, 0.0)
        nominal = Workload(rps=round(offered, 6), hold_ms=LITTLE_NOMINAL_HOLD_MS, target_p99_wait_ms=target_p99_ms)
        rec = recommend_for_plan(observed_plan(obs, nominal, plan, server), model="littles-law")
        note = (f"rate and hold not measurable here ({obs.source}): sized by Little's law from the offered load "
                f"alone ({offered:.2f} erlangs, fed as {offered:.4g} req/s x {LITTLE_NOMINAL_HOLD_MS:g} ms); no "
                "p99 wait can be predicted without the hold")
        return ObservedAdvice(rec.pool_size, rec.max_overflow, None, None, rec.fits, "littles-law", None,
                              (note, *(rec.reasons or rec.why)), rec.plan)
    sized = observed_plan(obs, workload, plan, server)
    rec = recommend_for_plan(sized)
    if not rec.fits or rec.pool_size is None:
        return ObservedAdvice(None, None, None, None, False, "queueing", workload, rec.why)
    per_process = workload.per_worker_rps(sized.deployment)
    shifted = keep_connects_out_of_p99(per_process, workload_hold(workload), rec.pool_size, rec.max_overflow or 0,
                                       rec.pool_timeout or 30.0)
    reasons = rec.reasons if shifted.moved == 0 else (*rec.reasons, shifted.reason(rec.pool_size))
    return ObservedAdvice(shifted.pool_size, shifted.max_overflow, round(shifted.prediction.wait_p99_ms, 3),
                          round(shifted.prediction.p_wait, 4), True, "queueing", workload, reasons,
                          _with_pool(rec.plan, obs.name, shifted.pool_size, shifted.max_overflow))


@dataclass(frozen=True, slots=True)
class ConnectShift:
    """The pool after moving connections from max_overflow to pool_size (``moved`` of them)."""

    pool_size: int
    max_overflow: int
    prediction: WaitPrediction
    moved: int
    connect_share_before: float

    def reason(self, was: int) -> str:
        return (f"pool_size {was} -> {self.pool_size}, max_overflow {self.max_overflow + self.moved} -> "
                f"{self.max_overflow} (the same ceiling, so it fits as before): with pool_size {was} the model "
                f"sends {self.connect_share_before:.1%} of checkouts to open an overflow connection, whose connect "
                f"time (assumed {DEFAULT_CONNECT_MS:g} ms, not measured here, far longer on a loaded host) would "
                f"then decide the p99 wait; at most {CONNECT_SHARE:.0%} now")


def keep_connects_out_of_p99(rate_per_s: float, hold: HoldTime, pool_size: int, max_overflow: int,
                             pool_timeout_s: float) -> ConnectShift:
    """Move connections from max_overflow to pool_size until at most ``CONNECT_SHARE`` of checkouts open one.

    An overflow connection is opened at checkout and closed at check-in: its checkout waits for the connect,
    which the model can only assume (5 ms) and which the live side does not measure. When more than 1 % of
    checkouts open one, the p99 wait is a connect time, and a slow connect (a loaded host: measured up to 50 ms
    and more) misses the target the pool was sized for. ``pool_size`` alone already meets the target (the
    sizing's search is without overflow), so keeping connects out of the p99 leaves it a queue wait the model
    predicts. The ceiling (pool_size + max_overflow), which the sizing fitted to the server, is unchanged."""
    first = predict_wait(rate_per_s, hold, pool_size, max_overflow, pool_timeout_s)
    before = first.connects_per_s / rate_per_s if rate_per_s > 0 else 0.0
    size, overflow, share = pool_size, max_overflow, before
    while overflow > 0 and share > CONNECT_SHARE:  # each step a shorter simulation; the answer a full one
        size, overflow = size + 1, overflow - 1
        share = predict_wait(rate_per_s, hold, size, overflow, pool_timeout_s,
                             sim_arrivals=SIM_ARRIVALS).connects_per_s / rate_per_s
    prediction = first if size == pool_size else predict_wait(rate_per_s, hold, size, overflow, pool_timeout_s)
    return ConnectShift(size, overflow, prediction, size - pool_size, before)


def _with_pool(plan: Plan | None, service: str, pool_size: int, max_overflow: int) -> Plan | None:
    """The recommended plan with the service's engine at these pool numbers."""
    if plan is None:
        return None
    engines = tuple(dataclasses.replace(e, pool_size=pool_size, max_overflow=max_overflow)
                    if (e.application_name or e.name) == service[:63] or len(plan.engines) == 1 else e
                    for e in plan.engines)
    return dataclasses.replace(plan, engines=engines)


def services_plan(plan: Plan, measured: Mapping[str, tuple[Observation, Workload]], on: str | None = None) -> Plan:
    """A multi-service plan with each measured service's workload in place of its planned one (the service found by
    application_name, ``Plan.service_of``); a service the plan does not know is added, on server ``on`` (the
    first server by default), as its observed processes, one worker each, no surge."""
    services = list(plan.services)
    names = {s.name: i for i, s in enumerate(services)}
    for name, (obs, workload) in measured.items():
        planned = plan.service_of(name)
        if planned is not None:
            i = names[planned]
            timeout = services[i].workload.request_timeout_s if services[i].workload else None
            services[i] = dataclasses.replace(services[i], workload=dataclasses.replace(
                workload, request_timeout_s=timeout if timeout is not None else workload.request_timeout_s))
            continue
        label = engine_name(name) if engine_name(name) not in names else engine_name(name)[:54] + "-unplanned"
        names[label] = len(services)
        services.append(Service(name=label, engines=(Engine(name=engine_name(name), server=on or plan.servers[0].name,
                                                            application_name=name[:63]),),
                                deployment=Deployment(instances=max(obs.processes, 1), workers=1, surge=0),
                                workload=workload))
    return plan.with_services(tuple(services))


def planned_engine(plan: Plan | None, application_name: str) -> tuple[Engine, Deployment] | None:
    """The planned engine of an observed application (its engine with that application_name; in a multi-service
    plan, its service's first engine otherwise) and its service's deployment; None when the plan has none."""
    if plan is None:
        return None
    for service in plan.services:
        engine = next((e for e in service.engines if (e.application_name or e.name) == application_name), None)
        if engine is not None:
            return engine, service.deployment
    name = plan.service_of(application_name) if plan.multi_service else None
    return (plan.service(name).engines[0], plan.service(name).deployment) if name else None


def _nominal(obs: Observation, target_p99_ms: float) -> Workload:
    """Little's law's input when only the offered load is known: rate = offered load at a nominal hold."""
    offered = max(obs.offered_fleet, 0.0)
    return Workload(rps=round(offered, 6), hold_ms=LITTLE_NOMINAL_HOLD_MS, target_p99_wait_ms=target_p99_ms)


def recommend_observed_services(observations: Sequence[Observation], plan: Plan, *, target_p99_ms: float = 10.0,
                                on: str | None = None) -> dict[str, ObservedAdvice]:
    """Per observed service of a multi-service plan, its advice from ONE shared sizing of every service with its
    measured workload (the others as planned): each service's pools, and how each shared server is split."""
    measured: dict[str, tuple[Observation, Workload]] = {}
    littles = set()
    for obs in observations:
        planned = plan.service_of(obs.name)
        timeout = plan.service(planned).workload.request_timeout_s if planned and plan.service(planned).workload \
            else None
        workload = measured_workload(obs, target_p99_ms, timeout)
        if workload is None:
            workload = _nominal(obs, target_p99_ms)
            littles.add(obs.name)
        measured[obs.name] = (obs, workload)
    sized = services_plan(plan, measured, on)
    labels = {name: _label(sized, name) for name in measured}
    rec = recommend_for_plan(sized, littles_law=frozenset(labels[n] for n in littles))
    return {name: _service_advice(obs, workload, sized, labels[name], rec, name in littles)
            for name, (obs, workload) in measured.items()}


def _label(plan: Plan, application_name: str) -> str:
    """The service an observed application_name was sized as (``services_plan`` added the unplanned ones)."""
    return plan.service_of(application_name) or next(
        s.name for s in plan.services if application_name[:63] in s.application_names)


def _service_advice(obs: Observation, workload: Workload, plan: Plan, service: str, rec: Recommendation,
                    littles: bool) -> ObservedAdvice:
    advice = advice_of(rec, service)
    shared = {"service": service, "splits": rec.splits, "cuts": rec.cuts}
    method = "littles-law" if littles else "queueing"
    if not rec.fits or not advice:
        return ObservedAdvice(None, None, None, None, False, method, None if littles else workload, rec.why,
                              **shared)
    engine = next((a for a in advice if a.name == engine_name(obs.name)), advice[0])
    reasons = tuple(r for r in rec.reasons if r.startswith((f"{service}:", f"{service}/")))
    if littles:
        note = (f"rate and hold not measurable here ({obs.source}): sized by Little's law from the offered load "
                f"alone ({max(obs.offered_fleet, 0.0):.2f} erlangs); no p99 wait can be predicted without the hold")
        return ObservedAdvice(engine.pool_size, engine.max_overflow, None, None, True, method, None,
                              (note, *reasons), rec.plan, **shared)
    per_process = workload.per_worker_rps(plan.service(service).deployment)
    prediction = predict_wait(per_process, workload_hold(workload), engine.pool_size, engine.max_overflow,
                              engine.pool_timeout)
    return ObservedAdvice(engine.pool_size, engine.max_overflow, round(prediction.wait_p99_ms, 3),
                          round(prediction.p_wait, 4), True, method, workload, reasons, rec.plan, **shared)


def provenance_note(obs: Observation, advice: ObservedAdvice, server: str, window_s: float, taken: str) -> str:
    """One line saying where the exported numbers came from (``export``'s comment line)."""
    floor = "at least " if obs.censored else ""
    if obs.measurable:
        measured = (f"rate {floor}{obs.rate_rps:.4g} req/s and hold {obs.hold_ms:.4g} ms from {obs.source}"
                    + (f" ({obs.hold_shape})" if obs.hold_shape else ""))
    else:
        measured = f"offered load {floor}{obs.offered_fleet:.3g} erlangs only (rate and hold not measurable here)"
    target = f", sized for p99 wait <= {advice.workload.target_p99_wait_ms:g} ms" if advice.workload else ""
    return (f"workload measured by pool-planner live observe on {server} at {taken} over {window_s:.0f} s "
            f"({obs.samples} samples): {obs.name} {measured}, busy mean {obs.busy.mean:.2f} over {obs.processes} "
            f"processes; pool by {advice.method}{target}")

"""The sizing's typed results: each engine's advice, the recommendation, the alternatives, and the typed
shortfalls (which limit, on which server, need against have) the alternatives choose by."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from planner.model import Plan
from planner.plan_io import plan_to_data


@dataclass(frozen=True, slots=True)
class EngineAdvice:
    """Recommended settings of one engine, each with its reason."""

    name: str
    server: str
    pool_size: int
    max_overflow: int
    pool_timeout: float
    pool_recycle: float
    pool_pre_ping: bool
    required_pool_size: int
    """The workload's minimum (1 without a workload)."""
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class Alternative:
    """One change that would make the plan fit, and the recommendation under it."""

    change: str
    """``fewer-workers``, ``pgbouncer``, ``pgbouncer-settings`` or ``max-connections``."""
    summary: str
    plan: Plan

    def as_dict(self) -> dict[str, object]:
        return {"change": self.change, "summary": self.summary, "plan": plan_to_data(self.plan, mask=True)}


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The recommended plan (``fits``), or why nothing fits and what would (``alternatives``)."""

    fits: bool
    plan: Plan | None
    """The plan the numbers imply; None when nothing fits (never a best effort that does not fit)."""
    engines: tuple[EngineAdvice, ...]
    workers: int
    reasons: tuple[str, ...]
    """One sentence per number, with its arithmetic."""
    why: tuple[str, ...] = ()
    """When nothing fits: the arithmetic that shows it."""
    alternatives: tuple[Alternative, ...] = ()
    shortfalls: tuple[Shortfall, ...] = ()
    """When nothing fits: the typed form of ``why`` (which limit, on which server, need against have)."""
    services: tuple[ServiceAdvice, ...] = ()
    """A plan with several services: each one's engines as sized together on the shared servers (``engines`` above
    is the first service's, as ``Plan.engines`` is). Empty for a single-service plan."""
    splits: tuple[ServerSplit, ...] = ()
    """A plan with several services: how each server's allowed connections were split between them."""
    cuts: tuple[ServiceCut, ...] = ()
    """When the services' least needs do not fit a shared server: which service to cut, and by how much."""

    def _first(self, name: str):
        return getattr(self.engines[0], name) if self.engines else None

    @property
    def pool_size(self) -> int | None:
        return self._first("pool_size")

    @property
    def max_overflow(self) -> int | None:
        return self._first("max_overflow")

    @property
    def pool_timeout(self) -> float | None:
        return self._first("pool_timeout")

    @property
    def pool_recycle(self) -> float | None:
        return self._first("pool_recycle")

    def as_dict(self) -> dict[str, object]:
        return {
            "fits": self.fits,
            "workers": self.workers,
            "pool_size": self.pool_size,
            "max_overflow": self.max_overflow,
            "pool_timeout": self.pool_timeout,
            "pool_recycle": self.pool_recycle,
            "engines": [e.as_dict() for e in self.engines],
            "reasons": list(self.reasons),
            "why": list(self.why),
            "alternatives": [a.as_dict() for a in self.alternatives],
            "plan": plan_to_data(self.plan, mask=True) if self.plan else None,
            **({"services": [s.as_dict() for s in self.services], "splits": [s.as_dict() for s in self.splits],
                "cuts": [c.as_dict() for c in self.cuts]} if self.services else {}),
        }


@dataclass(frozen=True, slots=True)
class ServiceAdvice:
    """One service's engines as ``recommend`` sizes them on servers it shares with other services."""

    service: str
    engines: tuple[EngineAdvice, ...]
    workers: int
    weight: float
    """Its weight when a shared server is split: its ``priority``, or its offered load (erlangs) when no service
    sets one."""
    weighed_by: str
    """``priority`` or ``load``."""

    def as_dict(self) -> dict[str, object]:
        return {"service": self.service, "workers": self.workers, "weight": self.weight, "weighed_by": self.weighed_by,
                "engines": [e.as_dict() for e in self.engines]}


@dataclass(frozen=True, slots=True)
class ServicePart:
    """One service's part of one shared server, in connections at the plan's rollout peak."""

    service: str
    weight: float
    least: int
    """What its pools need at the least (the workload's minimum per process) at rollout peak."""
    wanted: int
    """What its pools would take with their full burst allowance at rollout peak."""
    given: int
    """What the recommendation gives it at rollout peak (its per-process ceiling x its rollout processes)."""
    per_process: int
    """The per-process ceiling (pool_size + max_overflow over its engines on this server) it was given."""

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class ServerSplit:
    """How one server's allowed connections at rollout peak were shared between the services on it."""

    server: str
    allowed: int
    """usable - spare: the most connections the rollout peak may reach."""
    pgbouncer: int
    """PgBouncer's server connections, taken first."""
    rule: str
    """``wanted`` (everyone's full pools fit), ``load`` or ``priority`` (split by weight), ``short`` (the least
    needs do not fit)."""
    parts: tuple[ServicePart, ...]
    rollout_peak: int
    """The rollout peak of the given pools, PgBouncer's included (summed as the plan's ``rollout`` says)."""

    def as_dict(self) -> dict[str, object]:
        return {"server": self.server, "allowed": self.allowed, "pgbouncer": self.pgbouncer, "rule": self.rule,
                "rollout_peak": self.rollout_peak, "parts": [p.as_dict() for p in self.parts]}


@dataclass(frozen=True, slots=True)
class ServiceCut:
    """Cut ``service`` by ``connections`` at rollout peak on ``server`` (``processes`` fewer of its rollout
    processes at its least per-process need) so the shared server fits."""

    service: str
    server: str
    connections: int
    processes: int
    per_process: int
    """Its least per-process need on the server (what each process it drops frees)."""
    rollout_processes: int
    """Its processes at rollout peak (``processes`` equal to it: move it off the server altogether)."""

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}



class Limit(enum.Enum):
    """Which limit a plan does not fit under (the alternatives choose by this, never by a sentence)."""

    NO_USABLE_SLOTS = "no-usable-slots"
    """The reserved slots and other clients take all of a server's max_connections."""
    PGBOUNCER_OVER_ALLOWED = "pgbouncer-over-allowed"
    """PgBouncer's server connections exceed what the server allows at rollout peak."""
    SERVER_CONNECTIONS = "server-connections"
    """The fleet's direct pools, at the least the workload needs, exceed what the server allows."""
    PGBOUNCER_MAX_CLIENT_CONN = "pgbouncer-max-client-conn"
    PGBOUNCER_POOL = "pgbouncer-pool"
    """PgBouncer's server pool is smaller than the fleet's traffic needs for the p99 wait target."""
    PGBOUNCER_SESSION_CLIENTS = "pgbouncer-session-clients"
    """Session mode: more clients than server connections (each pins one)."""

    @property
    def on_pgbouncer(self) -> bool:
        """True for PgBouncer's own limits (its settings can fix them); False for a server's."""
        return self in (Limit.PGBOUNCER_MAX_CLIENT_CONN, Limit.PGBOUNCER_POOL, Limit.PGBOUNCER_SESSION_CLIENTS)


@dataclass(frozen=True, slots=True)
class Shortfall:
    """One reason a plan does not fit: which limit, on which server (PgBouncer's limits name the server behind
    it), what is needed against what there is, and the sentence with the arithmetic (rendered here from these
    numbers, for the edge to show; nothing reads it back)."""

    limit: Limit
    server: str
    need: float
    have: float
    sentence: str

    def as_dict(self) -> dict[str, object]:
        return {"limit": self.limit.value, "server": self.server, "need": self.need, "have": self.have}


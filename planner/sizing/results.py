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
        }



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


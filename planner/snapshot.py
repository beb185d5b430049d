"""What one live sample of a server looks like: the contract between the sampler and the live rules.

The sampler (``dashboard.live``) builds these from ``pg_stat_activity``; the live rules (``planner.rules``)
judge them with a ``Plan``. Plain frozen dataclasses, no I/O, so rules are tested without a database.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

from planner.sessions import Session

Status = Literal["ok", "unreachable", "refused", "auth", "bad-url", "ssl", "error"]
"""``ok`` = sampled; ``refused`` = no slots left (SQLSTATE 53300: itself the pitfall); ``auth`` = wrong password
or role; ``bad-url`` = the URL cannot be used; ``ssl`` = TLS required or failing; ``unreachable`` = no answer."""


@dataclass(frozen=True, slots=True)
class ActivityGroup:
    """Client backends sharing database, role, application, address, state and wait type."""

    datname: str | None
    usename: str | None
    application_name: str
    client_addr: str | None
    state: str | None
    """``active``, ``idle``, ``idle in transaction``, ...; None when our role may not see it."""
    wait_event_type: str | None
    count: int
    ssl_count: int
    """Backends of this group on TLS (pg_stat_ssl)."""
    oldest_idle_in_transaction_s: float | None = None
    """now() - state_change of the oldest backend idle in a transaction."""
    oldest_xact_s: float | None = None
    """now() - xact_start of the oldest open transaction."""
    oldest_backend_s: float | None = None
    """now() - backend_start of the oldest connection (pool_recycle not happening)."""
    youngest_backend_s: float | None = None
    """now() - backend_start of the newest connection (churn, cold pools, deploy bursts)."""
    last_query: str | None = None
    """Opt-in only: truncated last statement of a session idle in transaction (names the leaking code)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


STANDBY_SETTINGS = ("max_worker_processes", "max_prepared_transactions", "max_locks_per_transaction", "max_wal_senders")
"""The ``ServerSettings`` a hot standby must have at least as high as its primary, besides max_connections."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Read once per connection: the server's capacity and timeout settings, and what our role can see."""

    max_connections: int
    superuser_reserved_connections: int
    reserved_connections: int | None
    """None before PostgreSQL 16."""
    idle_in_transaction_session_timeout_ms: int
    idle_session_timeout_ms: int
    ssl: bool
    server_version_num: int
    """e.g. 160002."""
    can_see_all: bool
    """Our role has pg_read_all_stats (pg_monitor) or is superuser: counts are complete."""
    role: str | None = None
    """The monitoring role (current_user): ``GRANT pg_monitor TO <role>`` names it when can_see_all is false."""
    superuser: bool = False
    """The monitoring role is a superuser (the ``monitor-superuser`` finding: pg_monitor is enough)."""
    max_worker_processes: int | None = None
    """These four (None: not read, e.g. history from an older version) are what a hot standby must have at least
    as high as its primary (``replica-below-primary``)."""
    max_prepared_transactions: int | None = None
    max_locks_per_transaction: int | None = None
    max_wal_senders: int | None = None
    postmaster_start: str | None = None
    """pg_postmaster_start_time() as ISO 8601: a new value is a server restart (the incident chart marks it)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def major_version(self) -> int:
        return self.server_version_num // 10_000


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One sample of one monitored server, or why there is none (then ``groups`` is empty: a gap, not zero)."""

    server: str
    """The monitored server's name (as in the plan)."""
    taken_at: datetime
    """When the sample was taken (UTC, timezone-aware)."""
    status: Status
    groups: tuple[ActivityGroup, ...] = ()
    settings: ServerSettings | None = None
    own_connections: int = 0
    """The sampler's own backends (excluded from ``groups``; 1 when healthy)."""
    error: str | None = None
    """The server's or driver's words when status is not ok (password masked)."""
    sqlstate: str | None = None
    latency_ms: float | None = None
    """Round trip of the sample query."""
    sessions: tuple[Session, ...] | None = None
    """One row per client backend, blockers first (``planner.sessions``); None unless sessions were asked for."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def total(self) -> int | None:
        """Client backends seen (excluding ours); None for a gap."""
        return sum(g.count for g in self.groups) if self.ok else None

    def count_by(self, attribute: str) -> dict[str | None, int]:
        """Backends per value of one group attribute (``state``, ``application_name``, ...)."""
        counts: dict[str | None, int] = {}
        for group in self.groups:
            key = getattr(group, attribute)
            counts[key] = counts.get(key, 0) + group.count
        return counts

    def as_dict(self) -> dict[str, object]:
        return {
            "server": self.server,
            "taken_at": self.taken_at.isoformat(),
            "status": self.status,
            "total": self.total,
            "own_connections": self.own_connections,
            "error": self.error,
            "sqlstate": self.sqlstate,
            "latency_ms": self.latency_ms,
            "settings": self.settings.as_dict() if self.settings else None,
            "groups": [g.as_dict() for g in self.groups],
            **({} if self.sessions is None else {"sessions": [s.as_dict() for s in self.sessions]}),
        }

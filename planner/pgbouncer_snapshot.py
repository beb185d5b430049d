"""What one live sample of PgBouncer's admin console looks like: the contract between the PgBouncer sampler
(``dashboard.live.pgbouncer``) and the PgBouncer live rules (``planner.rules.pgbouncer_live``).

Plain frozen dataclasses, no I/O. Times are converted once, here in the type: seconds for waits
(``maxwait_s``), milliseconds for PgBouncer's averages (``avg_xact_ms``, ``avg_query_ms``, ``avg_wait_ms``).
A column that the running PgBouncer version does not have (``max_prepared_statements`` before 1.21,
``sv_being_canceled`` before 1.18, ...) is ``None``, never a made-up zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from planner.snapshot import Status

CONSOLE_DATABASE = "pgbouncer"
"""The admin console's database name: a URL naming it is PgBouncer's console, not a server."""


@dataclass(frozen=True, slots=True)
class PgBouncerConfig:
    """The settings the planner sizes, as ``SHOW CONFIG`` reports them (durations in seconds)."""

    pool_mode: str
    default_pool_size: int
    max_client_conn: int
    max_prepared_statements: int | None = None
    """None: this version has no such setting (before 1.21), so it cannot keep prepared statements."""
    query_wait_timeout_s: float | None = None
    server_idle_timeout_s: float | None = None
    min_pool_size: int | None = None
    reserve_pool_size: int | None = None
    max_db_connections: int | None = None
    max_user_connections: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PgBouncerPool:
    """One (database, user) pool of ``SHOW POOLS``, with its database's averages from ``SHOW STATS``."""

    database: str
    user: str
    pool_mode: str | None
    """The pool's own mode (a database or user may override the global ``pool_mode``)."""
    cl_active: int
    """Clients paired with a server connection, or idle and ready to run (not waiting)."""
    cl_waiting: int
    """Clients that sent a query and wait for a server connection: the wait the application sees."""
    sv_active: int
    """Server connections paired with a client."""
    sv_idle: int
    """Server connections free to hand out right now."""
    sv_used: int
    """Server connections idle longer than server_check_delay (checked before reuse)."""
    maxwait_s: float
    """How long the oldest waiting client has waited (0 when none waits)."""
    sv_tested: int = 0
    sv_login: int = 0
    cl_active_cancel_req: int | None = None
    cl_waiting_cancel_req: int | None = None
    sv_active_cancel: int | None = None
    sv_being_canceled: int | None = None
    avg_xact_ms: float | None = None
    """Mean transaction time of the pool's database: the hold time, measured. Over the interval since the
    previous sample when it had transactions, else PgBouncer's own average over its ``stats_period``."""
    avg_query_ms: float | None = None
    avg_wait_ms: float | None = None
    """Mean time clients waited for a server connection (same source as ``avg_xact_ms``)."""
    xacts: int | None = None
    """Transactions in that interval (None for PgBouncer's own average)."""
    avg_source: str | None = None
    """``interval`` (totals since the previous sample) or ``stats_period`` (PgBouncer's own average)."""

    @property
    def clients(self) -> int:
        """Every client of this pool: active, waiting and those waiting on a cancel request."""
        return self.cl_active + self.cl_waiting + (self.cl_active_cancel_req or 0) + (self.cl_waiting_cancel_req or 0)

    @property
    def servers(self) -> int:
        """Every server connection of this pool, whatever its state."""
        return self.sv_active + self.sv_idle + self.sv_used + self.sv_tested + self.sv_login + (
            self.sv_active_cancel or 0) + (self.sv_being_canceled or 0)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ConnectionGroup:
    """Rows of ``SHOW CLIENTS`` or ``SHOW SERVERS`` counted per (database, user, state, application_name)."""

    database: str
    user: str
    state: str
    application_name: str
    count: int
    max_wait_s: float
    """Longest current wait in the group (``wait`` + ``wait_us``)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PgBouncerTotals:
    """Cumulative counters of one database (``SHOW STATS``' ``total_*``, times in microseconds)."""

    xact_count: int
    query_count: int
    xact_time_us: int
    query_time_us: int
    wait_time_us: int


@dataclass(frozen=True, slots=True)
class PgBouncerSnapshot:
    """One sample of one PgBouncer, or why there is none (then ``pools`` is empty: a gap, not zero)."""

    name: str
    """The PgBouncer's name (``pgbouncer`` unless named: ``--pgbouncer NAME=URL``)."""
    taken_at: datetime
    status: Status
    version: str | None = None
    """``1.18.0``."""
    config: PgBouncerConfig | None = None
    pools: tuple[PgBouncerPool, ...] = ()
    """Application pools; the console's own pseudo-pool (database ``pgbouncer``) is left out."""
    clients: tuple[ConnectionGroup, ...] = ()
    """``SHOW CLIENTS`` grouped, console clients (ours included) left out."""
    servers: tuple[ConnectionGroup, ...] = ()
    """``SHOW SERVERS`` grouped."""
    console_clients: int = 0
    """Clients of the admin console, the sampler's own connection included; they count against
    max_client_conn too."""
    client_connections: int = 0
    """Every client connection (``SHOW CLIENTS`` rows, console ones included)."""
    error: str | None = None
    sqlstate: str | None = None
    latency_ms: float | None = None
    """Round trips of one sample (six SHOW commands)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def version_tuple(self) -> tuple[int, ...] | None:
        if not self.version:
            return None
        return tuple(int(part) for part in self.version.split(".") if part.isdigit())

    @property
    def total_clients(self) -> int | None:
        """Every client connection PgBouncer holds (what max_client_conn limits); None for a gap."""
        return self.client_connections if self.ok else None

    def pool(self, database: str, user: str) -> PgBouncerPool | None:
        return next((p for p in self.pools if p.database == database and p.user == user), None)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "taken_at": self.taken_at.isoformat(),
            "status": self.status,
            "error": self.error,
            "sqlstate": self.sqlstate,
            "latency_ms": self.latency_ms,
            "version": self.version,
            "config": self.config.as_dict() if self.config else None,
            "total_clients": self.total_clients,
            "console_clients": self.console_clients,
            "pools": [pool.as_dict() for pool in self.pools],
            "clients": [group.as_dict() for group in self.clients],
            "servers": [group.as_dict() for group in self.servers],
        }


@dataclass(frozen=True, slots=True)
class PoolWait:
    """The PgBouncer side of one pool, for a per-service verdict ("waiting in PgBouncer").

    Small on purpose: what a joined view (application pool -> PgBouncer -> server) needs from PgBouncer.
    """

    pgbouncer: str
    database: str
    user: str
    cl_waiting: int
    maxwait_s: float
    cl_active: int
    sv_active: int
    sv_idle: int
    pool_size: int | None
    """The live default_pool_size (None when the config was not read)."""
    avg_xact_ms: float | None

    @property
    def waiting(self) -> bool:
        return self.cl_waiting > 0


def pool_waits(snapshot: PgBouncerSnapshot) -> tuple[PoolWait, ...]:
    """Per pool: who waits in PgBouncer and how long; empty for a gap."""
    if not snapshot.ok:
        return ()
    size = snapshot.config.default_pool_size if snapshot.config else None
    return tuple(
        PoolWait(snapshot.name, p.database, p.user, p.cl_waiting, p.maxwait_s, p.cl_active, p.sv_active, p.sv_idle,
                 size, p.avg_xact_ms)
        for p in snapshot.pools
    )


def pool_wait_for(waits: tuple[PoolWait, ...], database: str | None, user: str | None = None) -> PoolWait | None:
    """The pool an engine's connections land in: its URL's database (the name in PgBouncer's [databases]) and,
    when given and present, its user. A database that forces ``user=`` in pgbouncer.ini pools under that
    user, not the client's login, so the database alone decides when the user matches no pool. When several
    pools match, the one with the most waiting clients."""
    pools = [w for w in waits if w.database == database]
    exact = [w for w in pools if user is not None and w.user == user]
    candidates = exact or pools
    return max(candidates, key=lambda w: (w.cl_waiting, w.maxwait_s), default=None)

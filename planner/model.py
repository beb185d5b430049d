"""Validated inputs of a plan, and the Finding every rule returns.

Names follow what users paste into ``create_async_engine(...)`` and ``postgresql.conf`` so that exported
snippets are a rename-free dump. Every input is checked at construction: a bad value raises
``InputError`` naming the field and the allowed range, never a later ZeroDivisionError or a silently
wrong number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Literal

Severity = Literal["critical", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}

MAX_CONNECTIONS_LIMIT = 262_143  # PostgreSQL's own upper bound for max_connections (MAX_BACKENDS)


class InputError(ValueError):
    """A plan input out of range. ``field`` names the input as the user spelled it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def _int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, f"must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InputError(name, f"must be {bound}, got {value}")
    return value


def _float(name: str, value: object, low: float, high: float | None = None, *, allow: tuple = ()) -> float:
    if value in allow and not isinstance(value, bool):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(name, f"must be a finite number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        extra = f" (or {', '.join(map(str, allow))})" if allow else ""
        raise InputError(name, f"must be {bound}{extra}, got {value:g}")
    return float(value)


_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")


def _name(field_name: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InputError(field_name, f"must be 1-63 letters, digits, '_', '.' or '-', got {value!r}")
    return value


STANDBY_SETTING_DEFAULTS: dict[str, int] = {
    "max_connections": 100,
    "max_worker_processes": 8,
    "max_prepared_transactions": 0,
    "max_locks_per_transaction": 64,
    "max_wal_senders": 10,
}
"""Settings a hot standby must have at least as high as its primary (PostgreSQL docs, "Hot Standby",
Administrator's Overview), with PostgreSQL's defaults (12-18)."""


@dataclass(frozen=True, slots=True)
class Server:
    """One PostgreSQL server (a primary, a replica) and the slots it can give to the application."""

    name: str = "primary"
    """How engines refer to this server."""
    max_connections: int = 100
    """``max_connections`` in postgresql.conf (PostgreSQL default 100)."""
    superuser_reserved_connections: int = 3
    """Slots only superusers may use (default 3)."""
    reserved_connections: int = 0
    """Slots for ``pg_use_reserved_connections`` roles (PostgreSQL 16+; must be 0 before 16)."""
    other_clients: int = 0
    """Connections kept for everything that is not the application: migrations, cron, psql, replication,
    monitoring (this dashboard's own connection counts here)."""
    major_version: int = 16
    """PostgreSQL major version (12-18)."""
    idle_session_timeout_s: float = 0.0
    """Server ``idle_session_timeout`` in seconds, 0 = off. Pools must recycle below it."""
    ssl_required: bool = False
    """The application must connect with TLS (checked live against pg_stat_ssl)."""
    replica_of: str | None = None
    """Name of the primary this server is a hot standby of (``replica-below-primary`` compares their settings)."""
    max_worker_processes: int | None = None
    """These four: None = PostgreSQL's default (``STANDBY_SETTING_DEFAULTS``). A hot standby refuses to start
    with less than its primary for them and for max_connections."""
    max_prepared_transactions: int | None = None
    max_locks_per_transaction: int | None = None
    max_wal_senders: int | None = None

    def standby_setting(self, name: str) -> int:
        """One of ``STANDBY_SETTING_DEFAULTS`` as this server has it (the default when not given)."""
        value = getattr(self, name)
        return STANDBY_SETTING_DEFAULTS[name] if value is None else value

    def __post_init__(self) -> None:
        _name("server.name", self.name)
        _int("max_connections", self.max_connections, 1, MAX_CONNECTIONS_LIMIT)
        _int("superuser_reserved_connections", self.superuser_reserved_connections, 0)
        _int("reserved_connections", self.reserved_connections, 0)
        _int("other_clients", self.other_clients, 0)
        _int("major_version", self.major_version, 12, 18)
        _float("idle_session_timeout_s", self.idle_session_timeout_s, 0)
        for setting in STANDBY_SETTING_DEFAULTS:
            if setting != "max_connections" and getattr(self, setting) is not None:
                _int(setting, getattr(self, setting), 0, MAX_CONNECTIONS_LIMIT)
        if self.replica_of is not None:
            _name("replica_of", self.replica_of)
        if self.major_version < 16 and self.reserved_connections:
            raise InputError("reserved_connections", "exists only on PostgreSQL 16 and later; must be 0")
        if self.superuser_reserved_connections + self.reserved_connections >= self.max_connections:
            raise InputError(
                "superuser_reserved_connections",
                f"superuser_reserved_connections + reserved_connections "
                f"({self.superuser_reserved_connections} + {self.reserved_connections}) must be less than "
                f"max_connections ({self.max_connections}); PostgreSQL refuses to start otherwise",
            )


@dataclass(frozen=True, slots=True)
class Engine:
    """One ``create_async_engine(...)`` in each application process, pointed at one server."""

    name: str = "primary"
    """How this engine is called in the application (``primary``, ``replica``)."""
    server: str = "primary"
    """Name of the ``Server`` it connects to (through the PgBouncer in front of it when ``via_pgbouncer``)."""
    pool_size: int = 5
    """Idle connections the pool keeps (SQLAlchemy default 5). 0 means no limit at all: unsafe."""
    max_overflow: int = 10
    """Connections opened above pool_size under load and closed on return (default 10). -1 = unbounded: unsafe."""
    pool_timeout: float = 30.0
    """Seconds a checkout waits for a connection before ``sqlalchemy.exc.TimeoutError`` (default 30)."""
    pool_recycle: float = -1
    """Seconds after which a connection is replaced at checkout; -1 = never (default)."""
    pool_pre_ping: bool = False
    """Test each connection at checkout (a round trip; survives server restarts and idle timeouts)."""
    url: str | None = None
    """Connection URL (optional; checked by ``planner.dsn``, always shown masked)."""
    application_name: str | None = None
    """``application_name`` the engine sets, so live samples can be matched to this engine."""
    statement_cache_size: int | None = None
    """asyncpg ``connect_args={"statement_cache_size": N}``; None = asyncpg's default (100)."""
    via_pgbouncer: bool = False
    """Connects through the PgBouncer in front of its server (``Plan.pgbouncer_for``) rather than directly."""
    replica: bool = False
    """The engine is meant to read from a replica (``replica-same-server`` fires when it connects to a server
    the other engines use and that is not a replica). An engine named ``replica`` (or ``*-replica``) is one too."""
    traffic_share: float = 1.0
    """Fraction of the workload's requests that check out a connection from this engine: 1 (default) = every
    request uses it; a read replica taking 70% of requests: 0.7. The engine's pool is sized for its share."""
    probes: tuple[str, ...] = ()
    """URLs of this engine's in-app probe endpoints (``planner.probe``; ``http://host:8000/probe``), one per
    port the service's workers answer on. The dashboard and ``live sample`` read them."""

    def __post_init__(self) -> None:
        _name("engine.name", self.name)
        object.__setattr__(self, "probes", _urls("probes", self.probes))
        _float("traffic_share", self.traffic_share, 0, 1)
        if self.traffic_share <= 0:
            raise InputError("traffic_share", "must be more than 0 (a share of the requests) and at most 1, got 0")
        _name("engine.server", self.server)
        _int("pool_size", self.pool_size, 0, MAX_CONNECTIONS_LIMIT)
        _int("max_overflow", self.max_overflow, -1, MAX_CONNECTIONS_LIMIT)
        _float("pool_timeout", self.pool_timeout, 0, 86_400)
        _float("pool_recycle", self.pool_recycle, 1, 10 * 86_400, allow=(-1,))
        if self.statement_cache_size is not None:
            _int("statement_cache_size", self.statement_cache_size, 0)
        if self.url is not None and not isinstance(self.url, str):
            raise InputError("url", f"must be a string, got {type(self.url).__name__}")

    @property
    def meant_as_replica(self) -> bool:
        """Declared ``replica = true``, or named as one (``replica``, ``read-replica``, ``replica_2``)."""
        return self.replica or bool(re.search(r"(^|[-_.])replica($|[-_.\d])", self.name.lower()))

    @property
    def unbounded(self) -> bool:
        """True when the pool has no ceiling (``max_overflow=-1`` or ``pool_size=0``)."""
        return self.max_overflow == -1 or self.pool_size == 0

    @property
    def ceiling(self) -> int | None:
        """Most connections this engine can hold in one process, or None when unbounded."""
        return None if self.unbounded else self.pool_size + self.max_overflow


def _urls(field_name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InputError(field_name, f"must be a list of http(s) URLs, got {value!r}")
    for url in value:
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            raise InputError(field_name, f"each must be an http:// or https:// URL, got {url!r}")
    return tuple(value)


_SURGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where the processes run: instances (pods/hosts) x workers, and how a rollout overlaps them."""

    instances: int = 1
    """Instances (pods, hosts, containers) in steady state."""
    workers: int = 1
    """Uvicorn/Gunicorn worker processes per instance; each has its own pools."""
    surge: int | str = "25%"
    """Extra instances during a rolling deploy: a count (``2``) or a percent (``"25%"``, rounded up as
    Kubernetes' maxSurge is)."""
    autoscale_max: int | None = None
    """Most instances the autoscaler may run; None = no autoscaling (``instances``)."""

    def __post_init__(self) -> None:
        _int("instances", self.instances, 1, 100_000)
        _int("workers", self.workers, 1, 1_024)
        self.surge_instances  # noqa: B018 - validates surge
        if self.autoscale_max is not None:
            _int("autoscale_max", self.autoscale_max, 1, 100_000)
            if self.autoscale_max < self.instances:
                raise InputError(
                    "autoscale_max", f"must be at least instances ({self.instances}), got {self.autoscale_max}"
                )

    @property
    def max_instances(self) -> int:
        """Instances at the autoscaling maximum (``instances`` without autoscaling)."""
        return self.autoscale_max or self.instances

    @property
    def processes(self) -> int:
        """Worker processes in steady state: instances x workers."""
        return self.instances * self.workers

    @property
    def autoscale_processes(self) -> int:
        """Worker processes at the autoscaling maximum, outside a rollout: max_instances x workers."""
        return self.max_instances * self.workers

    @property
    def rollout_processes(self) -> int:
        """Worker processes while a rolling deploy overlaps old and new instances, at the autoscaling maximum."""
        return (self.max_instances + self.surge_instances) * self.workers

    @property
    def surge_instances(self) -> int:
        """Extra instances during a rollout at max_instances (a percent is rounded up, like maxSurge)."""
        surge = self.surge
        if isinstance(surge, str):
            match = _SURGE.match(surge)
            if match:
                percent = float(match.group(1))
                if percent > 100:
                    raise InputError("surge", f"percent must be between 0% and 100%, got {surge}")
                return math.ceil(self.max_instances * percent / 100 - 1e-9)
            if surge.strip().isdigit():
                surge = int(surge.strip())
            else:
                raise InputError("surge", f"must be a count (2) or a percent (25%), got {self.surge!r}")
        return _int("surge", surge, 0, 100_000)


@dataclass(frozen=True, slots=True)
class Workload:
    """Traffic at peak, for the whole fleet."""

    rps: float
    """Requests per second at peak, across all instances and workers."""
    hold_ms: float
    """Milliseconds a request holds a connection, checkout to check-in (not the query alone)."""
    request_timeout_s: float | None = None
    """Seconds after which the caller (load balancer, client) gives up on a request."""
    hold_dist: Literal["exp", "const"] | None = None
    """How the hold time varies around ``hold_ms``: ``exp`` (the default: as variable as an exponential),
    ``const``. Leave it out when giving the percentiles below."""
    hold_p50_ms: float | None = None
    """Measured hold-time percentiles (all three or none): a skewed (lognormal) distribution is fitted to them."""
    hold_p95_ms: float | None = None
    hold_p99_ms: float | None = None
    target_p99_wait_ms: float = 10.0
    """``recommend`` picks the smallest pool whose predicted p99 checkout wait is at most this."""

    def __post_init__(self) -> None:
        _float("rps", self.rps, 0, 10_000_000)
        _float("hold_ms", self.hold_ms, 0, 3_600_000)
        if self.request_timeout_s is not None:
            _float("request_timeout_s", self.request_timeout_s, 0.001, 86_400)
        if self.hold_dist is not None and self.hold_dist not in ("exp", "const"):
            raise InputError("hold_dist", f"must be exp or const, got {self.hold_dist!r}")
        percentiles = {"hold_p50_ms": self.hold_p50_ms, "hold_p95_ms": self.hold_p95_ms,
                       "hold_p99_ms": self.hold_p99_ms}
        given = {name: value for name, value in percentiles.items() if value is not None}
        if given and len(given) < 3:
            missing = next(name for name in percentiles if name not in given)
            raise InputError(missing, "hold percentiles come as all three (p50, p95, p99) or none")
        if given and self.hold_dist is not None:
            raise InputError("hold_dist", "give either hold_dist or the hold percentiles, not both")
        for name, value in given.items():
            _float(name, value, 0.001, 3_600_000)
        if given and not self.hold_p50_ms <= self.hold_p95_ms <= self.hold_p99_ms:  # type: ignore[operator]
            raise InputError("hold_p95_ms", f"need p50 <= p95 <= p99, got {self.hold_p50_ms:g}, "
                                            f"{self.hold_p95_ms:g}, {self.hold_p99_ms:g}")
        _float("target_p99_wait_ms", self.target_p99_wait_ms, 0.1, 3_600_000)

    @property
    def hold_percentiles(self) -> tuple[float, float, float] | None:
        """(p50, p95, p99) of the hold time in ms when measured, else None."""
        if self.hold_p50_ms is None:
            return None
        return (self.hold_p50_ms, self.hold_p95_ms, self.hold_p99_ms)  # type: ignore[return-value]

    def per_worker_rps(self, deployment: Deployment) -> float:
        """Arrival rate at one worker process when the fleet runs ``instances x workers`` processes."""
        return self.rps / deployment.processes

    def engine_rps(self, deployment: Deployment, engine: Engine) -> float:
        """Checkouts per second from one worker's pool of ``engine``: its ``traffic_share`` of the worker's rate."""
        return self.per_worker_rps(deployment) * engine.traffic_share


@dataclass(frozen=True, slots=True)
class PgBouncer:
    """PgBouncer in front of a server: the server then sees PgBouncer's pool, not the application's."""

    server: str = "primary"
    """The server PgBouncer connects to."""
    version: str = "1.24.0"
    """PgBouncer version (prepared statements are tracked from 1.21, on by default from 1.24)."""
    pool_mode: Literal["session", "transaction", "statement"] = "transaction"
    max_prepared_statements: int | None = None
    """None = the version's default (0 before 1.24, 200 from 1.24)."""
    default_pool_size: int = 20
    """Server connections per (database, user) pair."""
    pools: int = 1
    """Number of (database, user) pairs the application uses."""
    max_client_conn: int = 100
    port: int = 6432
    host: str = "pgbouncer"
    admin_url: str | None = None
    """PgBouncer's admin console for live sampling, e.g. ``postgresql://stats@pgbouncer:6432/pgbouncer``."""
    name: str | None = None
    """How output and live consoles call it; None = derived by the plan (``Plan.pgbouncer_name``): ``pgbouncer``
    when the plan has one, ``pgbouncer-<server>`` when it has several."""

    def __post_init__(self) -> None:
        _name("pgbouncer.server", self.server)
        if self.name is not None:
            _name("pgbouncer.name", self.name)
        if not re.match(r"^\d+\.\d+(\.\d+)?$", str(self.version)):
            raise InputError("pgbouncer.version", f"must look like 1.21.0, got {self.version!r}")
        if self.pool_mode not in ("session", "transaction", "statement"):
            raise InputError(
                "pgbouncer.pool_mode", f"must be session, transaction or statement, got {self.pool_mode!r}"
            )
        if self.max_prepared_statements is not None:
            _int("pgbouncer.max_prepared_statements", self.max_prepared_statements, 0)
        _int("pgbouncer.default_pool_size", self.default_pool_size, 1, MAX_CONNECTIONS_LIMIT)
        _int("pgbouncer.pools", self.pools, 1, 10_000)
        _int("pgbouncer.max_client_conn", self.max_client_conn, 1, 10_000_000)
        _int("pgbouncer.port", self.port, 1, 65_535)

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split("."))

    @property
    def effective_max_prepared_statements(self) -> int:
        """The setting in force: as given, or the version's default."""
        if self.max_prepared_statements is not None:
            return self.max_prepared_statements
        return 200 if self.version_tuple >= (1, 24) else 0

    @property
    def server_connections(self) -> int:
        """Connections PgBouncer opens to the server at most (default_pool_size per pool)."""
        return self.default_pool_size * self.pools


def fold_application_name(name: str) -> str:
    """``orders-3`` -> ``orders``: the per-worker suffix (a dash and digits) some deployments add, removed."""
    prefix, dash, suffix = name.rpartition("-")
    return prefix if dash and prefix and suffix.isdigit() else name


@dataclass(frozen=True, slots=True)
class Service:
    """One application (an API, a worker, a cron job): its engines, where its processes run and its traffic.

    A server shared by several services gives each of them what their engines can open; the plan's budget for
    that server sums them (``planner.budget``)."""

    name: str = "app"
    """How the service is called; live connections are matched to it by application_name."""
    engines: tuple[Engine, ...] = (Engine(),)
    """The ``create_async_engine(...)`` calls of one of its processes."""
    deployment: Deployment = field(default_factory=Deployment)
    workload: Workload | None = None
    priority: float | None = None
    """Weight when a shared server's slots are split between services (``recommend``); None = by load."""

    def __post_init__(self) -> None:
        _name("service.name", self.name)
        engines = tuple(self.engines)
        object.__setattr__(self, "engines", engines)
        if not engines:
            raise InputError(f"service {self.name}.engines", "at least one engine is needed")
        engine_names = [e.name for e in engines]
        if len(set(engine_names)) != len(engine_names):
            raise InputError(f"service {self.name}.engines", f"engine names must be unique, got {engine_names}")
        if self.priority is not None:
            _float(f"service {self.name}.priority", self.priority, 0.001, 1_000_000)

    @property
    def application_names(self) -> frozenset[str]:
        """The application_name values its engines set (as set: ``svc-01`` stays ``svc-01``), or its own name. A
        live ``orders-3`` matches ``orders`` through ``Plan.service_of``, which folds the live name only."""
        names = {e.application_name for e in self.engines if e.application_name}
        return frozenset(names or {self.name})

    def engines_on(self, server: str) -> tuple[Engine, ...]:
        """Engines of one of its processes that connect to ``server``."""
        return tuple(e for e in self.engines if e.server == server)


Rollout = Literal["together", "one-at-a-time"]
ROLLOUTS: tuple[str, ...] = ("together", "one-at-a-time")

_UNSET: object = object()


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the planner judges: servers, the services that use them (each with its engines, deployment and
    traffic), the PgBouncers in front of servers (at most one per server).

    ``engines``, ``deployment`` and ``workload`` are the *first* service's, for code that plans one service
    (a plan file with a single ``[deployment]`` is one service named ``app``). Give either them or ``services``;
    when both are given (``dataclasses.replace(plan, engines=...)``), they replace the first service's. To
    replace the services, use ``plan.with_services(...)``.

    ``pgbouncer`` is likewise the *first* of ``pgbouncers`` (None when there is none). Given with ``pgbouncers``
    (``dataclasses.replace(plan, pgbouncer=...)``), it replaces the first one (None removes it); to replace them
    all use ``plan.with_pgbouncers(...)``, to replace or add the one in front of a server ``plan.with_pgbouncer``."""

    servers: tuple[Server, ...] = (Server(),)
    engines: tuple[Engine, ...] = None  # type: ignore[assignment]
    deployment: Deployment = None  # type: ignore[assignment]
    workload: Workload | None = _UNSET  # type: ignore[assignment]
    pgbouncer: PgBouncer | None = _UNSET  # type: ignore[assignment]
    lb_idle_timeout_s: float | None = None
    """Idle timeout of a load balancer or NAT between the app and the server (connections die silently)."""
    services: tuple[Service, ...] = ()
    rollout: Rollout = "together"
    """``together``: every service may roll out at once (one release train), so each one's surge counts;
    ``one-at-a-time``: only the largest single surge counts on top of everyone's peak."""
    pgbouncers: tuple[PgBouncer, ...] = ()
    """The PgBouncers, at most one in front of each server; an engine with ``via_pgbouncer`` uses its server's."""

    def __post_init__(self) -> None:
        self._set_pgbouncers()
        services = tuple(self.services)
        if services:
            first = services[0]
            changes = {k: v for k, v in (("engines", self.engines), ("deployment", self.deployment),
                                         ("workload", self.workload)) if v is not None and v is not _UNSET}
            if changes:
                services = (replace(first, **changes), *services[1:])
        else:
            workload = None if self.workload is _UNSET else self.workload
            services = (Service(engines=(Engine(),) if self.engines is None else self.engines,
                                deployment=self.deployment or Deployment(), workload=workload),)
        object.__setattr__(self, "services", services)
        object.__setattr__(self, "engines", services[0].engines)
        object.__setattr__(self, "deployment", services[0].deployment)
        object.__setattr__(self, "workload", services[0].workload)
        servers = tuple(self.servers)
        object.__setattr__(self, "servers", servers)
        if not servers:
            raise InputError("servers", "at least one server is needed")
        names = [s.name for s in servers]
        if len(set(names)) != len(names):
            raise InputError("servers", f"server names must be unique, got {names}")
        service_names = [s.name for s in services]
        if len(set(service_names)) != len(service_names):
            raise InputError("services", f"service names must be unique, got {service_names}")
        if self.rollout not in ROLLOUTS:
            raise InputError("rollout", f"must be together or one-at-a-time, got {self.rollout!r}")
        for service in services:
            self._check_engines(service, names)
        for server in servers:
            if server.replica_of is not None and (server.replica_of not in names or server.replica_of == server.name):
                raise InputError(f"server {server.name}.replica_of",
                                 f"names no other server; known: {', '.join(names)}")
        self._check_pgbouncers(names)
        if self.lb_idle_timeout_s is not None:
            _float("lb_idle_timeout_s", self.lb_idle_timeout_s, 0.001)

    def _check_engines(self, service: Service, names: list[str]) -> None:
        where = "engine" if len(self.services) == 1 else f"service {service.name} engine"
        for engine in service.engines:
            if engine.server not in names:
                raise InputError(f"{where} {engine.name}.server", f"names no server; known: {', '.join(names)}")
            if engine.via_pgbouncer and not self.pgbouncers:
                raise InputError(f"{where} {engine.name}.via_pgbouncer", "the plan declares no [pgbouncer]")
            if engine.via_pgbouncer and self.pgbouncer_for(engine.server) is None:
                fronted = ", ".join(b.server for b in self.pgbouncers)
                raise InputError(f"{where} {engine.name}.via_pgbouncer", f"PgBouncer is in front of server "
                                 f"{fronted}, but the engine connects to {engine.server}")

    def _set_pgbouncers(self) -> None:
        bouncers = tuple(self.pgbouncers)
        first = self.pgbouncer
        if first is not _UNSET:
            bouncers = bouncers[1:] if first is None else (first, *bouncers[1:])
        object.__setattr__(self, "pgbouncers", bouncers)
        object.__setattr__(self, "pgbouncer", bouncers[0] if bouncers else None)

    def _check_pgbouncers(self, names: list[str]) -> None:
        fronted: list[str] = []
        for bouncer in self.pgbouncers:
            if not isinstance(bouncer, PgBouncer):
                raise InputError("pgbouncers", f"each must be a PgBouncer, got {type(bouncer).__name__}")
            where = ("pgbouncer.server" if len(self.pgbouncers) == 1
                     else f"pgbouncer {self.pgbouncer_name(bouncer)}.server")
            if bouncer.server not in names:
                raise InputError(where, f"names no server; known: {', '.join(names)}")
            if bouncer.server in fronted:
                raise InputError(where, f"server {bouncer.server} already has a PgBouncer in front of it; at most "
                                        f"one per server")
            fronted.append(bouncer.server)
        labels = [self.pgbouncer_name(b) for b in self.pgbouncers]
        if len(set(labels)) != len(labels):
            raise InputError("pgbouncers", f"PgBouncer names must be unique, got {labels}")

    def pgbouncer_for(self, server: str) -> PgBouncer | None:
        """The PgBouncer in front of ``server``, or None."""
        return next((b for b in self.pgbouncers if b.server == server), None)

    def pgbouncer_name(self, bouncer: PgBouncer) -> str:
        """How output calls ``bouncer``: its ``name``, else ``pgbouncer`` (the plan's only one) or
        ``pgbouncer-<server>``."""
        if bouncer.name is not None:
            return bouncer.name
        return "pgbouncer" if len(self.pgbouncers) <= 1 else f"pgbouncer-{bouncer.server}"

    def pgbouncer_title(self, bouncer: PgBouncer) -> str:
        """``PgBouncer`` when the plan has one, ``PgBouncer <name>`` when it has several: how sentences call it."""
        return "PgBouncer" if len(self.pgbouncers) <= 1 else f"PgBouncer {self.pgbouncer_name(bouncer)}"

    def pgbouncer_named(self, name: str) -> PgBouncer | None:
        """The PgBouncer called ``name`` (``pgbouncer_name``), or None."""
        return next((b for b in self.pgbouncers if self.pgbouncer_name(b) == name), None)

    def with_pgbouncers(self, pgbouncers: tuple[PgBouncer, ...]) -> Plan:
        """This plan with other PgBouncers (everything else kept)."""
        return Plan(servers=self.servers, pgbouncers=tuple(pgbouncers), lb_idle_timeout_s=self.lb_idle_timeout_s,
                    services=self.services, rollout=self.rollout)

    def with_pgbouncer(self, bouncer: PgBouncer) -> Plan:
        """This plan with ``bouncer`` in front of its server: replacing the one there (in place), or added last."""
        if self.pgbouncer_for(bouncer.server) is None:
            return self.with_pgbouncers((*self.pgbouncers, bouncer))
        return self.with_pgbouncers(tuple(bouncer if b.server == bouncer.server else b for b in self.pgbouncers))

    def server(self, name: str) -> Server:
        return next(s for s in self.servers if s.name == name)

    def engines_on(self, server: str) -> tuple[Engine, ...]:
        """Engines of one process of the first service that connect to ``server``."""
        return tuple(e for e in self.engines if e.server == server)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def with_services(self, services: tuple[Service, ...]) -> Plan:
        """This plan with other services (the servers, PgBouncers and settings kept)."""
        return Plan(servers=self.servers, pgbouncers=self.pgbouncers, lb_idle_timeout_s=self.lb_idle_timeout_s,
                    services=tuple(services), rollout=self.rollout)

    def service_plan(self, name: str) -> Plan:
        """The plan of one service alone on the plan's servers (for the per-service rules, sizing and wait)."""
        return self.with_services((self.service(name),))

    @property
    def multi_service(self) -> bool:
        return len(self.services) > 1

    def service_of(self, application_name: str | None) -> str | None:
        """The service a live connection belongs to, by its application_name (folded), or None (unplanned)."""
        if not application_name:
            return None
        for candidate in (application_name, fold_application_name(application_name)):
            for service in self.services:
                if candidate in service.application_names:
                    return service.name
        return None


@dataclass(frozen=True, slots=True)
class Finding:
    """One pitfall found: stable id (docs/pitfalls.md lists every id), how bad, the numbers, and the fix."""

    id: str
    """Stable pitfall id, e.g. ``too-many-connections``: the same in the CLI, UI, README and tests."""
    severity: Severity
    message: str
    """The evidence, with its operands: "4 workers x (20 + 10) = 120 > 97 usable"."""
    fix: str = ""
    """The concrete change that clears it."""
    snippet: str = ""
    """Code or config to paste for the fix (never a password)."""
    server: str | None = None
    """The server it concerns, when it concerns one."""
    service: str | None = None
    """The service it concerns in a plan with several (None: a server-level fact, or a single-service plan)."""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_ORDER:
            raise InputError("severity", f"must be critical, warning or info, got {self.severity!r}")

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "snippet": self.snippet,
            "server": self.server,
            "service": self.service,
        }

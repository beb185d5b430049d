"""Live connections attributed to a plan's services, by application_name (``Plan.service_of``).

A sample's client backends carry the application_name their client set; a plan's services name theirs (their
engines' ``application_name``, else the service's own name), and per-worker suffixes (``orders-3``) fold into
the service. What matches no service is *unplanned*: kept with its own name (and count), because the plan did
not budget for it beyond the server's ``other_clients`` allowance (the ``unplanned-clients`` finding).

Pure: counts in, counts out; no I/O, no Streamlit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from planner.model import Plan, fold_application_name
from planner.snapshot import Snapshot

NO_APPLICATION_NAME = "(no application_name)"
"""How an unplanned client that set no application_name is named (the live rules' ``NO_APP`` too)."""
UNPLANNED_PREFIX = "unplanned: "
"""The by-application chart's series of a client no service names starts with this."""


class IdentityCache:
    """Values kept per *object* (a plan, a sample): keyed by ``id()`` and holding the objects themselves, so an id
    is never reused while its entry lives; the oldest entries go beyond ``limit``. Thread-safe (the page's
    sessions share it), and cheaper than hashing a whole plan at every call."""

    def __init__(self, limit: int):
        self.limit = limit
        self._entries: dict[tuple, tuple[tuple, object]] = {}
        self._lock = threading.Lock()

    def get(self, objects: tuple, compute):
        """The value for ``objects`` (a tuple of objects, and plain keys such as a server's name), computing
        ``compute()`` once."""
        key = tuple(map(id, objects))
        hit = self._entries.get(key)  # an entry holds its objects: no other live object can have their ids
        if hit is not None:
            return hit[1]
        value = compute()
        with self._lock:
            if len(self._entries) >= self.limit:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (objects, value)
        return value


@dataclass(frozen=True, slots=True)
class Attribution:
    """One sample's client backends split between the plan's services and the unplanned clients."""

    by_service: tuple[tuple[str, int], ...]
    """(service, connections) for every service of the plan, in the plan's order (0 when none is open)."""
    unplanned: tuple[tuple[str, int], ...]
    """(application_name as the client set it, connections) for clients no service names, biggest first."""

    @property
    def planned_total(self) -> int:
        return sum(n for _, n in self.by_service)

    @property
    def unplanned_total(self) -> int:
        return sum(n for _, n in self.unplanned)

    @property
    def total(self) -> int:
        return self.planned_total + self.unplanned_total

    def count(self, service: str) -> int:
        """Connections of one service (0 for a name the plan does not have)."""
        return dict(self.by_service).get(service, 0)

    def as_dict(self) -> dict[str, object]:
        return {"by_service": dict(self.by_service), "unplanned": dict(self.unplanned)}


class ServiceIndex:
    """``Plan.service_of`` for one plan, answered from a table (built once) and remembered per name: the live rules
    ask it for every group of every sample of a window."""

    MEMO_LIMIT = 10_000
    """Distinct application names remembered (server-sent, so unbounded in principle): beyond it, forgotten."""

    def __init__(self, plan: Plan):
        self._names: dict[str, str] = {}
        for service in plan.services:  # the plan's order: the first service naming it wins, as in service_of
            for name in service.application_names:
                self._names.setdefault(name, service.name)
        self._memo: dict[str | None, str | None] = {}

    def service_of(self, application_name: str | None) -> str | None:
        try:
            return self._memo[application_name]
        except KeyError:
            pass
        found = None
        if application_name:
            found = self._names.get(application_name) or self._names.get(fold_application_name(application_name))
        if len(self._memo) >= self.MEMO_LIMIT:
            self._memo.clear()
        self._memo[application_name] = found
        return found


_INDEXES = IdentityCache(16)


def service_index(plan: Plan) -> ServiceIndex:
    """The plan's ``ServiceIndex``, kept per plan object (the page and the collector judge one plan object over
    and over)."""
    return _INDEXES.get((plan,), lambda: ServiceIndex(plan))


def attribute_counts(plan: Plan, counts: Iterable[tuple[str | None, int]]) -> Attribution:
    """(application_name, connections) pairs -> per service and unplanned (a name may repeat: summed)."""
    services = {service.name: 0 for service in plan.services}
    unplanned: dict[str, int] = {}
    index = service_index(plan)
    for name, count in counts:
        service = index.service_of(name)
        if service is None:
            key = name or NO_APPLICATION_NAME
            unplanned[key] = unplanned.get(key, 0) + count
        else:
            services[service] += count
    return Attribution(tuple(services.items()),
                       tuple(sorted(unplanned.items(), key=lambda kv: (-kv[1], kv[0]))))


_ATTRIBUTED = IdentityCache(4096)
"""Samples whose attribution is kept (a 10-minute window of 1 s samples on a few servers)."""


def attribute(plan: Plan, snapshot: Snapshot) -> Attribution:
    """The sample's client backends (the monitor's own excluded, as in ``Snapshot.groups``) by service; kept per
    (plan, sample) object, since several rules ask for the same sample's."""
    return _ATTRIBUTED.get((plan, snapshot), lambda: attribute_counts(
        plan, ((g.application_name, g.count) for g in snapshot.groups)))


def series_name(plan: Plan, application_name: str | None) -> str:
    """The by-application chart's series of a connection: its service's name, or ``unplanned: <name>``."""
    service = service_index(plan).service_of(application_name)
    return service if service is not None else f"{UNPLANNED_PREFIX}{application_name or NO_APPLICATION_NAME}"


def unplanned_words(unplanned: Mapping[str, int] | Iterable[tuple[str, int]], limit: int = 5) -> str:
    """``'cron-report' 8, 'psql' 2`` (the biggest ``limit``, then how many more): for a finding's evidence."""
    items = list(unplanned.items() if isinstance(unplanned, Mapping) else unplanned)
    shown = ", ".join(f"'{name}' {count}" for name, count in items[:limit])
    rest = len(items) - limit
    return shown + (f" and {rest} more" if rest > 0 else "")


__all__ = [
    "NO_APPLICATION_NAME",
    "UNPLANNED_PREFIX",
    "Attribution",
    "IdentityCache",
    "ServiceIndex",
    "attribute",
    "attribute_counts",
    "series_name",
    "service_index",
    "unplanned_words",
]

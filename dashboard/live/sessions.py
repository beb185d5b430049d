"""Rows of ``sample_sessions.sql`` (one per backend) as ``Session`` objects and as the sample's groups.

A sample with sessions runs ``sample_sessions.sql`` instead of ``sample_activity.sql`` (still one statement,
one round trip); ``group_rows`` aggregates its rows into the rows the grouped query would have returned, so
``sampler.groups_from_rows`` turns both into the same ``ActivityGroup`` objects.

The statement leaves NULL what a row need not carry (its cost is the values it sends): ``BackendCache``
puts back a backend's unchanging attributes (database, role, address, SSL) from an earlier sample, and
``now()`` from the monitor's own row, so the rows the rest of this module reads are whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from planner.sessions import Session, incident_order, mask_literals

GROUP_KEYS = ("datid", "usesysid", "application_name", "client_addr", "state", "wait_event_type")
STATIC_KEYS = ("datid", "usesysid", "client_addr", "ssl")
"""A backend's attributes that never change while it lives: sent once, kept by (pid, backend_start)."""
KNOWN_MARGIN_S = 10.0
"""How far before the previous sample a backend must have started for its attributes to be left out: a
backend becomes visible only after authenticating, so one that started just before the previous sample may
not have been in it (one that took longer than this is a miss: the sampler asks again for everything)."""


class IncompleteSample(Exception):
    """The statement's rows lack the monitor's own row (so the sample's ``now()``)."""


@dataclass
class BackendCache:
    """The unchanging attributes of the backends of the previous sample on one connection.

    ``known_before()`` is the statement's ``:known_before``; ``complete()`` fills the rows it left out.
    """

    margin_s: float = KNOWN_MARGIN_S
    known: dict[tuple[int, datetime], tuple] = field(default_factory=dict)
    sampled_at: datetime | None = None

    def known_before(self) -> datetime | None:
        """Backends started before this moment are sent without their attributes (None: send them all)."""
        return None if self.sampled_at is None else self.sampled_at - timedelta(seconds=self.margin_s)

    def complete(self, rows: Sequence[Mapping[str, Any]], known_before: datetime | None) -> list[dict] | None:
        """The rows whole (attributes put back, ``sampled_at`` and ``is_own`` on each), remembered for the
        next sample; None when a row left out attributes this cache does not have (ask with None)."""
        sampled_at = next((row["sampled_at"] for row in rows if row["sampled_at"] is not None), None)
        if sampled_at is None:
            raise IncompleteSample("the sample has no row for the monitor's own backend")
        whole = [dict(row, is_own=row["sampled_at"] is not None, sampled_at=sampled_at) for row in rows]
        for row in whole:
            if _left_out(row, known_before):
                values = self.known.get((row["pid"], row["backend_start"]))
                if values is None:
                    return None
                row.update(zip(STATIC_KEYS, values, strict=True))
        self.known = {(row["pid"], row["backend_start"]): tuple(row[key] for key in STATIC_KEYS)
                      for row in whole if row["backend_start"] is not None}
        self.sampled_at = sampled_at
        return whole

    def clear(self) -> None:
        """Forget everything (a new connection): the next sample sends every backend's attributes."""
        self.known = {}
        self.sampled_at = None


def _left_out(row: Mapping[str, Any], known_before: datetime | None) -> bool:
    """The statement's own test: ``backend_start < :known_before`` (NULL on either side sends them)."""
    return known_before is not None and row["backend_start"] is not None and row["backend_start"] < known_before


def group_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per-backend rows aggregated like ``sample_activity(_with_queries).sql`` does on the server.

    ``last_query`` is the query of the group's oldest session idle in a transaction (None without query text).
    """
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[name] for name in GROUP_KEYS)
        group = groups.get(key)
        if group is None:
            group = groups[key] = {**dict(zip(GROUP_KEYS, key, strict=True)), "count": 0, "ssl_count": 0,
                                   "oldest_state_change": None, "oldest_xact_start": None,
                                   "oldest_backend_start": None, "youngest_backend_start": None,
                                   "sampled_at": row["sampled_at"], "last_query": None, "_idle_since": None}
        _add(group, row)
    for group in groups.values():
        del group["_idle_since"]
    return list(groups.values())


def _add(group: dict[str, Any], row: Mapping[str, Any]) -> None:
    group["count"] += 1
    group["ssl_count"] += bool(row["ssl"])
    group["oldest_state_change"] = _pick(min, group["oldest_state_change"], row["state_change"])
    group["oldest_xact_start"] = _pick(min, group["oldest_xact_start"], row["xact_start"])
    group["oldest_backend_start"] = _pick(min, group["oldest_backend_start"], row["backend_start"])
    group["youngest_backend_start"] = _pick(max, group["youngest_backend_start"], row["backend_start"])
    since = row["state_change"]
    idle = (row["state"] or "").startswith("idle in transaction")
    if idle and since is not None and (group["_idle_since"] is None or since < group["_idle_since"]):
        group["_idle_since"] = since
        group["last_query"] = row.get("query")


def _pick(choose: Callable[..., datetime], kept: datetime | None, new: datetime | None) -> datetime | None:
    if kept is None or new is None:
        return kept if new is None else new
    return choose(kept, new)


def sessions_from_rows(
    rows: Iterable[Mapping[str, Any]], name: Callable[[str, int | None], str | None], own_application_name: str
) -> tuple[Session, ...]:
    """Every backend but the monitor's own, in incident order (``planner.sessions``).

    The monitor's own are its backend (``is_own``) and, like in the groups, every backend carrying its
    ``application_name`` (another instance of the monitor), so ``len(sessions) == snapshot.total``.
    ``name(kind, oid)`` names a database or role oid (the sampler's per-connection cache).
    """
    sessions = [_session(row, name) for row in rows
                if not row["is_own"] and (row["application_name"] or "") != own_application_name]
    return incident_order(sessions)


def _session(row: Mapping[str, Any], name: Callable[[str, int | None], str | None]) -> Session:
    now = row["sampled_at"]
    return Session(
        pid=int(row["pid"]),
        application_name=row["application_name"] or "",
        usename=name("role", row["usesysid"]),
        datname=name("database", row["datid"]),
        client_addr=None if row["client_addr"] is None else str(row["client_addr"]),
        state=row["state"],
        wait_event_type=row["wait_event_type"],
        wait_event=row["wait_event"],
        xact_age_s=_age_s(now, row["xact_start"]),
        state_age_s=_age_s(now, row["state_change"]),
        backend_age_s=_age_s(now, row["backend_start"]),
        blocked_by=tuple(int(pid) for pid in row["blocked_by"] or ()),
        query=mask_literals(row.get("query")),
    )


def _age_s(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else round(max((now - moment).total_seconds(), 0.0), 3)

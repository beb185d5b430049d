"""One row per backend for the incident view: who holds the connections, who waits on whom.

Pure (no I/O): the sampler (``dashboard.live``) builds ``Session`` objects from ``pg_stat_activity`` and
``pg_blocking_pids``; this module orders them for an incident, masks query text, and builds the blocker ->
blocked trees the dashboard draws, the CLI prints and the live rules judge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

QUERY_CHARS = 200
"""Opt-in query text is cut to this many characters: enough to name the code path, little customer data."""

LITERAL = "?"
"""What a masked literal (number or quoted string) becomes."""


@dataclass(frozen=True, slots=True)
class Session:
    """One client backend of a monitored server (the monitor's own backend is never one)."""

    pid: int
    application_name: str
    usename: str | None
    datname: str | None
    client_addr: str | None
    """None for a Unix-socket connection (or when our role may not see it)."""
    state: str | None
    """``active``, ``idle``, ``idle in transaction``, ...; None when our role may not see it."""
    wait_event_type: str | None
    wait_event: str | None
    xact_age_s: float | None
    """now() - xact_start: how long its transaction has been open; None outside a transaction."""
    state_age_s: float | None
    """now() - state_change: how long it has been in its state (for a waiter: since its statement began)."""
    backend_age_s: float | None = None
    """now() - backend_start: how old the connection is."""
    blocked_by: tuple[int, ...] = ()
    """pg_blocking_pids(): the backends it waits for (asked only of backends waiting on a lock)."""
    query: str | None = None
    """Opt-in only: its current or last statement, literals masked (``mask_literals``), length-capped."""

    @property
    def idle_in_transaction(self) -> bool:
        return (self.state or "").startswith("idle in transaction")

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["blocked_by"] = list(self.blocked_by)
        return data


# --- query text ------------------------------------------------------------------------------------------------

_TOKENS = re.compile(
    r"""
    (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))                          # kept: comments name code paths
  | (?P<ident>"(?:[^"]|"")*"?)                                      # kept: quoted identifiers are names
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)?\$.*?(?:\$(?P=tag)?\$|\Z))   # dollar-quoted string
  | (?P<escaped>[Ee]'(?:[^'\\]|\\.|'')*(?:'|\Z))                    # E'...' with backslash escapes
  | (?P<string>(?:[BbXxNn]|[Uu]&)?'(?:[^']|'')*(?:'|\Z))            # '...', B'..', X'..', N'..', U&'..'
  | (?P<word>[A-Za-z_][A-Za-z_0-9$]*|\$\d+)                         # kept: identifiers, keywords, $1
  | (?P<number>(?:0[xXoObB][0-9A-Fa-f_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?))
    """,
    re.VERBOSE | re.DOTALL,
)


def mask_literals(sql: str | None, limit: int = QUERY_CHARS) -> str | None:
    """``sql`` with every number and quoted string replaced by ``?``, whitespace folded, cut to ``limit``.

    Identifiers (plain or quoted), keywords, ``$1`` parameters and comments are kept: they name the code
    path, the literals are the customer's data. A literal cut open by the server-side truncation is masked
    to the end.

    >>> mask_literals("SELECT * FROM t1 WHERE id = 42 AND name = 'O''Brien' -- billing")
    'SELECT * FROM t1 WHERE id = ? AND name = ? -- billing'
    """
    if sql is None:
        return None

    def replace(match: re.Match[str]) -> str:
        if match.group("comment") or match.group("ident") or match.group("word"):
            return match.group(0)
        return LITERAL

    masked = " ".join(_TOKENS.sub(replace, sql).split())
    return masked if len(masked) <= limit else masked[: limit - 3] + "..."


# --- incident order -------------------------------------------------------------------------------------------


def blockers(sessions: Iterable[Session]) -> frozenset[int]:
    """Pids some session waits for."""
    return frozenset(pid for session in sessions for pid in session.blocked_by)


def incident_order(sessions: Iterable[Session]) -> tuple[Session, ...]:
    """Blockers first, then the oldest transaction first (no transaction last), then by pid."""
    sessions = tuple(sessions)
    blocking = blockers(sessions)
    return tuple(sorted(sessions, key=lambda s: (s.pid not in blocking, s.xact_age_s is None,
                                                 -(s.xact_age_s or 0.0), s.pid)))


# --- blocking trees -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockingNode:
    """A backend and the backends waiting for it (directly, then theirs, and so on)."""

    pid: int
    session: Session | None
    """None when the blocker is not among the sessions (another monitor, a background worker, hidden)."""
    blocked: tuple[BlockingNode, ...]
    blocked_count: int
    """Distinct sessions waiting for it, directly or behind another waiter."""
    longest_wait_s: float | None
    """The longest ``state_age_s`` among them: how long the worst-off waiter has been stuck (at most)."""

    def pids(self) -> frozenset[int]:
        """Every pid below this node (not this node's own)."""
        return frozenset(pid for child in self.blocked for pid in (child.pid, *child.pids()))

    def as_dict(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "application_name": self.session.application_name if self.session else None,
            "state": self.session.state if self.session else None,
            "xact_age_s": self.session.xact_age_s if self.session else None,
            "blocked_count": self.blocked_count,
            "longest_wait_s": self.longest_wait_s,
            "blocked": [child.as_dict() for child in self.blocked],
        }


def blocking_trees(sessions: Sequence[Session]) -> tuple[BlockingNode, ...]:
    """The blocker -> blocked forest: one tree per root blocker, the worst (most blocked, longest wait) first.

    A root is a blocker that waits for nobody among the sessions. A waiter with several blockers appears
    under each (every blocker's count is then right); a cycle (a deadlock the server has not broken yet)
    is cut where it would repeat and rooted at its smallest pid.
    """
    by_pid = {session.pid: session for session in sessions}
    waiters: dict[int, list[int]] = {}
    for session in sessions:
        for pid in dict.fromkeys(session.blocked_by):
            if pid != session.pid:
                waiters.setdefault(pid, []).append(session.pid)
    roots = [pid for pid in waiters if not set(by_pid[pid].blocked_by if pid in by_pid else ()) & waiters.keys()]
    trees = [_node(pid, by_pid, waiters, frozenset()) for pid in sorted(roots)]
    reached = {pid for tree in trees for pid in (tree.pid, *tree.pids())}
    for pid in sorted(waiters):  # blockers only reachable through a cycle
        if pid not in reached:
            tree = _node(pid, by_pid, waiters, frozenset())
            trees.append(tree)
            reached |= {tree.pid, *tree.pids()}
    return tuple(sorted(trees, key=lambda t: (-t.blocked_count, -(t.longest_wait_s or 0.0), t.pid)))


def _node(pid: int, by_pid: Mapping[int, Session], waiters: Mapping[int, list[int]],
          path: frozenset[int]) -> BlockingNode:
    path = path | {pid}
    children = tuple(_node(child, by_pid, waiters, path) for child in sorted(waiters.get(pid, ())) if child not in path)
    below = frozenset(p for child in children for p in (child.pid, *child.pids()))
    waits = [by_pid[p].state_age_s for p in below if p in by_pid and by_pid[p].state_age_s is not None]
    return BlockingNode(pid, by_pid.get(pid), children, len(below), max(waits) if waits else None)


def walk(trees: Iterable[BlockingNode], depth: int = 0) -> Iterable[tuple[int, BlockingNode]]:
    """Every node of the trees, depth first, with its depth (0 for a root): for tables and printed trees."""
    for node in trees:
        yield depth, node
        yield from walk(node.blocked, depth + 1)


@dataclass(frozen=True, slots=True)
class IdleBlocker:
    """A session idle in a transaction that others wait for: the leak pitfall caught blocking."""

    session: Session
    blocked_count: int
    longest_wait_s: float | None
    blocked_apps: tuple[tuple[str, int], ...]
    """Applications of the sessions waiting for it, with how many of each, most first."""


def idle_blockers(sessions: Sequence[Session]) -> tuple[IdleBlocker, ...]:
    """Every session idle in a transaction that blocks at least one other, the most blocking first."""
    by_pid = {session.pid: session for session in sessions}
    found = []
    for _depth, node in walk(blocking_trees(sessions)):
        if node.session is None or not node.session.idle_in_transaction or not node.blocked_count:
            continue
        apps: dict[str, int] = {}
        for pid in node.pids():
            if pid in by_pid:
                app = by_pid[pid].application_name
                apps[app] = apps.get(app, 0) + 1
        found.append(IdleBlocker(node.session, node.blocked_count, node.longest_wait_s,
                                 tuple(sorted(apps.items(), key=lambda kv: (-kv[1], kv[0])))))
    unique = {blocker.session.pid: blocker for blocker in found}
    return tuple(sorted(unique.values(), key=lambda b: (-b.blocked_count, -(b.longest_wait_s or 0.0), b.session.pid)))


def new_backends(sessions: Iterable[Session], window_s: float) -> dict[str, int]:
    """Per application, the backends at most ``window_s`` old: a wave of them is a deploy or a restart of
    the application (every process opening its pool), or a storm of reconnects."""
    counts: dict[str, int] = {}
    for session in sessions:
        if session.backend_age_s is not None and session.backend_age_s <= window_s:
            counts[session.application_name] = counts.get(session.application_name, 0) + 1
    return counts

"""Pure parts of the incident view: literal masking, incident order, blocking trees and the leak finding
(hand-built sessions, hypothesis for the properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.live.actions import Action, Target, refusal
from dashboard.live.incident_cli import render_sessions
from dashboard.live.sessions import STATIC_KEYS, BackendCache, IncompleteSample
from planner.rules.live import live_findings
from planner.sessions import (
    QUERY_CHARS,
    Session,
    blocking_trees,
    idle_blockers,
    incident_order,
    mask_literals,
    walk,
)
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
SETTINGS = ServerSettings(100, 3, None, 0, 0, False, 160004, True, "monitor")


def session(pid, app="app", state="active", xact=None, in_state=1.0, blocked_by=(), wait=None, query=None):
    return Session(pid, app, "shop", "db", "10.0.0.1", state, wait, None, xact, in_state, 60.0, tuple(blocked_by),
                   query)


# --- masking ----------------------------------------------------------------------------------------------------


def test_mask_literals_examples():
    assert mask_literals("UPDATE invoice SET status = 'paid', n = n + 1.5e3 WHERE id = 42 AND t1.x = $1") == (
        "UPDATE invoice SET status = ?, n = n + ? WHERE id = ? AND t1.x = $1")
    assert mask_literals("SELECT E'it\\'s', $$secret$$, $tag$a$b$tag$, x'FF', \"col 7\" FROM t") == (
        'SELECT ?, ?, ?, ?, "col 7" FROM t')
    assert mask_literals("SELECT 'cut by the server at 200 chars and never clo") == "SELECT ?"
    assert mask_literals("SELECT 1 /* route=/invoices/42 */") == "SELECT ? /* route=/invoices/42 */"
    assert mask_literals(None) is None
    long = mask_literals("SELECT " + ", ".join(f"c{i}" for i in range(200)))
    assert len(long) == QUERY_CHARS and long.endswith("...")


identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
numbers = st.one_of(st.integers(0, 10**12).map(str), st.floats(0, 1e9, allow_nan=False).map(repr))
strings = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20).map(
    lambda text: "'" + text.replace("'", "''") + "'")


@given(st.lists(st.one_of(identifiers.map(lambda t: (t, t)), numbers.map(lambda t: (t, "?")),
                          strings.map(lambda t: (t, "?"))), min_size=1, max_size=30))
def test_mask_literals_replaces_every_literal_and_keeps_every_name(tokens):
    sql = " ".join(text for text, _ in tokens)
    expected = " ".join(masked for _, masked in tokens)
    assert mask_literals(sql, limit=10_000) == expected


# --- order and trees --------------------------------------------------------------------------------------------


def test_incident_order_blockers_first_then_oldest_transaction():
    sessions = [session(1, xact=5.0), session(2, xact=None), session(3, xact=50.0), session(4, xact=1.0),
                session(5, xact=2.0, blocked_by=[4])]
    assert [s.pid for s in incident_order(sessions)] == [4, 3, 1, 5, 2]


def test_blocking_tree_of_the_lock_chain():
    sessions = [session(10, "billing-worker", "idle in transaction", xact=120.0, in_state=119.0),
                session(11, "reconcile-cron", xact=25.0, in_state=25.0, blocked_by=[10], wait="Lock"),
                session(12, "reconcile-cron", xact=20.0, in_state=20.0, blocked_by=[11], wait="Lock"),
                session(13, "web", "idle")]
    (tree,) = blocking_trees(sessions)
    assert [(depth, node.pid, node.blocked_count, node.longest_wait_s) for depth, node in walk([tree])] == [
        (0, 10, 2, 25.0), (1, 11, 1, 20.0), (2, 12, 0, None)]
    (blocker,) = idle_blockers(sessions)
    assert (blocker.session.pid, blocker.blocked_count, blocker.longest_wait_s, blocker.blocked_apps) == (
        10, 2, 25.0, (("reconcile-cron", 2),))
    text = render_sessions(incident_order(sessions))
    assert "pid 10 billing-worker [idle in transaction, transaction 120.0s] blocks 2, longest wait 25.0s" in text
    assert "└ pid 12 reconcile-cron [active, transaction 20.0s, waiting 20.0s]" in text


def test_unknown_blocker_and_cycle():
    sessions = [session(1, blocked_by=[99]), session(2, blocked_by=[3]), session(3, blocked_by=[2])]
    trees = blocking_trees(sessions)
    assert [(t.pid, t.session is None, sorted(t.pids())) for t in trees] == [(2, False, [3]), (99, True, [1])]


@st.composite
def session_sets(draw):
    pids = draw(st.lists(st.integers(1, 30), min_size=1, max_size=15, unique=True))
    return [session(pid, in_state=draw(st.floats(0, 100)),
                    blocked_by=draw(st.lists(st.sampled_from([*pids, 99]), max_size=3, unique=True)))
            for pid in pids]


def _closure(pid, waiters):
    seen, todo = set(), [pid]
    while todo:
        for waiter in waiters.get(todo.pop(), ()):
            if waiter not in seen and waiter != pid:
                seen.add(waiter)
                todo.append(waiter)
    return seen


@given(session_sets())
def test_trees_cover_every_waiter_and_count_what_waits(sessions):
    trees = blocking_trees(sessions)
    by_pid = {s.pid: s for s in sessions}
    waiters: dict[int, set[int]] = {}
    for s in sessions:
        for b in s.blocked_by:
            if b != s.pid:
                waiters.setdefault(b, set()).add(s.pid)
    nodes = [node for _, node in walk(trees)]
    shown = {node.pid for node in nodes}
    assert {s.pid for s in sessions if set(s.blocked_by) - {s.pid}} <= shown  # every waiter is in a tree
    assert {b for s in sessions for b in s.blocked_by if b != s.pid} <= shown  # and every blocker
    for node in nodes:
        assert node.blocked_count == len(node.pids())
        assert node.pids() <= _closure(node.pid, waiters)
        waits = [by_pid[p].state_age_s for p in node.pids()]
        assert node.longest_wait_s == (max(waits) if waits else None)


@given(session_sets().filter(lambda ss: all(b < s.pid or b == 99 for s in ss for b in s.blocked_by)))
def test_acyclic_trees_count_exactly_the_transitive_waiters(sessions):
    waiters: dict[int, set[int]] = {}
    for s in sessions:
        for b in s.blocked_by:
            waiters.setdefault(b, set()).add(s.pid)
    for _, node in walk(blocking_trees(sessions)):
        assert node.pids() == _closure(node.pid, waiters)


# --- the backends' unchanging attributes, sent once ------------------------------------------------------------


def row(pid, started, *, left_out=False, own=False, datid=5, usesysid=10, addr="10.0.0.1", ssl=True):
    """A row of sample_sessions.sql as the server sends it (attributes NULL when ``left_out``)."""
    statics = dict.fromkeys(STATIC_KEYS) if left_out else dict(datid=datid, usesysid=usesysid, client_addr=addr,
                                                               ssl=ssl)
    return dict(pid=pid, backend_start=started, application_name="app", state="idle", **statics,
                sampled_at=NOW if own else None)


def test_backend_cache_puts_back_what_the_statement_left_out():
    cache = BackendCache(margin_s=10.0)
    assert cache.known_before() is None  # the first sample asks for everything
    old, young = NOW - timedelta(minutes=5), NOW - timedelta(seconds=3)
    first = cache.complete([row(1, old, own=True), row(2, old, datid=6, ssl=False), row(3, young)], None)
    assert [(r["pid"], r["is_own"], r["sampled_at"]) for r in first] == [
        (1, True, NOW), (2, False, NOW), (3, False, NOW)]
    assert cache.known_before() == NOW - timedelta(seconds=10)
    later = NOW + timedelta(seconds=1)
    known_before = cache.known_before()
    second = cache.complete([dict(row(1, old, left_out=True), sampled_at=later), row(2, old, left_out=True),
                             row(3, young), row(4, NOW, usesysid=11)], known_before)
    assert [(r["pid"], r["datid"], r["usesysid"], r["client_addr"], r["ssl"], r["sampled_at"]) for r in second] == [
        (1, 5, 10, "10.0.0.1", True, later), (2, 6, 10, "10.0.0.1", False, later),
        (3, 5, 10, "10.0.0.1", True, later), (4, 5, 11, "10.0.0.1", True, later)]
    assert cache.sampled_at == later and set(cache.known) == {(1, old), (2, old), (3, young), (4, NOW)}


def test_backend_cache_miss_is_none_and_changes_nothing():
    cache = BackendCache(margin_s=0.0)
    old = NOW - timedelta(minutes=5)
    cache.complete([row(1, old, own=True), row(2, old)], None)
    known, known_before = dict(cache.known), cache.known_before()
    reused = old - timedelta(seconds=1)  # pid 2 again, another backend: not the one the cache knows
    assert cache.complete([row(1, old, own=True, left_out=True), row(2, reused, left_out=True)], known_before) is None
    assert cache.complete([row(1, old, own=True, left_out=True), row(9, old, left_out=True)], known_before) is None
    assert cache.known == known and cache.known_before() == known_before
    hidden = dict(row(7, None), state=None)  # another role's backend without pg_read_all_stats: never left out
    assert [r["datid"] for r in cache.complete([row(1, old, own=True, left_out=True), hidden], known_before)] == [5, 5]
    cache.clear()
    assert cache.known_before() is None and cache.known == {}


def test_backend_cache_without_the_own_row_is_an_error():
    with pytest.raises(IncompleteSample):
        BackendCache().complete([row(2, NOW)], None)


# --- the leak finding -------------------------------------------------------------------------------------------


def test_idle_blocker_raises_idle_in_transaction_with_blocking_evidence():
    sessions = (session(10, "billing-worker", "idle in transaction", xact=120.0, in_state=120.0),
                session(11, "reconcile-cron", xact=25.0, in_state=25.0, blocked_by=[10], wait="Lock"))
    groups = (ActivityGroup("db", "shop", "billing-worker", None, "idle in transaction", "Client", 1, 0, 120.0, 120.0),
              ActivityGroup("db", "shop", "reconcile-cron", None, "active", "Lock", 1, 0, None, 25.0))
    snap = Snapshot("primary", NOW, "ok", groups, SETTINGS, 1, sessions=sessions)
    (leak,) = [f for f in live_findings(None, [snap]) if f.id == "idle-in-transaction"]
    assert leak.severity == "critical"
    assert leak.message == (
        "app 'billing-worker' (role shop): pid 10 idle in transaction for 120 s (transaction open 120 s) is "
        "blocking 1 session for 25 s ('reconcile-cron' x1)")
    assert "terminate pid 10" in leak.fix
    without = Snapshot("primary", NOW, "ok", groups, SETTINGS, 1)
    (plain,) = [f for f in live_findings(None, [without]) if f.id == "idle-in-transaction"]
    assert plain.severity == "warning" and "blocking" not in plain.message
    assert "sessions" not in without.as_dict() and snap.as_dict()["sessions"][1]["blocked_by"] == [10]


def test_an_idle_session_blocking_nobody_is_not_a_blocker():
    assert idle_blockers([session(1, state="idle in transaction", xact=500.0), session(2)]) == ()


# --- the action guard -------------------------------------------------------------------------------------------


def target(**changes):
    base = dict(pid=7, exists=True, application_name="billing-worker", usename="shop", backend_type="client backend",
                client_backend=True, own_pid=3, monitor_role="monitor", monitor_signal_backend=True)
    return Target(**{**base, **changes})


def test_refusal_reasons():
    assert refusal(target(), Action.TERMINATE) is None
    assert refusal(target(monitor_signal_backend=False, monitor_has_target_role=True), Action.CANCEL) is None
    assert refusal(target(exists=False), Action.CANCEL).startswith("no backend with pid 7")
    assert "monitor's own backend" in refusal(target(pid=3), Action.CANCEL)
    assert "monitor's own backend" in refusal(target(application_name="pool-planner-monitor"), Action.CANCEL)
    assert "superuser" in refusal(target(target_superuser=True, monitor_superuser=True), Action.CANCEL)
    assert "not a client backend (autovacuum worker)" in refusal(
        target(client_backend=False, backend_type="autovacuum worker"), Action.CANCEL)
    assert refusal(target(state="idle in transaction"), Action.TERMINATE) is None
    assert refusal(target(state="idle in transaction"), Action.CANCEL).startswith(
        "pid 7 is idle in transaction: it runs no statement")
    assert refusal(target(monitor_signal_backend=False), Action.CANCEL) == (
        "role monitor may not signal pid 7 (role shop): it needs pg_signal_backend "
        "(GRANT pg_signal_backend TO monitor;) or to be that role")

"""The incident view against a real PostgreSQL (TEST_DATABASE_URL or the embedded 16): a real lock chain
(an idle-in-transaction blocker holding a row lock, two waiters) found exactly in ``sample --sessions
--json`` and in the blocking tree; cancel and terminate done when enabled, refused with the reason when
disabled, for the monitor's own backend, for a superuser's, and for a monitor role without the privilege;
every attempt in the history's ``action_log``, which an old history file gains without losing samples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from incident_support import admin, conninfo, lock_chain, login_role, unique, wait_until
from sqlalchemy.engine import make_url

from dashboard.live import HistoryStore, Monitor, ServerSampler, queries, sample_once
from dashboard.live.actions import ALLOW_ENV, Action, ActionLog, Outcome, act
from planner.sessions import blocking_trees
from planner.snapshot import Snapshot

pytestmark = pytest.mark.db
ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, allow: bool = False, data: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
    if allow:
        env[ALLOW_ENV] = "1"
    if data is not None:
        env["POOL_PLANNER_DATA"] = str(data)
    return subprocess.run([sys.executable, "-m", "dashboard.live", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def with_user(url: str, user: str) -> str:
    return make_url(url).set(username=user, password=None).render_as_string(hide_password=False)


# ------------------------------------------------------------------------------------------------ sessions


def test_sample_sessions_json_finds_the_lock_chain_exactly(pg_url):
    with lock_chain(pg_url) as chain:
        time.sleep(1.0)  # ages grow past rounding
        done = cli("sample", "--url", pg_url, "--sessions", "--json")
    assert done.returncode == 1, done.stderr  # sampled, with a critical finding
    document = json.loads(done.stdout)
    sessions = {s["pid"]: s for s in document["sessions"]}
    blocker, first, second = chain.blocker_pid, *chain.waiter_pids
    mine = [s["pid"] for s in document["sessions"] if s["pid"] in (blocker, first, second)]
    assert mine == [blocker, first, second]  # blockers first (the blocker, then the first waiter), then age
    b, w1, w2 = sessions[blocker], sessions[first], sessions[second]
    assert (b["application_name"], b["usename"], b["state"], b["wait_event_type"], b["blocked_by"]) == (
        "billing-worker", chain.role, "idle in transaction", "Client", [])
    assert (w1["application_name"], w1["state"], w1["wait_event_type"], w1["wait_event"], w1["blocked_by"]) == (
        "reconcile-cron", "active", "Lock", "transactionid", [blocker])
    assert (w2["application_name"], w2["state"], w2["wait_event_type"], w2["wait_event"], w2["blocked_by"]) == (
        "reconcile-cron", "active", "Lock", "tuple", [first])
    assert b["datname"] == make_url(pg_url).database
    for s in (b, w1, w2):
        assert s["xact_age_s"] >= 1.0 and s["state_age_s"] >= 1.0
        assert s["query"] is None  # query text is opt-in
    assert b["xact_age_s"] >= w1["xact_age_s"] >= w2["xact_age_s"]

    (tree,) = [t for t in document["blocking"] if t["pid"] == blocker]
    assert (tree["application_name"], tree["blocked_count"]) == ("billing-worker", 2)
    assert tree["longest_wait_s"] == pytest.approx(w1["state_age_s"])
    assert [(n["pid"], n["blocked_count"]) for n in tree["blocked"]] == [(first, 1)]
    assert [(n["pid"], n["blocked_count"], n["blocked"]) for n in tree["blocked"][0]["blocked"]] == [(second, 0, [])]

    (leak,) = [f for f in document["findings"]
               if f["id"] == "idle-in-transaction" and f"pid {blocker} " in f["message"]]
    assert leak["severity"] == "critical"
    assert "is blocking 2 sessions for" in leak["message"] and "'reconcile-cron' x2" in leak["message"]


def test_sessions_exclude_own_backend_and_groups_match_the_grouped_query(pg_url):
    with lock_chain(pg_url) as chain, Monitor({"primary": pg_url}, interval_s=0.2, collect_sessions=True) as monitor:
        latest: Snapshot = wait_until(lambda: (s := monitor.latest().get("primary")) and s.sessions and s)
        own = monitor.status()["primary"].own_pid
        plain = sample_once(pg_url)
    assert own is not None and own not in {s.pid for s in latest.sessions}
    assert latest.own_connections >= 1 and len(latest.sessions) == latest.total
    assert "pool-planner-monitor" not in {s.application_name for s in latest.sessions}
    chain_pids = {chain.blocker_pid, *chain.waiter_pids}
    assert chain_pids <= {s.pid for s in latest.sessions}

    def chain_groups(snapshot):
        return sorted((g.application_name, g.usename, g.state, g.wait_event_type, g.count) for g in snapshot.groups
                      if g.usename == chain.role)

    assert chain_groups(latest) == chain_groups(plain) == [
        ("billing-worker", chain.role, "idle in transaction", "Client", 1),
        ("reconcile-cron", chain.role, "active", "Lock", 2),
    ]
    trees = [t for t in blocking_trees(latest.sessions) if t.pid == chain.blocker_pid]
    assert [(t.blocked_count, sorted(t.pids())) for t in trees] == [(2, sorted(chain.waiter_pids))]


def left_out_pids(url: str, name: str, known_before: datetime) -> set[int]:
    """The backends whose database, role, address and SSL ``name``.sql leaves out for ``known_before``."""
    statement = queries.sent_text(name).replace(":known_before", "%(known_before)s").replace(
        ":query_chars", "%(query_chars)s")
    rows = admin(url).execute(statement, {"known_before": known_before, "query_chars": 10}).fetchall()
    return {r[0] for r in rows if r[8] is None and r[9] is None and r[11] is None and r[5] is not None}


@pytest.mark.parametrize("collect_queries", [False, True])
async def test_sessions_after_the_first_sample_put_back_what_was_left_out(pg_url, collect_queries):
    def seen(snapshot):
        return sorted((s.pid, s.application_name, s.usename, s.datname, s.client_addr, s.state, s.wait_event_type,
                       s.wait_event, s.blocked_by, s.query) for s in snapshot.sessions if s.pid in chain_pids)

    def groups(snapshot):
        return sorted((g.datname, g.usename, g.application_name, g.client_addr, g.state, g.wait_event_type, g.count,
                       g.ssl_count) for g in snapshot.groups if g.usename == chain.role)

    with lock_chain(pg_url) as chain:
        chain_pids = {chain.blocker_pid, *chain.waiter_pids}
        sampler = ServerSampler("primary", pg_url, collect_sessions=True, collect_queries=collect_queries,
                                known_margin_s=0.0)
        try:
            first = await sampler.sample()
            known_before = sampler._backends.known_before()
            second = await sampler.sample()  # the chain's backends come without their attributes
            sampler._backends.known.clear()  # as if they had not been seen: a miss, answered by asking again
            third = await sampler.sample()
            own = sampler.own_pid
        finally:
            await sampler.close()
        name = "sample_sessions_with_queries" if collect_queries else "sample_sessions"
        assert chain_pids <= left_out_pids(pg_url, name, known_before)
    assert own is not None and first.ok and second.ok and third.ok, (first.error, second.error, third.error)
    assert len(seen(first)) == 3 and seen(first) == seen(second) == seen(third)
    assert {s.datname for s in second.sessions if s.pid in chain_pids} == {make_url(pg_url).database}
    assert groups(first) == groups(second) == groups(third) == [
        (make_url(pg_url).database, chain.role, "billing-worker", "127.0.0.1", "idle in transaction", "Client", 1, 0),
        (make_url(pg_url).database, chain.role, "reconcile-cron", "127.0.0.1", "active", "Lock", 2, 0)]
    for snapshot in (first, second, third):
        assert len(snapshot.sessions) == snapshot.total and own not in {s.pid for s in snapshot.sessions}


def test_query_text_only_when_asked_and_literals_masked(pg_url):
    with lock_chain(pg_url) as chain:
        without = sample_once(pg_url, collect_sessions=True)
        with_text = sample_once(pg_url, collect_sessions=True, collect_queries=True)
    by_pid = {s.pid: s for s in with_text.sessions}
    assert all(s.query is None for s in without.sessions)
    query = by_pid[chain.blocker_pid].query
    assert query == f'UPDATE "{chain.table}" SET status = ? WHERE id = ?'
    assert "paid" not in json.dumps(with_text.as_dict()["sessions"])


# ------------------------------------------------------------------------------------------------ acting


@pytest.mark.parametrize("action", ["cancel", "terminate"])
def test_disabled_cli_refuses_with_the_reason(pg_url, tmp_path, action):
    with lock_chain(pg_url, waiters=1) as chain:
        done = cli(action, "--url", pg_url, "--pid", str(chain.blocker_pid), data=tmp_path)
        alive = admin(pg_url).execute("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = %s",
                                      (chain.blocker_pid,)).fetchone()[0]
    assert done.returncode == 2
    assert f"{ALLOW_ENV}=1" in done.stderr and "off" in done.stderr and "Traceback" not in done.stderr
    assert alive == 1
    assert not (tmp_path / "history.sqlite").exists()  # nothing acted, nothing logged


def test_cancel_then_terminate_when_enabled_and_logged(pg_url, tmp_path):
    with lock_chain(pg_url) as chain:
        _first, second = chain.waiter_pids
        cancelled = cli("cancel", "--url", pg_url, "--pid", str(second), "--json", allow=True, data=tmp_path)
        assert cancelled.returncode == 0, cancelled.stderr
        wait_until(lambda: chain.errors)
        assert chain.errors[0].startswith("QueryCanceled")
        terminated = cli("terminate", "--url", pg_url, "--pid", str(chain.blocker_pid), allow=True, data=tmp_path)
        assert terminated.returncode == 0, terminated.stderr
        wait_until(lambda: len(chain.errors) == 2)
        assert chain.errors[1] == "done"  # the first waiter got the row once the blocker's transaction ended
    result = json.loads(cancelled.stdout)
    assert (result["action"], result["pid"], result["outcome"], result["application_name"]) == (
        "cancel", second, "done", "reconcile-cron")
    assert f"terminate pid {chain.blocker_pid} (billing-worker" in terminated.stdout
    log = ActionLog(tmp_path / "history.sqlite").results()
    assert [(r.action, r.pid, r.outcome, r.application_name, r.usename) for r in log] == [
        (Action.CANCEL, second, Outcome.DONE, "reconcile-cron", chain.role),
        (Action.TERMINATE, chain.blocker_pid, Outcome.DONE, "billing-worker", chain.role),
    ]
    for r in log:
        assert r.os_user and r.monitor_role == make_url(pg_url).username and r.query_age_s > 0
        assert abs((datetime.now(UTC) - r.at).total_seconds()) < 60


def test_refused_for_the_monitors_own_backend(pg_url, tmp_path):
    log = ActionLog(tmp_path / "history.sqlite")
    with Monitor({"primary": pg_url}, interval_s=0.2) as monitor:
        own = wait_until(lambda: monitor.status()["primary"].own_pid)
        results = [act(pg_url, action, own, enabled=True, log=log) for action in Action]
        still = monitor.status()["primary"].own_pid
    assert [r.outcome for r in results] == [Outcome.REFUSED, Outcome.REFUSED]
    assert all("monitor's own backend" in r.reason for r in results)
    assert still == own  # not signalled
    assert [r.outcome for r in log.results()] == [Outcome.REFUSED, Outcome.REFUSED]


def test_refused_for_a_superusers_backend(pg_url):
    url = make_url(pg_url)
    with psycopg.connect(conninfo(pg_url, application_name=unique("su"))) as su:
        pid = su.info.backend_pid
        result = act(pg_url, "terminate", pid, enabled=True)
        assert su.execute("SELECT 1").fetchone() == (1,)  # still connected
    assert result.outcome is Outcome.REFUSED
    assert result.reason == (f"pid {pid} belongs to superuser {url.username}: "
                             "refusing to terminate a superuser's backend")


def test_refused_without_the_privilege_and_done_with_pg_signal_backend(pg_url, tmp_path):
    with lock_chain(pg_url, waiters=1) as chain, login_role(pg_url) as weak, \
            login_role(pg_url, "pg_signal_backend") as strong:
        (waiter,) = chain.waiter_pids
        refused = cli("cancel", "--url", with_user(pg_url, weak), "--pid", str(waiter), allow=True, data=tmp_path)
        assert not chain.errors  # still waiting
        done = cli("cancel", "--url", with_user(pg_url, strong), "--pid", str(waiter), allow=True, data=tmp_path)
        wait_until(lambda: chain.errors)
    assert refused.returncode == 2
    assert f"role {weak} may not signal pid {waiter}" in refused.stderr
    assert f"GRANT pg_signal_backend TO {weak};" in refused.stderr
    assert done.returncode == 0, done.stderr
    assert chain.errors[0].startswith("QueryCanceled")
    log = ActionLog(tmp_path / "history.sqlite").results()
    assert [(r.monitor_role, r.outcome) for r in log] == [(weak, Outcome.REFUSED), (strong, Outcome.DONE)]


def test_unknown_pid_and_bad_url_are_one_line_exit_2(pg_url, tmp_path):
    gone = cli("terminate", "--url", pg_url, "--pid", "999999", allow=True, data=tmp_path)
    assert gone.returncode == 2 and "no backend with pid 999999" in gone.stderr
    bad = cli("cancel", "--url", "mysql://x@y/z", "--pid", "5", allow=True, data=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    missing = cli("cancel", "--url", pg_url, allow=True, data=tmp_path)
    assert missing.returncode == 2 and "--pid" in missing.stderr


def test_old_history_file_gains_the_action_table_and_keeps_its_samples(tmp_path):
    path = tmp_path / "history.sqlite"
    store = HistoryStore(path)  # a file as written before action_log existed
    store.append(Snapshot("primary", datetime.now(UTC), "unreachable", error="down"))
    store.close()
    log = ActionLog(path)
    log.append(act("postgresql://u@h/d", "cancel", 1, enabled=False))  # any result: the row round-trips
    ActionLog(path)  # the migration runs again on every open, harmlessly
    reopened = HistoryStore(path)
    try:
        assert [s.status for s in reopened.snapshots("primary")] == ["unreachable"]
    finally:
        reopened.close()
    (row,) = log.results()
    assert (row.action, row.pid, row.outcome) == (Action.CANCEL, 1, Outcome.REFUSED)


def test_cancel_of_the_idle_blocker_is_refused_because_it_would_do_nothing(pg_url, tmp_path):
    with lock_chain(pg_url, waiters=1) as chain:
        done = cli("cancel", "--url", pg_url, "--pid", str(chain.blocker_pid), allow=True, data=tmp_path)
        state = admin(pg_url).execute("SELECT state FROM pg_catalog.pg_stat_activity WHERE pid = %s",
                                      (chain.blocker_pid,)).fetchone()[0]
        waiting = list(chain.errors)
    assert done.returncode == 2
    assert f"pid {chain.blocker_pid} is idle in transaction: it runs no statement" in done.stderr
    assert state == "idle in transaction" and waiting == []

"""Live rules over hand-built samples: each rule's whole finding, its clearing, dedup, 'since', and properties."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.model import SEVERITY_ORDER, Deployment, Engine, Plan, Server
from planner.rules.live import NO_APP, live_findings, tracked_live_findings
from planner.rules.thresholds import DEFAULT_THRESHOLDS
from planner.snapshot import ActivityGroup, ServerSettings, Snapshot

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def conf(**kw) -> ServerSettings:
    base = dict(
        max_connections=100,
        superuser_reserved_connections=3,
        reserved_connections=0,
        idle_in_transaction_session_timeout_ms=60_000,
        idle_session_timeout_ms=0,
        ssl=True,
        server_version_num=160002,
        can_see_all=True,
        role="monitor",
    )
    return ServerSettings(**{**base, **kw})


def group(app="orders", state="idle", count=1, ssl_count=None, **kw) -> ActivityGroup:
    base = dict(datname="app", usename="app", client_addr="10.0.0.5", wait_event_type=None)
    return ActivityGroup(
        application_name=app, state=state, count=count, ssl_count=count if ssl_count is None else ssl_count,
        **{**base, **kw},
    )


def snap(*groups, at=0.0, server="primary", settings=None, own=1, status="ok", **kw) -> Snapshot:
    return Snapshot(
        server=server, taken_at=T0 + timedelta(seconds=at), status=status, groups=tuple(groups),
        settings=conf() if settings is None and status == "ok" else settings, own_connections=own, **kw,
    )


def plan(workers=4, **engine) -> Plan:
    eng = dict(application_name="orders", pool_size=5, max_overflow=5)
    return Plan(engines=(Engine(**{**eng, **engine}),), deployment=Deployment(workers=workers))


def summary(findings):
    return [(f.id, f.severity, f.server, f.message) for f in findings]


def ids(findings):
    return sorted(f.id for f in findings)


# --- too-many-connections ------------------------------------------------------------------------------------


def test_quiet_server_has_no_finding():
    assert live_findings(plan(), [snap(group(count=20))]) == []


@pytest.mark.parametrize(
    ("clients", "severity", "percent", "limit"),
    [
        (75, None, None, None),
        (76, "warning", "80%", "80%"),
        (90, "warning", "95%", "80%"),
        (91, "critical", "96%", "95%"),
    ],
)
def test_too_many_connections_live_at_80_and_95_percent(clients, severity, percent, limit):
    server = Server(other_clients=1)  # usable = 100 - 3 - 0 - 1 = 96
    found = live_findings(Plan(servers=(server,), engines=(Engine(),)), [snap(group(app="web", count=clients))])
    if severity is None:
        assert found == []
        return
    assert summary(found) == [
        (
            "too-many-connections", severity, "primary",
            f"primary: {clients + 1} connections ({clients} clients + 1 monitor) = {percent} of 96 usable "
            "(max_connections 100 - superuser_reserved 3 - reserved 0 - other clients 1), "
            f"at or above {limit}; largest: 'web' {clients}",
        )
    ]
    assert "python -m planner recommend --max-connections 100 --superuser-reserved 3 --other-clients 1" in (
        found[0].snippet
    )


def test_too_many_uses_live_settings_not_the_plan():
    tiny = conf(max_connections=10, superuser_reserved_connections=3, reserved_connections=None)
    found = live_findings(plan(), [snap(group(count=6), settings=tiny)])  # plan says 100: live says 10
    assert summary(found) == [
        (
            "too-many-connections", "critical", "primary",
            "primary: 7 connections (6 clients + 1 monitor) = 100% of 7 usable (max_connections 10 - "
            "superuser_reserved 3 - reserved 0 - other clients 0), at or above 95%; largest: 'orders' 6",
        ),
        (
            "plan-differs-from-server", "warning", "primary",
            "primary: max_connections 100 in the plan, 10 on the server: the plan counts 97 usable slots, the server "
            "gives 7: every budget figure and verdict from the plan is too optimistic",
        ),
    ]


def test_plan_differs_from_server_names_every_difference_and_clears_once_equal():
    """Issue #13: a plan saying 200 against a server with 100 must say so; version and reserved slots too."""
    planned = Plan(servers=(Server(max_connections=200, major_version=16),),
                   engines=(Engine(application_name="orders", pool_size=5, max_overflow=5),))
    live = conf(max_connections=100, reserved_connections=None, server_version_num=150004)
    [finding] = live_findings(planned, [snap(settings=live)])
    assert (finding.id, finding.severity) == ("plan-differs-from-server", "warning")
    assert finding.message == (
        "primary: max_connections 200 in the plan, 100 on the server, major_version 16 in the plan, 15 on the "
        "server: the plan counts 197 usable slots, the server gives 97: every budget figure and verdict from the "
        "plan is too optimistic")
    assert finding.snippet == ('[[servers]]\nname = "primary"\nmax_connections = 100\n'
                               "superuser_reserved_connections = 3\nmajor_version = 15")
    roomier = live_findings(planned, [snap(settings=conf(max_connections=300))])
    assert summary(roomier) == [("plan-differs-from-server", "info", "primary",
                                 "primary: max_connections 200 in the plan, 300 on the server: the plan's budget "
                                 "(197 usable) is not the server's (297 usable)")]
    same = live_findings(Plan(servers=(Server(max_connections=100),), engines=planned.engines),
                         [snap(settings=conf(max_connections=100))])
    assert "plan-differs-from-server" not in ids(same)
    assert "plan-differs-from-server" not in ids(live_findings(None, [snap(settings=live)]))  # no plan: nothing


def test_replica_below_primary_live_when_both_servers_are_sampled():
    planned = Plan(servers=(Server(max_connections=100), Server(name="replica", replica_of="primary")),
                   engines=(Engine(pool_size=5, max_overflow=0),
                            Engine(name="replica", server="replica", pool_size=5, max_overflow=0)))
    primary = snap(settings=conf(max_connections=300, max_worker_processes=16, max_wal_senders=10))
    replica = snap(server="replica", settings=conf(max_connections=100, max_worker_processes=8, max_wal_senders=10))
    found = {(f.id, f.server): f for f in live_findings(planned, [primary, replica])}
    standby = found[("replica-below-primary", "replica")]
    assert standby.severity == "critical"
    assert ("in the live servers max_connections 100 < 300, max_worker_processes 8 < 16 (standby < primary)"
            in standby.message)
    # one server alone, or both equal: nothing to compare
    assert ("replica-below-primary", "replica") not in {(f.id, f.server) for f in live_findings(planned, [replica])}
    equal = snap(server="replica", settings=conf(max_connections=300, max_worker_processes=16, max_wal_senders=10))
    assert "replica-below-primary" not in ids(live_findings(planned, [primary, equal]))


def test_refused_sample_is_the_server_full_and_the_monitor_refused():
    words = 'remaining connection slots are reserved for roles with the SUPERUSER attribute'
    history = [snap(group(count=3), at=0), snap(at=1, status="refused", error=words, sqlstate="53300")]
    found = live_findings(plan(), history)
    assert summary(found) == [
        (
            "too-many-connections", "critical", "primary",
            f'primary is out of connection slots: "{words}" (SQLSTATE 53300): every slot an ordinary role may use '
            "is taken",
        ),
        (
            "monitor-refused", "warning", "primary",
            f'the dashboard could not connect to primary: "{words}" (SQLSTATE 53300): no live counts until a slot '
            "frees up",
        ),
    ]
    assert "GRANT pg_use_reserved_connections TO monitor;" in found[1].snippet  # the role of the last good sample


def test_refused_on_postgres_15_does_not_suggest_reserved_connections():
    pg15 = conf(server_version_num=150018, reserved_connections=None)
    history = [snap(at=0, settings=pg15), snap(at=1, status="refused", error="sorry, too many clients already")]
    monitor = next(f for f in live_findings(None, history) if f.id == "monitor-refused")
    assert "exists only from PostgreSQL 16" in monitor.fix
    assert monitor.snippet == ""


def test_other_failures_are_gaps_not_findings():
    assert live_findings(plan(), [snap(status="unreachable", error="connection refused")]) == []


# --- idle-in-transaction and its server setting --------------------------------------------------------------


def test_idle_in_transaction_with_age_roles_and_last_statement():
    stuck = group(state="idle in transaction", count=2, oldest_idle_in_transaction_s=42.4,
                  last_query="UPDATE orders   SET status = $1\n WHERE id = $2")
    aborted = group(state="idle in transaction (aborted)", usename="batch", oldest_idle_in_transaction_s=5.0)
    found = live_findings(plan(), [snap(stuck, aborted, group(count=3))])
    assert summary(found) == [
        (
            "idle-in-transaction", "warning", "primary",
            "app 'orders' (role app, batch): 3 sessions idle in transaction / idle in transaction (aborted), the "
            "oldest for 42 s >= 30 s: each holds a connection, its locks and its snapshot; last statement: "
            '"UPDATE orders SET status = $1 WHERE id = $2"',
        )
    ]
    assert "async with SessionFactory() as session" in found[0].snippet


def test_idle_in_transaction_thresholds():
    def severity(age):
        found = live_findings(None, [snap(group(state="idle in transaction", oldest_idle_in_transaction_s=age))])
        return [f.severity for f in found if f.id == "idle-in-transaction"]

    assert (severity(29.9), severity(30), severity(299), severity(300)) == ([], ["warning"], ["warning"], ["critical"])


def test_no_idle_in_transaction_timeout_names_the_roles_seen():
    off = conf(idle_in_transaction_session_timeout_ms=0)
    idle_only = live_findings(None, [snap(group(), settings=off)])
    assert summary(idle_only) == [
        (
            "no-idle-in-transaction-timeout", "info", "primary",
            "primary: idle_in_transaction_session_timeout = 0 (off): a session left in a transaction keeps its "
            "connection, locks and snapshot until the application closes it",
        )
    ]
    leaking = snap(group(state="idle in transaction", usename="shop", oldest_idle_in_transaction_s=30), settings=off)
    found = live_findings(None, [leaking])
    (finding,) = [f for f in found if f.id == "no-idle-in-transaction-timeout"]
    assert (finding.severity, finding.message.endswith("; 1 session idle in transaction for 30 s or more now")) == (
        "warning", True)
    # a session caught between its statement and its commit (the demo's normal traffic) is no leak
    passing = snap(group(state="idle in transaction", usename="shop", oldest_idle_in_transaction_s=0.001), settings=off)
    assert [(f.id, f.severity) for f in live_findings(None, [passing])] == [("no-idle-in-transaction-timeout", "info")]
    assert finding.snippet.splitlines()[0] == "ALTER ROLE shop SET idle_in_transaction_session_timeout = '60s';"
    assert live_findings(None, [snap(group())]) == []  # 60 s on the server: nothing to say


# --- visibility, SSL -----------------------------------------------------------------------------------------


def test_missing_monitor_privilege_names_the_role_and_the_hidden_share():
    partial = conf(can_see_all=False, role="watcher")
    found = live_findings(None, [snap(group(count=2), group(app="x", state=None, count=5), settings=partial)])
    assert summary(found) == [
        (
            "missing-monitor-privilege", "warning", "primary",
            "primary: the monitoring role watcher has neither pg_monitor nor pg_read_all_stats: other roles' "
            "sessions show no state, ages, addresses or SSL (5 of 7 client backends without a visible state): "
            "counts by state, ages and SSL are partial",
        )
    ]
    assert found[0].snippet == "GRANT pg_monitor TO watcher;"


def test_plain_connections_where_ssl_is_required():
    required = Plan(servers=(Server(ssl_required=True),), engines=(Engine(application_name="orders"),))
    samples = [snap(group(count=4, ssl_count=1), group(app="psql", count=1, ssl_count=0), group(app="x", state=None))]
    assert summary(live_findings(required, samples)) == [
        (
            "asyncpg-ssl", "critical", "primary",
            "app 'orders': 3 of 4 connections to primary without SSL, and the plan requires SSL",
        )
    ]
    assert live_findings(required, [snap(group(count=4))]) == []  # all on TLS
    assert live_findings(plan(), samples) == []  # SSL not required
    no_names = Plan(servers=(Server(ssl_required=True),))  # no application_name: every TCP client is judged
    unix_socket = group(app="psql", client_addr=None, ssl_count=0)
    found = live_findings(no_names, [snap(group(app="", ssl_count=0), unix_socket, settings=conf(ssl=False))])
    assert summary(found) == [
        (
            "asyncpg-ssl", "critical", "primary",
            f"app '{NO_APP}': 1 of 1 connection to primary without SSL, and the plan requires SSL "
            "(primary runs with ssl = off)",
        )
    ]


# --- pool settings against the live server -------------------------------------------------------------------


def test_recycle_after_live_idle_session_timeout():
    timeout = conf(idle_session_timeout_ms=300_000)
    found = live_findings(plan(pool_recycle=300), [snap(group(), settings=timeout)])
    assert summary(found) == [
        (
            "recycle-after-idle-timeout", "warning", "primary",
            "engine 'primary': pool_recycle 300 s is not below primary's live idle_session_timeout 300 s: the "
            "server closes pooled connections that sit idle, and the next checkout fails with 'connection is "
            "closed' (the plan says off)",
        )
    ]
    assert found[0].snippet == "create_async_engine(url, pool_recycle=150, pool_pre_ping=True)"
    unset = live_findings(plan(pool_pre_ping=True), [snap(group(), settings=timeout)])
    assert [(f.severity, "pool_recycle unset (-1)" in f.message) for f in unset] == [("info", True)]
    assert live_findings(plan(pool_recycle=299), [snap(group(), settings=timeout)]) == []
    short = live_findings(plan(), [snap(group(), settings=conf(idle_session_timeout_ms=1000))])
    assert short[0].snippet == "ALTER ROLE <application role> SET idle_session_timeout = 0;"


def test_app_over_its_planned_ceiling_is_a_leak():
    found = live_findings(plan(), [snap(group(count=30), group(state="active", count=17))])
    assert summary(found) == [
        (
            "connection-leak", "warning", "primary",
            "app 'orders': 47 connections to primary > plan's 4 workers x (5 + 5) = 40: its pools do not bound it",
        )
    ]
    assert live_findings(plan(), [snap(group(count=40))]) == []
    fleet = Plan(engines=(Engine(application_name="orders", pool_size=2, max_overflow=0),),
                 deployment=Deployment(instances=2, autoscale_max=3, workers=2))
    (finding,) = live_findings(fleet, [snap(group(count=13))])
    assert finding.message == (
        "app 'orders': 13 connections to primary > plan's 3 instances x 2 workers x (2 + 0) = 12: its pools do not "
        "bound it"
    )
    assert live_findings(plan(max_overflow=-1), [snap(group(count=60))]) == []  # the static rule's job


def test_connections_older_than_pool_recycle():
    old = group(count=20, oldest_backend_s=1900.0)
    found = tracked_live_findings(plan(pool_recycle=1800), [snap(old)])
    assert [(t.subject, t.finding.message) for t in found] == [
        (
            "orders (age)",
            "app 'orders': oldest connection 1900 s old > plan's pool_recycle 1800 s + 60 s grace: recycling is not "
            "happening",
        )
    ]
    assert live_findings(plan(pool_recycle=1800), [snap(replace(old, oldest_backend_s=1860.0))]) == []
    assert live_findings(plan(), [snap(old)]) == []  # no recycle planned: age proves nothing


# --- cold-pool over a history --------------------------------------------------------------------------------


def test_cold_pool_after_the_grace_time_then_warm():
    cold = [snap(group(count=4, oldest_backend_s=float(t)), at=t) for t in (0, 30, 61)]
    assert live_findings(plan(), cold[:2]) == []  # 30 s after its first connection: still in the grace time
    (tracked,) = tracked_live_findings(plan(), cold)
    assert (tracked.finding.id, tracked.finding.severity, tracked.subject, tracked.since) == (
        "cold-pool", "info", "orders", T0
    )
    assert tracked.finding.message == (
        "app 'orders': 4 connections 61 s after its first, far below the plan's 4 workers x pool_size 5 = 20 "
        "(< 50%): pools open connections lazily, so each request beyond 4 at once pays for a new connection; the "
        "lesson's warm-up opens only one per process"
    )
    assert "asyncio.gather(*(engine.connect() for _ in range(n)))" in tracked.finding.snippet
    warm = [*cold, snap(group(count=20, oldest_backend_s=62.0), at=62)]
    assert live_findings(plan(), warm) == []


def test_cold_pool_burst_of_new_backends():
    history = [snap(group(count=4), at=0), snap(group(count=4), at=1), snap(group(count=28), at=2)]
    (tracked,) = tracked_live_findings(plan(), history)
    assert (tracked.finding.severity, tracked.since) == ("warning", T0 + timedelta(seconds=2))
    assert tracked.finding.message == (
        "app 'orders': 4 -> 28 connections within 1.0 s (+24 new backends) while its pool was cold (< 50% of 4 "
        "workers x pool_size 5 = 20): the requests that opened them each waited for a new connection"
    )
    later = [*history, snap(group(count=20), at=400)]
    assert live_findings(plan(), later) == []  # reported for a while, then history
    first_sight = [snap(at=0), snap(group(count=28), at=1)]  # a warm-up at start looks the same: not judged
    assert live_findings(plan(), first_sight) == []


# --- tracking: since, dedup, servers -------------------------------------------------------------------------


def test_since_is_the_start_of_the_unbroken_run():
    stuck = group(state="idle in transaction", oldest_idle_in_transaction_s=40.0)
    history = [
        snap(stuck, at=0),
        snap(status="unreachable", at=1, settings=None),
        snap(stuck, at=2),
        snap(stuck, at=3),
    ]
    (tracked,) = tracked_live_findings(None, history)
    assert (tracked.since, tracked.last_seen) == (T0 + timedelta(seconds=2), T0 + timedelta(seconds=3))
    assert tracked.as_dict()["since"] == "2026-11-25T12:00:02+00:00"
    assert tracked_live_findings(None, [*history, snap(group(), at=4)]) == []  # cleared by the latest sample


def test_each_server_is_judged_on_its_own_samples():
    two = Plan(servers=(Server(), Server(name="replica")), engines=(Engine(),))
    history = [
        snap(group(count=95), server="primary", at=0),
        snap(group(count=2), server="replica", at=5),
        snap(status="refused", server="replica", at=6, error="sorry, too many clients already"),
    ]
    found = tracked_live_findings(two, history)
    assert [(t.finding.id, t.finding.server) for t in found] == [
        ("too-many-connections", "primary"),
        ("too-many-connections", "replica"),
        ("monitor-refused", "replica"),
    ]


def test_now_ignores_later_samples():
    history = [snap(group(count=95), at=0), snap(group(count=2), at=10)]
    assert ids(live_findings(plan(), history, now=T0 + timedelta(seconds=5))) == ["connection-leak",
                                                                                    "too-many-connections"]


def test_thresholds_are_settings():
    lenient = replace(DEFAULT_THRESHOLDS, live_warning_fraction=0.9, live_critical_fraction=0.99)
    assert live_findings(plan(), [snap(group(app="web", count=80))], lenient) == []


# --- properties -----------------------------------------------------------------------------------------------

states = st.sampled_from(["active", "idle", "idle in transaction", "idle in transaction (aborted)", None])
ages = st.none() | st.floats(0, 10_000)


@st.composite
def groups(draw):
    count = draw(st.integers(1, 60))
    return ActivityGroup(
        datname="app", usename=draw(st.sampled_from(["app", "batch"])),
        application_name=draw(st.sampled_from(["orders", "web", ""])),
        client_addr=draw(st.sampled_from(["10.0.0.5", None])), state=draw(states), wait_event_type=None,
        count=count, ssl_count=draw(st.integers(0, count)), oldest_idle_in_transaction_s=draw(ages),
        oldest_xact_s=draw(ages), oldest_backend_s=draw(ages), youngest_backend_s=draw(ages),
        last_query=draw(st.none() | st.text(max_size=300)),
    )


@st.composite
def samples(draw):
    server = draw(st.sampled_from(["primary", "replica"]))
    status = draw(st.sampled_from(["ok", "ok", "ok", "refused", "unreachable"]))
    at = T0 + timedelta(seconds=draw(st.integers(0, 600)))
    if status != "ok":
        return Snapshot(server, at, status, error="sorry, too many clients already")
    settings_ = conf(
        idle_in_transaction_session_timeout_ms=draw(st.sampled_from([0, 60_000])),
        idle_session_timeout_ms=draw(st.sampled_from([0, 1000, 600_000])),
        can_see_all=draw(st.booleans()), ssl=draw(st.booleans()),
    )
    return Snapshot(server, at, "ok", tuple(draw(st.lists(groups(), max_size=4))), settings_, draw(st.integers(0, 2)))


plans = st.builds(
    lambda workers, recycle, ssl, other: Plan(
        servers=(Server(ssl_required=ssl, other_clients=other), Server(name="replica")),
        engines=(Engine(application_name="orders", pool_recycle=recycle),
                 Engine(name="replica", server="replica", application_name="orders")),
        deployment=Deployment(workers=workers),
    ),
    st.integers(1, 8), st.sampled_from([-1, 1, 1800]), st.booleans(), st.integers(0, 20),
)


@settings(max_examples=150, deadline=None)
@given(plans, st.lists(samples(), max_size=8, unique_by=lambda s: (s.server, s.taken_at)), st.randoms())
def test_property_one_per_key_ordered_and_independent_of_input_order(plan_, history, rnd):
    found = tracked_live_findings(plan_, history)
    keys = [t.key for t in found]
    assert len(keys) == len(set(keys))
    ranks = [SEVERITY_ORDER[t.finding.severity] for t in found]
    assert ranks == sorted(ranks)
    assert all(t.since <= t.last_seen for t in found)
    assert all(t.finding.server in {"primary", "replica"} and t.finding.message and t.finding.fix for t in found)
    shuffled = list(history)
    rnd.shuffle(shuffled)
    assert [t.as_dict() for t in tracked_live_findings(plan_, shuffled)] == [t.as_dict() for t in found]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 500), st.integers(0, 500), st.integers(0, 30))
def test_property_too_many_fires_exactly_at_the_warning_share(max_connections, clients, other):
    reserved = min(3, max_connections - 1)
    live = conf(max_connections=max_connections, superuser_reserved_connections=reserved)
    plan_ = Plan(servers=(Server(max_connections=500, other_clients=other),))  # the live settings decide
    found = [f for f in live_findings(plan_, [snap(group(app="web", count=clients) if clients else group(count=0),
                                                    settings=live)]) if f.id == "too-many-connections"]
    usable = max_connections - reserved - other
    expected = usable <= 0 or (clients + 1) / usable >= 0.80
    assert bool(found) == expected
    if found and usable > 0:
        assert found[0].severity == ("critical" if (clients + 1) / usable >= 0.95 else "warning")


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200), st.integers(0, 50))
def test_property_more_connections_never_lower_the_severity(clients, extra):
    def worst(n):
        found = live_findings(plan(), [snap(group(count=n))])
        return min((SEVERITY_ORDER[f.severity] for f in found), default=3)

    assert worst(clients + extra) <= worst(clients)


def test_random_histories_never_raise():
    rnd = random.Random(7)
    for _ in range(50):
        history = [
            snap(group(count=rnd.randint(1, 30), state=rnd.choice(["idle", "idle in transaction"]),
                       oldest_idle_in_transaction_s=rnd.random() * 100, oldest_backend_s=rnd.random() * 4000),
                 at=rnd.randint(0, 300))
            for _ in range(rnd.randint(1, 20))
        ]
        assert all(f.id for f in live_findings(plan(pool_recycle=1800), history))


def test_per_worker_suffixes_count_for_their_engine():
    """Workers named orders-1 .. orders-4 (one application_name per worker) belong to the engine 'orders'."""
    groups = [group(app=f"orders-{i}", count=12) for i in range(1, 5)]
    (finding,) = live_findings(plan(), [snap(*groups)])
    assert finding.id == "connection-leak"
    assert finding.message.startswith("app 'orders': 48 connections to primary > plan's 4 workers x (5 + 5) = 40")
    # names that merely start alike are someone else's
    assert live_findings(plan(), [snap(group(app="orders-api", count=48), group(app="orders-x1", count=1))]) == []


def test_snippets_are_filled_in_with_the_plans_own_numbers():
    """Issue #13: no <instances> / <workers> / <application role> placeholders when the plan knows them."""
    full = snap(group(count=95, usename="shop_app"), settings=conf(idle_in_transaction_session_timeout_ms=0))
    planned = Plan(engines=(Engine(application_name="orders", pool_size=5, max_overflow=5),),
                   deployment=Deployment(instances=3, workers=4, autoscale_max=5))
    by_id = {f.id: f for f in live_findings(planned, [full])}
    assert by_id["too-many-connections"].snippet == (
        "python -m planner recommend --max-connections 100 --superuser-reserved 3 --other-clients 0 "
        "--instances 3 --workers 4 --autoscale-max 5")
    assert by_id["no-idle-in-transaction-timeout"].snippet.startswith(
        "ALTER ROLE shop_app SET idle_in_transaction_session_timeout = '60s';")
    assert not any("<" in f.snippet for f in by_id.values())
    unplanned = {f.id: f for f in live_findings(None, [full])}  # without a plan the numbers are unknown
    assert "--instances <instances> --workers <workers>" in unplanned["too-many-connections"].snippet

"""The sizing and the static rules decide by typed results (which limit, on which server), never by the words
of their own sentences: a server whose name is one of those words gets the same advice as one named ``db``."""

from __future__ import annotations

import pytest

from planner.model import Deployment, Engine, PgBouncer, Plan, Server, Workload
from planner.rules import static_findings
from planner.sizing import recommend_for_plan

NAMES = ["PgBouncer", "PgBouncer-session", "default_pool_size", "not"]


def _plans(name: str) -> list[Plan]:
    """Plans that do not fit for each kind of limit, on a server called ``name``."""
    server = Server(name=name)
    through = (Engine(name="app", server=name, via_pgbouncer=True),)
    return [
        # PgBouncer's pool is too small for the fleet's traffic
        Plan(servers=(server,), engines=through, deployment=Deployment(instances=5, workers=4, surge=0),
             workload=Workload(rps=1000, hold_ms=50),
             pgbouncer=PgBouncer(server=name, default_pool_size=40, max_client_conn=2000)),
        # PgBouncer's max_client_conn is too low
        Plan(servers=(server,), engines=through, deployment=Deployment(instances=20, workers=4),
             pgbouncer=PgBouncer(server=name, default_pool_size=40, max_client_conn=100)),
        # session mode: more clients than server connections
        Plan(servers=(server,), engines=through, deployment=Deployment(instances=2, workers=4, surge=0),
             workload=Workload(rps=200, hold_ms=20),
             pgbouncer=PgBouncer(server=name, pool_mode="session", default_pool_size=20, max_client_conn=1000)),
        # the server's own slots: direct pools too large for the fleet
        Plan(servers=(server,), engines=(Engine(name="app", server=name),),
             deployment=Deployment(instances=10, workers=4), workload=Workload(rps=2000, hold_ms=20)),
    ]


def _numbers(plan: Plan) -> tuple:
    """An alternative's settings, without the names."""
    bouncer = plan.pgbouncer
    return (tuple(s.max_connections for s in plan.servers),
            tuple((e.pool_size, e.max_overflow, e.via_pgbouncer) for e in plan.engines),
            (bouncer.pool_mode, bouncer.default_pool_size, bouncer.max_client_conn) if bouncer else None)


@pytest.mark.parametrize("name", NAMES)
def test_a_server_named_like_a_sentence_gets_the_same_recommendation_as_db(name):
    for plan, reference in zip(_plans(name), _plans("db"), strict=True):
        rec, ref = recommend_for_plan(plan), recommend_for_plan(reference)
        assert rec.fits == ref.fits
        assert len(rec.why) == len(ref.why)
        assert [(a.change, _numbers(a.plan)) for a in rec.alternatives] == [
            (a.change, _numbers(a.plan)) for a in ref.alternatives]


@pytest.mark.parametrize("name", NAMES)
def test_static_findings_do_not_depend_on_the_server_name(name):
    for plan, reference in zip(_plans(name), _plans("db"), strict=True):
        found = [(f.id, f.severity, f.snippet) for f in static_findings(plan)]
        expected = [(f.id, f.severity, f.snippet) for f in static_findings(reference)]
        assert found == expected


def test_shortfalls_name_the_limit_the_server_and_the_numbers():
    from planner.sizing import Limit

    pool, clients, session, direct = (recommend_for_plan(p) for p in _plans("db"))
    assert [(s.limit, s.server, s.need, s.have) for s in pool.shortfalls] == [(Limit.PGBOUNCER_POOL, "db", 61, 40)]
    assert [s.limit for s in clients.shortfalls] == [Limit.PGBOUNCER_MAX_CLIENT_CONN]
    assert [s.limit for s in session.shortfalls] == [Limit.PGBOUNCER_SESSION_CLIENTS]
    assert [(s.limit, s.need, s.have) for s in direct.shortfalls] == [(Limit.SERVER_CONNECTIONS, 208, 87)]
    for rec in (pool, clients, session, direct):
        assert rec.why == tuple(s.sentence for s in rec.shortfalls)

"""Plans from TOML files and flags: every key read, every mistake named."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planner_strategies import plans

from planner.cli import UsageError, _Parser
from planner.config import add_plan_arguments, load_plan, plan_from_args, plan_from_toml, plan_to_toml
from planner.model import Deployment, Engine, InputError, PgBouncer, Plan, Server, Workload

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def parse(*argv: str) -> Plan:
    parser = _Parser(prog="test")
    add_plan_arguments(parser)
    return plan_from_args(parser.parse_args(list(argv)))


def test_lesson_toml_is_the_lesson_example():
    assert load_plan(EXAMPLES / "lesson.toml") == Plan(
        servers=(Server(name="primary", max_connections=100, superuser_reserved_connections=3),),
        engines=(Engine(name="primary", server="primary", pool_size=20, max_overflow=10, pool_timeout=30.0,
                        pool_recycle=1800.0, pool_pre_ping=True),),
        deployment=Deployment(instances=1, workers=4, surge=0),
        workload=Workload(rps=100.0, hold_ms=20.0, hold_dist="exp", target_p99_wait_ms=10.0),  # illustrative
    )


def test_example_plan_has_primary_and_replica():
    plan = load_plan(EXAMPLES / "plan.toml")
    assert [s.name for s in plan.servers] == ["primary", "replica"]
    assert [(e.name, e.server, e.pool_size, e.max_overflow) for e in plan.engines] == [
        ("primary", "primary", 6, 3), ("replica", "replica", 4, 2)]
    assert plan.deployment == Deployment(instances=3, workers=4, surge="25%", autoscale_max=4)
    assert plan.workload == Workload(rps=600.0, hold_ms=20.0, request_timeout_s=30.0, hold_dist="exp",
                                     target_p99_wait_ms=10.0)
    assert (plan.pgbouncer, plan.lb_idle_timeout_s) == (None, 350.0)


def test_flags_alone_build_a_one_server_plan():
    assert parse("--max-connections", "200", "--superuser-reserved", "5", "--reserved", "2", "--other-clients", "7",
                 "--pg-version", "16", "--instances", "3", "--workers", "4", "--surge", "1", "--autoscale-max", "5",
                 "--pool-size", "8", "--max-overflow", "4", "--pool-timeout", "5", "--pool-recycle", "600",
                 "--pool-pre-ping", "--url", "postgresql+asyncpg://app@db/app", "--rps", "300", "--hold-ms", "12",
                 "--request-timeout", "20", "--idle-session-timeout", "900", "--lb-idle-timeout", "350") == Plan(
        servers=(Server(max_connections=200, superuser_reserved_connections=5, reserved_connections=2,
                        other_clients=7, major_version=16, idle_session_timeout_s=900.0),),
        engines=(Engine(pool_size=8, max_overflow=4, pool_timeout=5.0, pool_recycle=600.0, pool_pre_ping=True,
                        url="postgresql+asyncpg://app@db/app"),),
        deployment=Deployment(instances=3, workers=4, surge=1, autoscale_max=5),
        workload=Workload(rps=300.0, hold_ms=12.0, request_timeout_s=20.0),
        lb_idle_timeout_s=350.0,
    )


def test_no_flags_gives_postgresql_and_sqlalchemy_defaults():
    assert parse() == Plan()


def test_flags_override_the_first_server_and_engine_of_the_file():
    plan = parse("--config", str(EXAMPLES / "plan.toml"), "--max-connections", "300", "--pool-size", "2",
                 "--workers", "2", "--surge", "50%")
    assert [s.max_connections for s in plan.servers] == [300, 100]
    assert [e.pool_size for e in plan.engines] == [2, 4]
    assert plan.deployment == Deployment(instances=3, workers=2, surge="50%", autoscale_max=4)


def test_hold_flags_replace_the_files_hold_shape():
    example = ("--config", str(EXAMPLES / "plan.toml"))
    measured = parse(*example, "--hold-p50", "10", "--hold-p95", "40", "--hold-p99", "90", "--target-p99-wait", "5")
    assert (measured.workload.hold_dist, measured.workload.hold_percentiles) == (None, (10.0, 40.0, 90.0))
    assert measured.workload.target_p99_wait_ms == 5.0 and measured.workload.rps == 600.0
    toml = plan_to_toml(measured)
    assert "hold_p95_ms = 40.0" in toml and "hold_dist" not in toml
    assert plan_from_toml(toml).workload == measured.workload
    assert parse(*example, "--hold-dist", "const").workload.hold_dist == "const"


@pytest.mark.parametrize(("argv", "message"), [
    (["--max-connections", "0"], "--max-connections: must be between 1 and 262143, got 0"),
    (["--pool-size", "-1"], "--pool-size: must be between 0 and 262143, got -1"),
    (["--pool-size", "101"], "--pool-size: engine primary: pool_size 101 is larger than max_connections 100 of "
                             "server primary: one process alone could never open it"),
    (["--surge", "lots"], "--surge: must be a count (2) or a percent (25%), got 'lots'"),
    (["--rps", "10"], "--hold-ms: the workload needs both --rps and --hold-ms"),
    (["--request-timeout", "10"], "--rps: the workload needs both --rps and --hold-ms"),
    (["--config", "/nonexistent/plan.toml"], "config: cannot read /nonexistent/plan.toml: No such file or directory"),
])
def test_bad_flags_name_the_flag(argv, message):
    with pytest.raises(InputError) as err:
        parse(*argv)
    assert str(err.value) == message


def test_unknown_flag_is_a_usage_error():
    with pytest.raises(UsageError, match="unrecognized arguments: --max-conections"):
        parse("--max-conections", "5")


@pytest.mark.parametrize(("text", "message"), [
    ("servers = 3", "servers: must be an array of tables ([[servers]]), got int"),
    ("[[servers]]\nmax_conections = 5", "servers[0].max_conections: unknown key; known: idle_session_timeout_s, "
     "major_version, max_connections, max_locks_per_transaction, max_prepared_transactions, max_wal_senders, "
     "max_worker_processes, name, other_clients, replica_of, reserved_connections, ssl_required, "
     "superuser_reserved_connections"),
    ('[[servers]]\nmax_connections = "100"', "servers[0].max_connections: must be int, got str '100'"),
    ("[[engines]]\npool_pre_ping = 1", "engines[0].pool_pre_ping: must be bool, got int 1"),
    ("[[engines]]\npool_size = true", "engines[0].pool_size: must be int, got bool True"),
    ("[[engines]]\npool_size = -3", "engines[0].pool_size: must be between 0 and 262143, got -3"),
    ("[deployment]\nworkers = 0", "deployment.workers: must be between 1 and 1024, got 0"),
    ("[deployment]\nsurge = 1.5", "deployment.surge: must be int or str, got float 1.5"),
    ("[workload]\nrps = 10", "workload.hold_ms: is required"),
    ("[pgbouncer]\npool_mode = \"session2\"", "pgbouncer.pool_mode: must be session, transaction or "
     "statement, got 'session2'"),
    ("[deploymnet]\nworkers = 2", "deploymnet: unknown key; known: deployment, engines, lb_idle_timeout_s, "
     "pgbouncer, pgbouncers, rollout, servers, services, workload"),
    ("[[servers]\n", "config: not valid TOML: Expected ']]' at the end of an array declaration (at line 1, column 10)"),
    ('[[engines]]\nserver = "nowhere"', "engine primary.server: names no server; known: primary"),
    ('[[servers]]\nname = "primary"\n[[servers]]\nname = "replica"\n[[engines]]\nserver = "replica"\n'
     'via_pgbouncer = true\n[pgbouncer]\nserver = "primary"',
     "engine primary.via_pgbouncer: PgBouncer is in front of server primary, but the engine connects to replica"),
    ("[[engines]]\npool_size = 101", "engines[0].pool_size: engine primary: pool_size 101 is larger than "
     "max_connections 100 of server primary: one process alone could never open it"),
])
def test_bad_toml_names_the_key(text, message):
    with pytest.raises(InputError) as err:
        plan_from_toml(text)
    assert str(err.value) == message


def test_a_full_plan_with_pgbouncer():
    plan = plan_from_toml("""
        [[servers]]
        name = "main"
        [[engines]]
        name = "web"
        server = "main"
        via_pgbouncer = true
        statement_cache_size = 0
        [pgbouncer]
        server = "main"
        version = "1.18.0"
        default_pool_size = 30
    """)
    assert plan.pgbouncer == PgBouncer(server="main", version="1.18.0", default_pool_size=30)
    assert plan.engines == (Engine(name="web", server="main", via_pgbouncer=True, statement_cache_size=0),)


@given(plans())
def test_toml_round_trip(plan):
    assert plan_from_toml(plan_to_toml(plan)) == plan


def test_config_flag_in_an_argparse_namespace_without_config_attribute():
    assert plan_from_args(argparse.Namespace(workers=3)) == Plan(deployment=Deployment(workers=3))


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.lists(st.integers(), max_size=2),
                    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
_KEYS = st.sampled_from(["name", "server", "max_connections", "superuser_reserved_connections", "reserved_connections",
                         "other_clients", "major_version", "pool_size", "max_overflow", "pool_timeout", "pool_recycle",
                         "pool_pre_ping", "url", "via_pgbouncer", "instances", "workers", "surge", "autoscale_max",
                         "rps", "hold_ms", "request_timeout_s", "version", "pool_mode", "bogus"])
_TABLE = st.dictionaries(_KEYS, _VALUES.filter(lambda v: v is not None), max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "servers": st.one_of(st.lists(_TABLE, max_size=2), _VALUES),
    "engines": st.one_of(st.lists(_TABLE, max_size=2), _VALUES),
    "deployment": st.one_of(_TABLE, _VALUES),
    "workload": st.one_of(_TABLE, _VALUES),
    "pgbouncer": st.one_of(_TABLE, _VALUES),
    "lb_idle_timeout_s": _VALUES,
}))
def test_any_data_is_a_plan_or_an_input_error(data):
    from planner.config import plan_from_data
    from planner.rules import static_findings

    try:
        plan = plan_from_data(data)
        static_findings(plan)
    except InputError as err:
        assert err.field and str(err)

"""Plans with several PgBouncers, at most one in front of each server: loading ([[pgbouncers]] and the old
[pgbouncer]), validation, budgets against hand-computed numbers (examples/two-pgbouncers.toml), the rules, export
and CLI per PgBouncer, the live console matched to its planned PgBouncer, and single-PgBouncer plans unchanged."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard.live.pgbouncer_cli import consoles
from planner.budget import pgbouncer_budget, pgbouncer_budgets, plan_budgets, plan_verdict
from planner.cli import main
from planner.export import export
from planner.model import Deployment, Engine, InputError, PgBouncer, Plan, Server, Workload
from planner.pgbouncer_snapshot import PgBouncerConfig, PgBouncerPool, PgBouncerSnapshot
from planner.plan_io import load_plan, plan_from_toml, plan_to_data, plan_to_toml
from planner.rules.pgbouncer_live import pgbouncer_live_findings, planned_pgbouncer
from planner.rules.static import static_findings
from planner.sizing import recommend_for_plan

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TWO = EXAMPLES / "two-pgbouncers.toml"
SERVICES = EXAMPLES / "services.toml"


def budgets(plan: Plan) -> dict[str, tuple]:
    return {b.name: (b.usable, b.steady, b.peak, b.rollout_peak, b.headroom, b.pgbouncer_connections, b.verdict)
            for b in plan_budgets(plan)}


def bouncer_figures(plan: Plan) -> dict[str, tuple]:
    return {b.name: (b.server, b.clients_steady, b.clients_peak, b.clients_rollout_peak, b.limit, b.headroom,
                     b.verdict) for b in pgbouncer_budgets(plan)}


def test_example_budgets_match_the_hand_computed_numbers():
    plan = load_plan(TWO)
    assert [(plan.pgbouncer_name(b), b.server) for b in plan.pgbouncers] == [
        ("pgbouncer-primary", "primary"), ("pgbouncer-reads", "replica")]
    # primary: usable 200 - 3 - 10 = 187. billing-worker direct: 2 processes x 3 = 6 steady, 2 x (3 + 1) = 8 peak,
    #   (2 + 1) x 1 x 4 = 12 at rollout; + pgbouncer-primary's 20 x 1 = 20 (orders-api goes through it)
    #   steady 26, peak 28, rollout 32, headroom 155
    # replica: usable 200 - 3 - 5 = 192; no engine connects directly; pgbouncer-reads 15 x 2 pools = 30
    assert budgets(plan) == {"primary": (187, 26, 28, 32, 155, 20, "safe"),
                             "replica": (192, 30, 30, 30, 162, 30, "safe")}
    # pgbouncer-primary: orders-api 3 x 2 = 6 processes x 5 = 30 steady, 6 x (5 + 5) = 60 peak,
    #   (3 + 1) x 2 x 10 = 80 at rollout, of max_client_conn 300: headroom 220
    # pgbouncer-reads: orders-api 6 x 4 = 24, 6 x 6 = 36, 8 x 6 = 48; search-api 8 x 3 = 24, 8 x 5 = 40,
    #   (2 + ceil(50% of 2) = 1) x 4 x 5 = 60; summed 48, 76, 108 of 400: headroom 292
    assert bouncer_figures(plan) == {
        "pgbouncer-primary": ("primary", 30, 60, 80, 300, 220, "safe"),
        "pgbouncer-reads": ("replica", 48, 76, 108, 400, 292, "safe"),
    }
    assert pgbouncer_budget(plan).name == "pgbouncer-primary"  # compat: the first one
    assert plan_verdict(plan) == "safe" and static_findings(plan) == []


def test_the_plan_verdict_covers_every_pgbouncer():
    plan = load_plan(TWO)
    reads = plan.pgbouncer_named("pgbouncer-reads")
    tight = plan.with_pgbouncer(dataclasses.replace(reads, max_client_conn=100))  # 108 clients > 100
    assert bouncer_figures(tight)["pgbouncer-reads"][-1] == "unsafe"
    assert bouncer_figures(tight)["pgbouncer-primary"][-1] == "safe"
    assert plan_verdict(tight) == "unsafe"
    found = [f for f in static_findings(tight) if f.id == "too-many-connections"]
    assert [(f.server, f.message.split(":")[0]) for f in found] == [("replica", "PgBouncer pgbouncer-reads")]
    assert "orders-api 48 + search-api 60 = 108 > max_client_conn 100" in found[0].message


def test_each_server_counts_only_its_own_pgbouncer():
    servers = (Server(name="a", max_connections=100), Server(name="b", max_connections=100))
    engines = (Engine(name="a", server="a", via_pgbouncer=True), Engine(name="b", server="b", pool_size=2,
                                                                         max_overflow=0))
    both = Plan(servers=servers, engines=engines,
                pgbouncers=(PgBouncer(server="a", default_pool_size=7), PgBouncer(server="b", default_pool_size=9)))
    figures = {b.name: (b.steady, b.pgbouncer_connections) for b in plan_budgets(both)}
    # a: only PgBouncer a's 7; b: its engine's 2 direct, PgBouncer b counts nothing (no engine goes through it)
    assert figures == {"a": (7, 7), "b": (2, 0)}
    assert [b.name for b in pgbouncer_budgets(both)] == ["pgbouncer-a"]


def test_old_pgbouncer_table_still_loads_and_round_trips_unchanged():
    plan = load_plan(SERVICES)
    assert len(plan.pgbouncers) == 1 and plan.pgbouncer is plan.pgbouncers[0]
    assert plan.pgbouncer_name(plan.pgbouncer) == "pgbouncer"
    text = plan_to_toml(plan)
    assert "\n[pgbouncer]\n" in text and "[[pgbouncers]]" not in text
    assert "pgbouncers" not in plan_to_data(plan) and "name" not in plan_to_data(plan)["pgbouncer"]
    assert plan_from_toml(text) == plan


def test_several_round_trip_as_an_array():
    plan = load_plan(TWO)
    text = plan_to_toml(plan)
    assert text.count("[[pgbouncers]]") == 2 and "\n[pgbouncer]\n" not in text
    assert plan_from_toml(text) == plan
    assert json.loads(export(plan, "json"))["plan"]["pgbouncers"][1]["name"] == "pgbouncer-reads"


def test_one_pgbouncer_given_as_an_array_is_the_same_plan():
    old = plan_from_toml('[[engines]]\nvia_pgbouncer = true\n[pgbouncer]\ndefault_pool_size = 9\n')
    new = plan_from_toml('[[engines]]\nvia_pgbouncer = true\n[[pgbouncers]]\ndefault_pool_size = 9\n')
    assert old == new and plan_budgets(old) == plan_budgets(new)


@pytest.mark.parametrize(("text", "message"), [
    ('[pgbouncer]\nserver = "primary"\n[[pgbouncers]]\nserver = "primary"',
     "pgbouncers: give either one [pgbouncer] or an array of [[pgbouncers]], not both"),
    ('[[servers]]\nname = "primary"\n[[servers]]\nname = "replica"\n'
     '[[pgbouncers]]\nserver = "primary"\n[[pgbouncers]]\nserver = "primary"',
     "pgbouncer pgbouncer-primary.server: server primary already has a PgBouncer in front of it; at most one per "
     "server"),
    ('[[servers]]\nname = "primary"\n[[servers]]\nname = "replica"\n'
     '[[engines]]\nname = "r"\nserver = "replica"\nvia_pgbouncer = true\n'
     '[[pgbouncers]]\nserver = "primary"',
     "engine r.via_pgbouncer: PgBouncer is in front of server primary, but the engine connects to replica"),
    ('[[pgbouncers]]\nserver = "primary"\n[[pgbouncers]]\nserver = "nowhere"',
     "pgbouncer pgbouncer-nowhere.server: names no server; known: primary"),
    ('[[servers]]\nname = "primary"\n[[servers]]\nname = "replica"\n'
     '[[pgbouncers]]\nname = "pgb"\n[[pgbouncers]]\nname = "pgb"\nserver = "replica"',
     "pgbouncers: PgBouncer names must be unique, got ['pgb', 'pgb']"),
    ('[[pgbouncers]]\nname = "no spaces"', "pgbouncers[0].name: must be 1-63 letters, digits, '_', '.' or '-', "
                                           "got 'no spaces'"),
    ('pgbouncers = 3', "pgbouncers: must be an array of tables ([[pgbouncers]]), got int"),
])
def test_bad_pgbouncers_name_the_problem(text, message):
    with pytest.raises(InputError) as err:
        plan_from_toml(text)
    assert str(err.value) == message


def test_replace_changes_the_first_and_helpers_change_the_others():
    plan = load_plan(TWO)
    first, reads = plan.pgbouncers
    bigger = dataclasses.replace(plan, pgbouncer=dataclasses.replace(first, default_pool_size=25))
    assert [b.default_pool_size for b in bigger.pgbouncers] == [25, 15]
    assert dataclasses.replace(plan, rollout="one-at-a-time").pgbouncers == plan.pgbouncers
    moved = plan.with_pgbouncer(dataclasses.replace(reads, pools=3))
    assert [b.pools for b in moved.pgbouncers] == [1, 3]
    assert plan.pgbouncer_for("replica") is reads and plan.pgbouncer_for("nowhere") is None
    with pytest.raises(InputError, match=r"orders-api engine primary\.via_pgbouncer: the plan declares no"):
        plan.with_pgbouncers(())
    with pytest.raises(InputError, match=r"orders-api engine primary\.via_pgbouncer: PgBouncer is in front of "
                                         r"server replica"):
        dataclasses.replace(plan, pgbouncer=None)  # the first removed: orders-api's writes have none left


def test_a_single_pgbouncer_plan_is_judged_as_before():
    """Declaring the same PgBouncer through ``pgbouncers`` changes nothing, and a second one in front of a server
    no engine goes through leaves every figure of the first as it was."""
    plan = load_plan(SERVICES)
    again = plan.with_pgbouncers(plan.pgbouncers)
    assert again == plan
    extra = plan.with_pgbouncer(PgBouncer(server="replica", default_pool_size=50))
    assert plan_budgets(extra) == plan_budgets(plan)
    # only its derived name changes, "pgbouncer" -> "pgbouncer-primary" (now that there are two)
    assert pgbouncer_budgets(extra) == (dataclasses.replace(pgbouncer_budget(plan), name="pgbouncer-primary"),)
    assert static_findings(extra) == static_findings(plan)
    assert recommend_for_plan(extra).services == recommend_for_plan(plan).services


def test_sizing_checks_each_pgbouncer_against_its_own_clients():
    plan = load_plan(TWO)
    assert recommend_for_plan(plan).fits
    reads = plan.pgbouncer_named("pgbouncer-reads")
    short = recommend_for_plan(plan.with_pgbouncer(dataclasses.replace(reads, max_client_conn=20)))
    assert not short.fits
    assert [(w.limit.name, w.server) for w in short.shortfalls] == [("PGBOUNCER_MAX_CLIENT_CONN", "replica")]
    assert short.shortfalls[0].sentence.startswith("PgBouncer pgbouncer-reads max_client_conn 20 < ")


def test_pgbouncer_ini_has_one_section_per_pgbouncer_and_snippets_name_each_engines():
    plan = load_plan(TWO)
    ini = export(plan, "pgbouncer")
    headers = [line for line in ini.splitlines() if line.startswith("; =====")]
    assert headers == [
        "; ===== pgbouncer-primary: pgbouncer.ini of the PgBouncer in front of primary (pgbouncer-primary:6432) =====",
        "; ===== pgbouncer-reads: pgbouncer.ini of the PgBouncer in front of replica (pgbouncer-replica:6432) =====",
    ]
    assert ini.count("[pgbouncer]\n") == 2
    assert "default_pool_size = 20\n; the fleet opens up to 80 client connections" in ini
    assert "default_pool_size = 15\n; the fleet opens up to 108 client connections" in ini
    env = export(plan, "env")
    assert "# engine primary: the application's URL of PgBouncer pgbouncer-primary (pgbouncer-primary:6432)" in env
    assert "# engine replica: the application's URL of PgBouncer pgbouncer-reads (pgbouncer-replica:6432)" in env


def test_single_pgbouncer_ini_keeps_its_old_shape():
    ini = export(load_plan(SERVICES), "pgbouncer")
    assert ini.startswith("; Generated by python -m planner: PgBouncer 1.24.1 in front of primary.")
    assert "=====" not in ini


def test_plan_command_prints_every_pgbouncers_budget(capsys):
    assert main(["plan", "--config", str(TWO)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "PgBouncer pgbouncer-primary (in front of primary): SAFE" in out
    assert "PgBouncer pgbouncer-reads (in front of replica): SAFE" in out
    assert "  headroom = limit 400 - client rollout peak 108 = 292" in out
    assert main(["check", "--config", str(TWO), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in data["pgbouncers"]] == ["pgbouncer-primary", "pgbouncer-reads"]
    assert data["pgbouncer"]["name"] == "pgbouncer-primary" and data["verdict"] == "safe"


def _snap(name: str, default_pool_size: int, max_client_conn: int = 400) -> PgBouncerSnapshot:
    config = PgBouncerConfig(pool_mode="transaction", default_pool_size=default_pool_size,
                             max_client_conn=max_client_conn,
                             max_prepared_statements=200, query_wait_timeout_s=120.0, server_idle_timeout_s=600.0)
    pool = PgBouncerPool("app", "app", "transaction", cl_active=1, cl_waiting=0, sv_active=1, sv_idle=0, sv_used=0,
                         maxwait_s=0.0, avg_xact_ms=5.0)
    return PgBouncerSnapshot(name, datetime(2026, 11, 26, 8, 0, tzinfo=UTC), "ok", version="1.24.1", config=config,
                             pools=(pool,), console_clients=1, client_connections=2)


def test_a_live_console_is_matched_to_its_planned_pgbouncer_by_name_or_server():
    plan = load_plan(TWO)
    assert planned_pgbouncer(plan, _snap("pgbouncer-reads", 15)).server == "replica"
    assert planned_pgbouncer(plan, _snap("replica", 15)).server == "replica"
    assert planned_pgbouncer(plan, _snap("pgbouncer-primary", 20)).server == "primary"
    assert planned_pgbouncer(plan, _snap("elsewhere", 20)) is None  # several planned: no guess
    single = load_plan(SERVICES)
    assert planned_pgbouncer(single, _snap("anything", 15)) is single.pgbouncer  # the only one, as before
    # the replica's console running a default_pool_size of 20 differs from the plan's 15; the primary's agrees
    found = pgbouncer_live_findings(plan, [_snap("pgbouncer-reads", 20), _snap("pgbouncer-primary", 20, 300)])
    assert [(f.id, f.server) for f in found] == [("pgbouncer-plan-differs", "pgbouncer-reads")]
    assert found[0].snippet == "[[pgbouncers]]  # pgbouncer-reads\ndefault_pool_size = 20"


def test_the_pgbouncer_settings_alternative_fixes_every_short_pgbouncer():
    servers = (Server(name="primary"), Server(name="replica"))
    engines = (Engine(via_pgbouncer=True), Engine(name="replica", server="replica", via_pgbouncer=True))
    plan = Plan(servers=servers, engines=engines, deployment=Deployment(instances=10, workers=4),
                workload=Workload(rps=2000, hold_ms=10),
                pgbouncers=(PgBouncer(server="primary", max_client_conn=10_000),
                            PgBouncer(server="replica", max_client_conn=50)))
    rec = recommend_for_plan(plan)
    assert not rec.fits
    # 2000 req/s x 10 ms = 20 busy per PgBouncer (every request uses both engines): the queueing model's pool for
    # it is 24 > 20 on both; the replica's also takes (10 + 3 surge) x 4 workers = 52 processes x 5 = 260 clients
    (alt,) = [a for a in rec.alternatives if a.change == "pgbouncer-settings"]
    assert alt.summary == ("in pgbouncer.ini of pgbouncer-primary: default_pool_size 20 -> 24 (2000 req/s x 10 ms = "
                           "20.0 busy fleet-wide); in pgbouncer.ini of pgbouncer-replica: max_client_conn 50 -> 260; "
                           "default_pool_size 20 -> 24 (2000 req/s x 10 ms = 20.0 busy fleet-wide)")
    assert [(b.server, b.max_client_conn, b.default_pool_size) for b in alt.plan.pgbouncers] == [
        ("primary", 10_000, 24), ("replica", 260, 24)]
    assert recommend_for_plan(alt.plan).fits


def test_each_planned_admin_console_is_sampled_under_its_name():
    plan = load_plan(TWO)
    primary, reads = plan.pgbouncers
    plan = plan.with_pgbouncers((
        dataclasses.replace(primary, admin_url="postgresql://stats@pgbouncer-primary:6432/pgbouncer"),
        dataclasses.replace(reads, admin_url="postgresql://stats@pgbouncer-replica:6432/pgbouncer")))
    assert consoles(None, plan) == {"pgbouncer-primary": "postgresql://stats@pgbouncer-primary:6432/pgbouncer",
                                    "pgbouncer-reads": "postgresql://stats@pgbouncer-replica:6432/pgbouncer"}
    assert consoles(["edge=postgresql://stats@edge:6432/pgbouncer"], plan) == {
        "edge": "postgresql://stats@edge:6432/pgbouncer"}  # flags replace the plan's, as before
    single = Plan(pgbouncer=PgBouncer(admin_url="postgresql://stats@pgbouncer:6432/pgbouncer"))
    assert consoles(None, single) == {"pgbouncer": "postgresql://stats@pgbouncer:6432/pgbouncer"}

"""One sizing truth: ``recommend``, ``check``'s fixes and snippets, ``export --recommended`` and the dashboard's
"Recommended" give the same pool numbers for the same plan, because they all come from
``planner.sizing.recommend_for_plan`` (property test over generated plans)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_strategies import engines, plans

from dashboard import state
from planner.cli import main
from planner.config import load_plan, plan_to_toml
from planner.model import Plan
from planner.rules import static_findings
from planner.sizing import engine_timeouts, recommend_for_plan

ROOT = Path(__file__).resolve().parent.parent
POOL = re.compile(r"pool_size=(\d+), max_overflow=(\d+)\)(?:  # engine (\S+))?")
TIMEOUT = re.compile(r"pool_timeout=([\d.]+)")
RECYCLE = re.compile(r"pool_recycle=([\d.]+)")


def cli_json(*argv: str) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, json.loads(out.getvalue())


def advised(plan: Plan) -> dict[str, tuple[int, int]]:
    rec = recommend_for_plan(plan)
    return {a.name: (a.pool_size, a.max_overflow) for a in rec.engines} if rec.fits else {}


def check_snippets_agree(plan: Plan, findings) -> None:
    pools = advised(plan)
    for finding in findings:
        for match in POOL.finditer(finding.snippet):
            name = match.group(3) or next(e.name for e in plan.engines if e.server == finding.server)
            assert pools.get(name) == (int(match.group(1)), int(match.group(2))), (finding.id, finding.snippet)
        for pattern, index in ((TIMEOUT, 0), (RECYCLE, 1)):
            for match in pattern.finditer(finding.snippet):
                engine = next(e for e in plan.engines if e.server == finding.server)
                assert float(match.group(1)) == engine_timeouts(plan, engine)[index], (finding.id, finding.snippet)
        if finding.id in ("too-many-connections", "overflow-exceeds-budget") and finding.server != "PgBouncer":
            assert not finding.snippet or pools, "a pool snippet although nothing fits"


@st.composite
def two_engine_plans(draw) -> Plan:
    """A plan with a second engine on the same server (its budget fix names both)."""
    plan = draw(plans())
    second = draw(engines(name="jobs", max_pool=plan.servers[0].max_connections))
    return Plan(servers=plan.servers, engines=(*plan.engines, second), deployment=plan.deployment,
                workload=plan.workload)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(plans(), two_engine_plans()))
def test_every_surface_gives_the_same_pools(plan):
    findings = static_findings(plan)
    check_snippets_agree(plan, findings)
    rec = recommend_for_plan(plan)
    assert state.recommendation(plan) == rec  # the dashboard's "Recommended"
    if rec.fits:
        assert state.evaluate(rec.plan).verdict != "unsafe"  # applying it fixes what the findings complain about
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "plan.toml")
        path.write_text(plan_to_toml(plan))
        assert load_plan(path) == plan
        code, data = cli_json("recommend", "--config", str(path), "--json")
        assert (code == 0) == rec.fits
        assert [(e["name"], e["pool_size"], e["max_overflow"]) for e in data["engines"]] == [
            (a.name, a.pool_size, a.max_overflow) for a in rec.engines]
        _, checked = cli_json("check", "--config", str(path), "--json")
        assert [f["snippet"] for f in checked["findings"]] == [f.snippet for f in findings]


def test_the_lesson_example_gets_one_answer_everywhere():
    """The issue's case: check said 14 + 7, recommend 5 + 10."""
    lesson = str(ROOT / "examples" / "lesson.toml")
    plan = load_plan(lesson)
    _, recommended = cli_json("recommend", "--config", lesson, "--json")
    code, checked = cli_json("check", "--config", lesson, "--json")
    pools = {(e["pool_size"], e["max_overflow"]) for e in recommended["engines"]}
    snippets = {f["snippet"] for f in checked["findings"]}
    assert code == 1 and len(pools) == 1 and len(snippets) == 1
    [(pool, overflow)] = pools
    assert snippets == {f"create_async_engine(url, pool_size={pool}, max_overflow={overflow})"}
    rec = state.recommendation(plan)
    assert (rec.pool_size, rec.max_overflow) == (pool, overflow)

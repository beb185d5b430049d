"""The demo's optional PgBouncer: with Debian's binary, the "PgBouncer queue" scenario sends the workers'
requests through a real PgBouncer with 2 server connections and clients visibly wait in it; without the
binary, the scenario is not offered and the demo says why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require_binary

from dashboard import demo_pgbouncer
from dashboard.demo import DEMO_PLAN, PGBOUNCER_SCENARIO, SCENARIOS, Demo, sweep_orphaned_demos
from dashboard.live.pgbouncer import sample_pgbouncer_once
from planner.pool_verdict import WaitPlace, judge, pgbouncer_sides

pytestmark = pytest.mark.db


@pytest.mark.pgbouncer
def test_the_pgbouncer_scenario_makes_clients_wait_in_pgbouncer():
    require_binary(demo_pgbouncer.PGBOUNCER, "pgbouncer")
    demo = Demo(DEMO_PLAN).start()
    try:
        assert demo.pgbouncer is not None and demo.pgbouncer_note is None
        assert list(demo.scenarios) == [*SCENARIOS, PGBOUNCER_SCENARIO]
        url = demo.pgbouncer.admin_url()
        demo.set_scenario(PGBOUNCER_SCENARIO)
        deadline, seen = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            snap = sample_pgbouncer_once(url)
            assert snap.ok, snap.error
            pools = [p for p in snap.pools if p.database == "postgres"]
            if pools and pools[0].cl_waiting > 0 and pools[0].sv_active == demo_pgbouncer.DEFAULT_POOL_SIZE:
                seen = pools[0]
                break
            time.sleep(0.3)
        assert seen is not None, f"no client waited in PgBouncer; last sample: {snap!r}"
        assert seen.user == "demo_app" and seen.pool_mode == "transaction"
        assert snap.config.default_pool_size == demo_pgbouncer.DEFAULT_POOL_SIZE
        assert any(g.application_name.startswith("demo-api-") and g.state == "waiting" for g in snap.clients)
        # the joined view's middle tier: the service's verdict says where its requests wait
        side = pgbouncer_sides(snap.clients, ["demo-api"])["demo-api"]
        assert side.cl_waiting >= 1 and side.maxwait_s >= 0
        assert judge(None, None, side, service="demo-api").place is WaitPlace.PGBOUNCER
        served = sum(s["served"] for s in demo.stats().values())
        time.sleep(1.5)
        assert sum(s["served"] for s in demo.stats().values()) > served  # still served, through PgBouncer
        demo.set_scenario("normal")
    finally:
        bouncer_pid = demo.pgbouncer.pid if demo.pgbouncer else None
        demo.stop()
    assert bouncer_pid is not None and not Path(f"/proc/{bouncer_pid}").exists()  # killed and reaped


@pytest.mark.pgbouncer
def test_a_demo_left_by_a_killed_dashboard_loses_its_pgbouncer_too():
    require_binary(demo_pgbouncer.PGBOUNCER, "pgbouncer")
    code = ("import sys, time; from dashboard.demo import start_demo; d = start_demo(); "
            "print(d.root, d.pgbouncer.pid, flush=True); time.sleep(600)")
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
    try:
        root, pid = owner.stdout.readline().split()
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
    os.kill(int(pid), 0)  # the orphan PgBouncer: still running after its dashboard died
    assert Path(root) in sweep_orphaned_demos()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
            break  # killed; reaped by init in its own time
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


def test_without_pgbouncer_the_scenario_is_not_offered_and_the_demo_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_pgbouncer, "PGBOUNCER", str(tmp_path / "no-pgbouncer"))
    demo = Demo(DEMO_PLAN, root=tmp_path / "demo")
    demo._start_pgbouncer()
    assert demo.pgbouncer is None and "apt-get install pgbouncer" in demo.pgbouncer_note
    assert PGBOUNCER_SCENARIO not in demo.scenarios
    with pytest.raises(ValueError, match="needs Debian's PgBouncer"):
        demo.set_scenario(PGBOUNCER_SCENARIO)

"""The demo is real: worker processes with their own engines show up in pg_stat_activity by name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from dashboard.demo import (
    DEMO_PLAN,
    DEMO_PREFIX,
    MAX_CONNECTIONS,
    OWNER_FILE,
    SCENARIOS,
    WORKERS_FILE,
    Demo,
    _process_start,
    _running,
    sweep_orphaned_demos,
)

pytestmark = pytest.mark.db

ACTIVITY = (
    "SELECT application_name, usename, state, pid FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


async def activity(demo: Demo) -> list[asyncpg.Record]:
    url = make_url(demo.url())
    conn = await asyncpg.connect(user=url.username, database=url.database, host=url.query["host"])
    try:
        return await conn.fetch(ACTIVITY)
    finally:
        await conn.close()


async def wait_for(demo: Demo, predicate, timeout: float = 15.0) -> list[asyncpg.Record]:
    deadline = time.monotonic() + timeout
    rows: list[asyncpg.Record] = []
    while time.monotonic() < deadline:
        rows = await activity(demo)
        if predicate(rows):
            return rows
        time.sleep(0.3)
    raise AssertionError(f"condition not met; last activity: {[dict(r) for r in rows]}")


async def test_workers_connect_with_their_names_and_leak_on_demand():
    demo = Demo(DEMO_PLAN).start()
    try:
        assert len(demo.worker_pids) == DEMO_PLAN.deployment.workers == 4
        assert all(os.path.exists(f"/proc/{pid}") for pid in demo.worker_pids)
        if demo.pgbouncer is not None:  # its URL has a password: the config goes on stdin, argv is in ps
            secret = demo.pgbouncer.app_password
            assert secret and not any(secret.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
                                      for pid in demo.worker_pids)
        names = {"demo-api-1", "demo-api-2", "demo-api-3", "demo-api-4"}
        rows = await wait_for(demo, lambda rows: {r["application_name"] for r in rows} >= names)
        assert {r["usename"] for r in rows if r["application_name"] in names} == {"demo_app"}
        per_worker = [sum(r["application_name"] == n for r in rows) for n in sorted(names)]
        assert all(1 <= n <= 10 for n in per_worker)  # within pool_size + max_overflow

        demo.set_scenario("leaking session")
        assert demo.scenario == "leaking session"
        await wait_for(demo, lambda rows: sum(r["state"] == "idle in transaction" for r in rows) >= 4)

        demo.set_scenario("connection storm")
        rows = await wait_for(demo, lambda rows: len(rows) >= MAX_CONNECTIONS - 3 - 1)
        stats = demo.stats()
        assert set(stats) == names
    finally:
        pids = demo.worker_pids
        demo.stop()
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)  # stopped and reaped
    assert not demo.root.exists()


def test_unknown_scenario_is_refused(tmp_path):
    demo = Demo(DEMO_PLAN, root=tmp_path)
    with pytest.raises(ValueError, match="unknown scenario 'chaos'; known: " + ", ".join(SCENARIOS)):
        demo.set_scenario("chaos")


def test_a_demo_left_by_a_killed_dashboard_is_stopped_and_removed_by_the_next():
    """SIGKILL the process that started a demo; the next start_demo() stops its server and removes its folder."""
    code = ("import sys, time; from dashboard.demo import start_demo; d = start_demo(); "
            "print(d.root, flush=True); time.sleep(600)")
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
    try:
        root = Path(owner.stdout.readline().strip())
        postmaster = int((root / "pgdata" / "postmaster.pid").read_text().split()[0])
        workers = [line.split() for line in (root / WORKERS_FILE).read_text().splitlines()]
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
    os.kill(postmaster, 0)  # the orphan: still running after its dashboard died
    assert root in sweep_orphaned_demos()
    assert not root.exists()
    assert len(workers) == 4 and not any(_running(int(pid), started) for pid, started in workers)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{postmaster}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{postmaster}").exists() or " Z " in Path(f"/proc/{postmaster}/stat").read_text()


def test_the_sweep_kills_a_worker_still_writing_into_the_folder_before_removing_it(tmp_path):
    """A worker that outlives its dashboard by a moment keeps writing its stats file; the folder must still go
    (a .ci/run once failed when it stayed)."""
    root = tmp_path / f"{DEMO_PREFIX}x"
    root.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (root / OWNER_FILE).write_text(f"{dead.stdout.strip()} 1")
    writer = subprocess.Popen([sys.executable, "-c", (
        "import itertools, pathlib, sys\n"
        "root = pathlib.Path(sys.argv[1])\n"
        "for i in itertools.count():\n"
        "    try: (root / f'stats-{i % 50}.tmp').write_text('x')\n"
        "    except OSError: pass\n"), str(root)])
    try:
        time.sleep(0.3)
        (root / WORKERS_FILE).write_text(f"{writer.pid} {_process_start(writer.pid)}\n")
        assert sweep_orphaned_demos(tmp_path) == [root]
        assert not root.exists()
        assert writer.wait(5) == -signal.SIGKILL
    finally:
        writer.kill()
        writer.wait()

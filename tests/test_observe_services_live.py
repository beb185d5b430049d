"""``live observe --config`` with a plan of several services, against a real server and real SQLAlchemy pools:
every observed service is sized in one shared sizing (its measured workload, the others as planned), and each
service's recommendation says its service and the shared server's split."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.observe_workload import Workload, sync_url
from dashboard.live.cli import main

pytestmark = pytest.mark.db
PREFIX = f"obsvc{os.getpid()}"


@pytest.fixture
def database(pg_url):
    name = f"{PREFIX}_{time.monotonic_ns() % 10**9}"
    admin_url = make_url(pg_url).set(database="postgres").render_as_string(hide_password=False)
    admin = create_engine(sync_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def plan_file(path, a: str, b: str) -> str:
    rows = ['[[servers]]\nname = "primary"\nmax_connections = 100\n']
    for name, priority in ((a, 2), (b, 1)):
        rows.append(f'[[services]]\nname = "{name}"\npriority = {priority}\n[services.deployment]\ninstances = 1\n'
                    f'workers = 1\nsurge = 0\n[[services.engines]]\nname = "main"\nserver = "primary"\n'
                    f'pool_size = 4\nmax_overflow = 0\napplication_name = "{name}"\n')
    path.write_text("\n".join(rows))
    return str(path)


def test_observe_sizes_the_planned_services_together(database, tmp_path):
    a, b = f"{PREFIX}alpha", f"{PREFIX}beta"
    config = plan_file(tmp_path / "plan.toml", a, b)
    workloads = [Workload(database, f"{a}-1", rate=40, hold_ms=20, pool_size=4),
                 Workload(database, f"{b}-1", rate=30, hold_ms=30, pool_size=4, seed=2)]
    out, text_out, env_out, json_out = io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO()
    for w in workloads:
        w.warm(4)
        w.start()
    try:
        time.sleep(1.0)
        with contextlib.redirect_stdout(out):
            code = main(["observe", "--url", database, "--seconds", "5", "--json", "--config", config])
        with contextlib.redirect_stdout(text_out):
            main(["observe", "--url", database, "--seconds", "3", "--config", config])
        with contextlib.redirect_stdout(env_out):
            main(["observe", "--url", database, "--seconds", "2", "--config", config, "--export", "env"])
        with contextlib.redirect_stdout(json_out):
            main(["observe", "--url", database, "--seconds", "2", "--config", config, "--export", "json"])
    finally:
        for w in workloads:
            w.stop()
    assert code == 0
    services = {s["name"]: s for s in json.loads(out.getvalue())["services"]}
    for name in (a, b):
        rec = services[name]["recommendation"]
        assert rec["service"] == name and rec["fits"] is True and rec["pool_size"] >= 1
        [split] = rec["shared_servers"]
        assert split["server"] == "primary" and {p["service"] for p in split["parts"]} == {a, b}
        assert split["rollout_peak"] <= split["allowed"]
    assert "shared servers (every service sized together with its measured workload):" in text_out.getvalue()
    # env: one snippet per service (its own process settings); json: the whole plan once, both measurements noted
    assert env_out.getvalue().count("# workload measured by pool-planner live observe") == 2
    assert env_out.getvalue().count("WEB_CONCURRENCY=1") == 2
    exported = json.loads(json_out.getvalue())
    assert [s["name"] for s in exported["plan"]["services"]] == [a, b] and len(exported["services"]) == 2
    assert exported["provenance"].count("workload measured by pool-planner live observe") == 2

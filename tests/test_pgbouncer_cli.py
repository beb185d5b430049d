"""``python -m dashboard.live sample | record`` with PgBouncer admin consoles, on a real PgBouncer (Debian's):
a console URL is recognised by its database, ``--pgbouncer`` and the plan's ``admin_url`` add one beside the
server, the JSON keys of the contract, the live findings and exit codes, faults in one line without the
password, and ``record`` writing PgBouncer samples into the history."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from conftest import require_binary
from pgbouncer_kit import USERS, running_pgbouncer, stop
from pgcluster import Cluster, free_port

from dashboard.live import HistoryStore
from dashboard.live.cli import main

pytestmark = [pytest.mark.db, pytest.mark.pgbouncer]
ROOT = Path(__file__).resolve().parent.parent
POOL_KEYS = {"database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used", "maxwait_s",
             "avg_xact_ms", "avg_query_ms"}


@pytest.fixture(scope="module")
def cluster():
    require_binary("/usr/sbin/pgbouncer", "pgbouncer")
    with Cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def bouncer(cluster):
    settings = "pool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 20\nquery_wait_timeout = 60\n"
    with running_pgbouncer(cluster, "cli", settings, auth_type="md5") as bouncer:
        yield bouncer


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


async def app_client(bouncer):
    return await asyncpg.connect(host="127.0.0.1", port=bouncer.port, user="app", password=USERS["app"],
                                 database="appdb", server_settings={"application_name": "shop"})


async def with_waiting_clients(bouncer, action, waiting: int = 2):
    """Run ``action`` (in a thread) while one client holds the only server connection and ``waiting`` wait."""
    holder = await app_client(bouncer)
    waiters = [await app_client(bouncer) for _ in range(waiting)]
    try:
        await holder.execute("BEGIN; SELECT 1")
        queries = [asyncio.create_task(w.fetchval("SELECT 1")) for w in waiters]
        await asyncio.sleep(1.3)  # past the 1 s maxwait that makes the wait a finding
        result = await asyncio.to_thread(action)
        await holder.execute("ROLLBACK")
        await asyncio.gather(*queries)
        return result
    finally:
        for conn in [holder, *waiters]:
            await conn.close()


def test_a_console_url_samples_pgbouncer_alone_with_the_contract_keys(bouncer, capsys):
    code, out, err = asyncio.run(with_waiting_clients(
        bouncer, lambda: run(["sample", "--url", bouncer.url("stats"), "--json"], capsys)))
    document = json.loads(out)
    assert document["status"] == "ok" and document["error"] is None
    pgb = document["pgbouncer"]
    assert pgb["version"] == bouncer.version and pgb["status"] == "ok"
    assert {"pool_mode": "transaction", "default_pool_size": 1, "max_client_conn": 20}.items() <= pgb["config"].items()
    (pool,) = [p for p in pgb["pools"] if p["database"] == "appdb"]
    assert set(pool) >= POOL_KEYS
    assert (pool["cl_active"], pool["cl_waiting"], pool["sv_active"], pool["sv_idle"]) == (1, 2, 1, 0)
    assert pool["maxwait_s"] >= 1.0
    assert USERS["stats"] not in out and pgb["url"].startswith("postgresql://stats:***@")
    ids = [f["id"] for f in document["findings"]]
    assert "pgbouncer-clients-waiting" in ids and "prepared-statement-cache" in ids  # 1.18 in transaction mode
    assert code == 1 and err == ""


def test_the_plan_names_the_console_and_the_live_config_differs(bouncer, cluster, tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[[engines]]\nurl = "postgresql+asyncpg://app@127.0.0.1:6432/appdb?prepared_statement_cache_size=0"\n'
        "via_pgbouncer = true\nstatement_cache_size = 0\n"
        f'[pgbouncer]\nversion = "{bouncer.version}"\npool_mode = "transaction"\ndefault_pool_size = 5\n'
        f'max_client_conn = 20\nadmin_url = "{bouncer.url("admin")}"\n'
    )
    code, out, err = run(["sample", "--url", cluster.url(), "--config", str(plan), "--json"], capsys)
    assert err == ""
    document = json.loads(out)
    assert document["status"] == "ok" and document["server"] == "primary"
    assert document["pgbouncer"]["status"] == "ok" and document["pgbouncer"]["config"]["default_pool_size"] == 1
    (differs,) = [f for f in document["findings"] if f["id"] == "pgbouncer-plan-differs"]
    assert "default_pool_size: plan 5, live 1" in differs["message"]
    assert not [f for f in document["findings"] if f["id"] == "prepared-statement-cache"]  # both caches off
    assert differs["severity"] == "warning"
    assert code == 0 and USERS["admin"] not in out  # a warning is below sample's default --fail-on critical
    code, _, _ = run(["sample", "--url", cluster.url(), "--config", str(plan), "--fail-on", "warning"], capsys)
    assert code == 1

    code, out, _ = run(["sample", "--url", cluster.url(), "--pgbouncer", bouncer.url("stats")], capsys)
    assert code == 0, out
    assert "pgbouncer (postgresql://stats:***@" in out and "default_pool_size 1" in out and "cl_waiting" in out


def test_faults_are_one_line_and_exit_2(bouncer, capsys):
    code, out, err = run(["sample", "--url", bouncer.url("stats", password="Wrong-Pass-9"), "--json"], capsys)
    assert code == 2 and json.loads(out)["status"] == "auth"
    assert err.count("\n") == 1 and "password authentication failed" in err and "Wrong-Pass-9" not in out + err
    code, out, err = run(["sample", "--url", bouncer.url("plain")], capsys)
    assert code == 2 and "may not use PgBouncer's admin console" in err and out == ""
    started = time.monotonic()
    code, out, err = run(["sample", "--url", f"postgresql://stats:x@127.0.0.1:{free_port()}/pgbouncer"], capsys)
    assert code == 2 and "unreachable" in err and "refused" in err and time.monotonic() - started < 5
    code, out, err = run(["sample", "--url", "postgresql://stats@127.0.0.1:6432/pgbouncer?foo=1"], capsys)
    assert code == 2 and "'foo'" in err and err.count("\n") == 1


def test_record_writes_pgbouncer_samples_beside_the_server(bouncer, cluster, tmp_path):
    command = [sys.executable, "-m", "dashboard.live", "record", "--url", f"primary={cluster.url()}",
               "--url", bouncer.url("stats"), "--pgbouncer", f"edge={bouncer.url('admin')}", "--interval", "0.2",
               "--duration", "2", "--data", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "recording primary, edge, pgbouncer" in done.stdout
    assert "pgbouncer: ok (sampling postgresql://stats:***@" in done.stdout
    assert USERS["stats"] not in done.stdout + done.stderr
    with HistoryStore(tmp_path / "history.sqlite") as store:
        assert store.servers() == ["primary"] and store.pgbouncer_names() == ["edge", "pgbouncer"]
        samples = store.pgbouncer_snapshots("pgbouncer")
        assert len(samples) >= 5 and all(s.ok for s in samples)
        assert samples[-1].config.default_pool_size == 1 and samples[-1].version == bouncer.version


def test_record_keeps_going_while_pgbouncer_is_down(cluster, tmp_path):
    with running_pgbouncer(cluster, "cli-down", "pool_mode = session\n", auth_type="md5") as bouncer:
        command = [sys.executable, "-m", "dashboard.live", "record", "--pgbouncer", bouncer.url("stats"),
                   "--interval", "0.2", "--duration", "8", "--data", str(tmp_path)]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        while not any(line.startswith("pgbouncer: ok") for line in seen):  # sampled before it goes down
            line = process.stdout.readline()
            assert line, f"record ended before a sample: {seen}"
            seen.append(line)
        time.sleep(0.5)
        stop(bouncer)
        out, err = process.communicate(timeout=60)
        out = "".join(seen) + out
    assert process.returncode == 0, err
    assert "pgbouncer: unreachable" in out
    with HistoryStore(tmp_path / "history.sqlite") as store:
        statuses = [s.status for s in store.pgbouncer_snapshots("pgbouncer")]
    assert statuses[0] == "ok" and statuses[-1] == "unreachable"
    assert statuses.index("unreachable") > 1 and "ok" not in statuses[statuses.index("unreachable"):]

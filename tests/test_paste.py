"""Exports you would paste: the JSON export reads back with --config, the exported pgbouncer.ini starts Debian's
PgBouncer and serves a real PostgreSQL through it, and the dashboard never exports (or judges) the monitor's URL
as the application's."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import pwd
import re
import subprocess
import time
from pathlib import Path

import asyncpg
import psycopg
import pytest
from conftest import require_binary
from pgcluster import RUN_AS, free_port
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from dashboard import state
from planner.cli import main
from planner.config import load_plan
from planner.export import ADMIN_USER, STATS_USER, export
from planner.model import Engine, PgBouncer, Plan, Workload

ROOT = Path(__file__).resolve().parent.parent
PGBOUNCER = "/usr/sbin/pgbouncer"
APP = str(ROOT / "dashboard" / "app.py")


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.mark.parametrize("example", ["lesson.toml", "plan.toml"])
def test_the_json_export_reads_back_with_config(example, tmp_path):
    source = str(ROOT / "examples" / example)
    _, document = cli("export", "--config", source, "--format", "json")
    path = tmp_path / "plan.json"
    path.write_text(document)
    assert load_plan(path) == load_plan(source)
    assert cli("check", "--config", str(path), "--json") == cli("check", "--config", source, "--json")
    assert json.loads(document)["plan"]["deployment"] == json.loads(cli("export", "--config", str(path),
                                                                        "--format", "json")[1])["plan"]["deployment"]


def test_a_broken_json_plan_is_bad_input(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"plan": {"servers": [')
    code, _ = cli("check", "--config", str(path))
    assert code == 2


def fill_in(ini: str, *, server_host: str, server_port: int, port: int, auth_file: Path) -> str:
    """What the generated file asks a deployer to fill in (the server's address, the users' file), and the
    test's own port and loopback address: every other line stays as exported."""
    replacements = [
        (r"host=primary port=5432", f"host={server_host} port={server_port}"),
        (r"listen_port = 6432", f"listen_port = {port}"),
        (r"listen_addr = 0\.0\.0\.0", "listen_addr = 127.0.0.1"),
        (r"auth_file = /etc/pgbouncer/userlist\.txt", f"auth_file = {auth_file}"),
    ]
    for pattern, value in replacements:
        ini, count = re.subn(pattern, value, ini)
        assert count == 1, pattern
    return ini


def installed_pgbouncer_version() -> str:
    out = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True, check=True).stdout
    return re.search(r"PgBouncer (\d+\.\d+\.\d+)", out).group(1)


@pytest.mark.db
@pytest.mark.pgbouncer
def test_the_exported_pgbouncer_ini_starts_and_serves(pg_url, tmp_path):
    require_binary(PGBOUNCER, "pgbouncer")
    server = make_url(pg_url)
    user, database = server.username or "postgres", server.database or "postgres"
    plan = Plan(engines=(Engine(pool_size=2, max_overflow=1, via_pgbouncer=True, statement_cache_size=0,
                                url=f"postgresql+asyncpg://{user}@pgbouncer:6432/{database}"
                                    "?prepared_statement_cache_size=0"),),
                pgbouncer=PgBouncer(version=installed_pgbouncer_version(), default_pool_size=2),
                workload=Workload(rps=10, hold_ms=5, request_timeout_s=20))
    port = free_port()
    users = tmp_path / "userlist.txt"
    users.write_text(f'"{user}" "app-pw"\n"{ADMIN_USER}" "admin-pw"\n"{STATS_USER}" "stats-pw"\n')
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(fill_in(export(plan, "pgbouncer"), server_host=server.host or "127.0.0.1",
                           server_port=server.port or 5432, port=port, auth_file=users))
    assert "query_wait_timeout = 20" in ini.read_text()
    command = [PGBOUNCER, str(ini)]
    if RUN_AS:  # PgBouncer refuses to run as root
        entry = pwd.getpwnam(RUN_AS)
        for path in (tmp_path, users, ini):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        command[1:1] = ["-u", RUN_AS]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_listening(port, process)

        async def through_pgbouncer() -> int:
            conn = await asyncpg.connect(host="127.0.0.1", port=port, user=user, password="app-pw",
                                         database=database, statement_cache_size=0, timeout=10)
            try:
                return await conn.fetchval("SELECT 41 + 1")
            finally:
                await conn.close()

        assert asyncio.run(through_pgbouncer()) == 42
        for role, password, command_text in ((ADMIN_USER, "admin-pw", "SHOW POOLS"),
                                             (STATS_USER, "stats-pw", "SHOW STATS")):
            with psycopg.connect(host="127.0.0.1", port=port, user=role, password=password, dbname="pgbouncer",
                                 autocommit=True, cursor_factory=psycopg.ClientCursor) as admin:
                rows = admin.execute(command_text).fetchall()
            assert rows, command_text
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert process.returncode == 0 or "FATAL" not in output, output


def wait_listening(port: int, process: subprocess.Popen) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("pgbouncer did not listen")


@pytest.mark.db
def test_a_plain_postgresql_monitor_url_is_not_judged_as_the_apps(pg_url, tmp_path, monkeypatch):
    """postgresql:// (psycopg2's scheme) is fine for the monitor: no sync-driver warning, and the .env export
    carries a placeholder, not the monitor's URL."""
    monkeypatch.setenv("POOL_PLANNER_DATA", str(tmp_path))
    plain = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["DATABASE_URL"] = plain
    at.run()
    time.sleep(1.5)
    at.run()
    assert not at.exception
    page = " ".join(str(e.proto) for e in at.main)
    assert "sync-driver" not in page
    env = next(c.value for c in at.code if c.value.startswith("# Generated by python -m planner. Replace ***"))
    assert plain.split("@")[-1] not in env and "DATABASE_URL=postgresql+asyncpg://USER:***@HOST:5432/DB" in env
    assert not [f for f in state.evaluate(state.build_plan(state.Inputs())).findings if f.id == "sync-driver"]

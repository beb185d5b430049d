"""``python -m dashboard.live sample | record``: JSON and table output against a real server, the exit codes,
one clear line for bad input and dead servers, never a password, and recording into the history."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pgcluster import free_port
from test_sampler_support import Sessions, unique_name

from dashboard.live import HistoryStore
from dashboard.live.cli import main

ROOT = Path(__file__).resolve().parent.parent
SECRET = "pw-Secret-42"
GROUP_KEYS = {"datname", "usename", "application_name", "client_addr", "state", "wait_event_type", "count",
              "ssl_count", "oldest_idle_in_transaction_s", "oldest_xact_s", "oldest_backend_s", "youngest_backend_s",
              "last_query"}


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def dead_url():
    return f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:{free_port()}/postgres"


def serious(findings, fail_on=("critical",)):
    """Whether sample exits 1: a finding at or above --fail-on (default critical)."""
    return any(f["severity"] in fail_on for f in findings)


@pytest.mark.db
def test_sample_json_has_the_groups_settings_and_own_connection(pg_url, capsys):
    app = unique_name("t-cli")

    async def scenario():
        async with Sessions(pg_url, app) as sessions:
            await sessions.idle(2)
            await sessions.idle_in_transaction(1)
            strict = await asyncio.to_thread(run, ["sample", "--url", pg_url, "--json", "--fail-on", "warning"], capsys)
            return (*await asyncio.to_thread(run, ["sample", "--url", pg_url, "--json"], capsys), strict)

    code, out, err, (strict_code, strict_out, _) = asyncio.run(scenario())
    # the test role is a superuser: monitor-superuser (a warning) is about the test set-up, not these sessions
    strict_findings = [f for f in json.loads(strict_out)["findings"] if f["id"] != "monitor-superuser"]
    assert any(f["id"] == "no-idle-in-transaction-timeout" and f["severity"] == "warning" for f in strict_findings) \
        or not serious(strict_findings, ("warning",))  # a server with the timeout set has no such warning
    assert strict_code == 1 if serious(strict_findings, ("critical", "warning")) else strict_code in (0, 1)
    document = json.loads(out)
    assert document["status"] == "ok" and document["error"] is None and document["server"] == "primary"
    assert document["own_connections"] >= 1 and document["settings"]["can_see_all"] is True
    mine = sorted((g for g in document["groups"] if g["application_name"] == app), key=lambda g: g["state"])
    assert [set(g) for g in mine] == [GROUP_KEYS, GROUP_KEYS]
    assert [(g["state"], g["count"], g["ssl_count"], g["client_addr"]) for g in mine] == [
        ("idle", 2, 0, "127.0.0.1"), ("idle in transaction", 1, 0, "127.0.0.1")
    ]
    assert mine[1]["oldest_idle_in_transaction_s"] >= 0 and mine[0]["oldest_idle_in_transaction_s"] is None
    assert code == (1 if serious(document["findings"]) else 0) and err == ""
    assert all({"id", "severity", "message", "fix"} <= set(f) for f in document["findings"])


@pytest.mark.db
def test_sample_table_and_database_url_from_the_environment(pg_url, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    code, out, err = run(["sample"], capsys)
    assert code in (0, 1) and err == ""
    first, second, third = out.splitlines()[:3]
    assert first.startswith("primary (") and first.endswith(": ok")
    assert second.startswith("  PostgreSQL 1") and "max_connections" in second
    assert third.startswith("  client backends: ") and "the monitor's own" in third


def test_a_dead_server_is_one_line_and_exit_2_with_json_on_stdout(capsys):
    url = dead_url()
    port = url.rsplit(":", 1)[1].split("/")[0]
    code, out, err = run(["sample", "--url", url, "--json", "--timeout", "2"], capsys)
    document = json.loads(out)
    assert code == 2
    assert (document["status"], document["total"], document["groups"]) == ("unreachable", None, [])
    assert document["url"] == f"postgresql+asyncpg://postgres:***@127.0.0.1:{port}/postgres"
    assert err == f"error: primary: unreachable: connection refused by 127.0.0.1:{port} (is the server running?)\n"
    code, out, err = run(["sample", "--url", url], capsys)
    assert (code, out, len(err.splitlines())) == (2, "", 1)
    assert SECRET not in out + err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sample", "--url", f"postgresql://u:{SECRET}@h:port/db"],
         "error: primary: bad-url: cannot parse the database URL 'postgresql://u:***@h:port/db': "
         "the port must be a number"),
        (["sample", "--url", "postgresql://h/db", "--timeout", "0"],
         "error: sample: --timeout must be between 0.1 and 600 seconds, got 0"),
        (["sample", "--url", "postgresql://h/db", "--server", "no spaces"],
         "error: --server must be 1-63 letters, digits, '_', '.' or '-', got 'no spaces'"),
        (["sample", "--url", "postgresql://h/db", "--config", "/nonexistent/plan.toml"],
         "error: config: cannot read /nonexistent/plan.toml: No such file or directory"),
        (["record", "--url", f"mysql://u:{SECRET}@h/db"],
         "error: not a PostgreSQL URL: 'mysql://u:***@h/db' (expected postgresql+asyncpg://user:password@host/db)"),
        (["record", "--url", "postgresql://h/db", "--interval", "0"],
         "error: record: --interval must be between 0.1 and 3600 seconds, got 0"),
        (["record", "--url", "a=postgresql://h/db", "--url", "a=postgresql://h/db2"],
         "error: record: server 'a' given twice; name them: --url NAME=URL"),
        (["nonsense"], None),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and SECRET not in err
    if message is not None:
        assert err.rstrip("\n") == message


def test_no_url_anywhere_is_one_line(capsys, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert run(["sample"], capsys) == (2, "", "error: sample: give --url or set DATABASE_URL\n")
    assert run(["record"], capsys) == (2, "", "error: record: give --url or set DATABASE_URL\n")


@pytest.mark.db
def test_sample_with_a_plan_judges_it_under_the_plans_server_name(pg_url, tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text('[[servers]]\nname = "main"\nmax_connections = 100\n'
                    '[[engines]]\nname = "api"\nserver = "main"\npool_size = 5\nmax_overflow = 5\n')
    code, out, _ = run(["sample", "--url", pg_url, "--config", str(plan), "--json"], capsys)
    document = json.loads(out)
    assert document["server"] == "main" and document["status"] == "ok"
    assert all(f["server"] in ("main", None) for f in document["findings"])
    assert code == (1 if serious(document["findings"]) else 0)
    code, out, err = run(["sample", "--url", pg_url, "--config", str(plan), "--server", "replica"], capsys)
    assert (code, out, err) == (2, "", "error: --server 'replica' is not a server of the plan (its servers: main)\n")


@pytest.mark.db
def test_sample_says_when_the_plan_is_not_the_server(pg_url, tmp_path, capsys):
    """Issue #13: a plan saying max_connections 200 against a server with fewer said nothing."""
    code, out, _ = run(["sample", "--url", pg_url, "--json"], capsys)
    settings = json.loads(out)["settings"]
    planned = settings["max_connections"] + 100
    version = settings["server_version_num"] // 10_000
    plan = tmp_path / "plan.toml"
    plan.write_text(f"[[servers]]\nmax_connections = {planned}\nmajor_version = {version}\n"
                    f"superuser_reserved_connections = {settings['superuser_reserved_connections']}\n"
                    f"reserved_connections = {settings['reserved_connections'] or 0}\n")
    code, out, _ = run(["sample", "--url", pg_url, "--config", str(plan), "--json"], capsys)
    [finding] = [f for f in json.loads(out)["findings"] if f["id"] == "plan-differs-from-server"]
    assert finding["severity"] == "warning" and code == 0  # a warning is below sample's default --fail-on critical
    assert finding["message"].startswith(f"primary: max_connections {planned} in the plan, "
                                         f"{settings['max_connections']} on the server: the plan counts")
    code, out, _ = run(["sample", "--url", pg_url, "--config", str(plan)], capsys)
    assert "plan-differs-from-server" in out
    plan.write_text(plan.read_text().replace(f"max_connections = {planned}",
                                             f"max_connections = {settings['max_connections']}"))
    code, out, _ = run(["sample", "--url", pg_url, "--config", str(plan), "--json"], capsys)
    assert "plan-differs-from-server" not in {f["id"] for f in json.loads(out)["findings"]}


@pytest.mark.db
def test_record_writes_samples_and_gaps_into_the_history(pg_url, tmp_path, capsys):
    code, out, err = run(
        ["record", "--url", f"db={pg_url}", "--url", f"down={dead_url()}", "--interval", "0.3", "--duration", "1.6",
         "--data", str(tmp_path)],
        capsys,
    )
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"recording db, down every 0.3 s into {tmp_path / 'history.sqlite'} (Ctrl-C stops)"
    assert any(line.startswith("db: ok (sampling postgresql+asyncpg://") for line in lines)
    assert any(line.startswith("down: unreachable: connection refused by 127.0.0.1:") for line in lines)
    assert SECRET not in out
    with HistoryStore(tmp_path / "history.sqlite") as store:
        assert store.servers() == ["db", "down"]
        db_totals, down_totals = store.totals("db"), store.totals("down")
    assert len(db_totals) >= 3 and set(db_totals["status"]) == {"ok"}
    assert len(down_totals) >= 3 and set(down_totals["status"]) == {"unreachable"} and down_totals["total"].isna().all()


def test_the_module_entry_point_runs(capsys):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "dashboard.live", "sample", "--url", dead_url(), "--json",
                           "--timeout", "2"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 2 and json.loads(done.stdout)["status"] == "unreachable"
    assert done.stderr.startswith("error: primary: unreachable: connection refused by 127.0.0.1:")
    assert "Traceback" not in done.stderr and SECRET not in done.stdout + done.stderr

"""``python -m planner``: a few real subprocesses (exit codes, stderr, --help), the rest in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.cli import main

ROOT = Path(__file__).resolve().parent.parent
LESSON = str(ROOT / "examples" / "lesson.toml")
EXAMPLE = str(ROOT / "examples" / "plan.toml")


def planner(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_check_of_the_lesson_example_fails_with_json():
    proc = planner("check", "--config", LESSON, "--json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["verdict"] == "unsafe"
    server = data["servers"][0]
    assert {k: server[k] for k in ("name", "usable", "steady", "peak", "rollout_peak", "headroom", "verdict")} == {
        "name": "primary", "usable": 97, "steady": 80, "peak": 120, "rollout_peak": 120, "headroom": -23,
        "verdict": "unsafe"}
    assert [(f["id"], f["severity"]) for f in data["findings"]] == [
        ("overflow-exceeds-budget", "critical"), ("too-many-connections", "critical")]
    assert all(f["message"] for f in data["findings"])


@pytest.mark.parametrize("command", ["plan", "recommend", "check", "export"])
def test_every_command_has_help_with_an_example(command):
    proc = planner(command, "--help")
    assert proc.returncode == 0
    assert "example:\n  python -m planner " + command in proc.stdout
    assert "--max-connections" in proc.stdout


@pytest.mark.parametrize(("argv", "line"), [
    (["plan", "--max-connections", "0"], "error: --max-connections: must be between 1 and 262143, got 0"),
    (["check", "--url", "postgresql+asyncpg://app:s3cret@db:port/app"],
     "error: url: the port must be a number: postgresql+asyncpg://app:***@db:port/app"),
    (["plan", "--bogus"], "error: python -m planner: unrecognized arguments: --bogus"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(argv, line):
    proc = planner(*argv)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", line + "\n")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_text_prints_the_arithmetic(capsys):
    code, out, err = run(capsys, "plan", "--max-connections", "100", "--workers", "4", "--pool-size", "20",
                         "--max-overflow", "10", "--surge", "0")
    assert (code, err) == (1, "")  # unsafe: exit 1, as for check
    assert out.splitlines()[:8] == [
        "primary: UNSAFE",
        "  usable = max_connections 100 - superuser_reserved 3 - reserved 0 - other clients 0 = 97",
        "  processes = 1 instances x 4 workers = 4",
        "  steady = 4 processes x pool_size (20) = 80",
        "  peak = 4 processes x (20 + 10) = 120",
        "  rollout peak = (1 instances + 0 surge) x 4 workers x 30 = 120",
        "  headroom = usable 97 - rollout peak 120 = -23 (120 > 97)",
        "verdict: unsafe",
    ]
    assert "  critical overflow-exceeds-budget: primary: the lesson's rule passes" in out


def test_plan_json_for_primary_and_replica(capsys):
    code, out, _ = run(capsys, "plan", "--config", EXAMPLE, "--json")
    data = json.loads(out)
    assert code == 1  # the replica is unsafe: plan exits like check on the verdict
    assert [(s["name"], s["usable"], s["steady"], s["peak"], s["rollout_peak"], s["headroom"], s["verdict"])
            for s in data["servers"]] == [("primary", 185, 72, 108, 180, 5, "tight"),
                                          ("replica", 92, 48, 72, 120, -28, "unsafe")]
    assert data["verdict"] == "unsafe"


def test_recommend_fits_and_prints_reasons(capsys):
    code, out, _ = run(capsys, "recommend", "--config", EXAMPLE, "--json")
    data = json.loads(out)
    assert (code, data["fits"], data["verdict"]) == (0, True, "safe")
    assert [(e["name"], e["pool_size"], e["max_overflow"], e["pool_timeout"], e["pool_recycle"])
            for e in data["engines"]] == [("primary", 4, 2, 10.0, 175.0), ("replica", 4, 0, 10.0, 175.0)]
    assert [s["rollout_peak"] for s in data["servers"]] == [120, 80]
    assert "the queueing model (exponential 20 ms hold) needs 4 for p99 checkout wait <= 10 ms" in data["reasons"][4]


def test_recommend_takes_the_hold_distribution_and_target_from_flags(capsys):
    base = ("recommend", "--max-connections", "200", "--instances", "3", "--workers", "4", "--surge", "1",
            "--rps", "1200", "--hold-ms", "25", "--json")
    sizes = {}
    for extra in ((), ("--hold-dist", "const"), ("--target-p99-wait", "100"), ("--sizing-model", "littles-law"),
                  ("--hold-p50", "10", "--hold-p95", "80", "--hold-p99", "200", "--target-p99-wait", "5")):
        code, out, _ = run(capsys, *base, *extra)
        assert code == 0
        sizes[extra[:2]] = json.loads(out)["pool_size"]
    assert sizes == {(): 7, ("--hold-dist", "const"): 6, ("--target-p99-wait", "100"): 4,
                     ("--sizing-model", "littles-law"): 4, ("--hold-p50", "10"): 7}


@pytest.mark.parametrize(("extra", "message"), [
    (("--hold-p50", "10", "--hold-p95", "80"), "error: workload.hold_p99_ms: hold percentiles come as all three"),
    (("--hold-p50", "10", "--hold-p95", "8", "--hold-p99", "20"), "error: --hold-p95: need p50 <= p95 <= p99"),
    (("--target-p99-wait", "0"), "error: --target-p99-wait: must be between 0.1"),
])
def test_recommend_bad_hold_input_is_one_line(capsys, extra, message):
    code, out, err = run(capsys, "recommend", "--rps", "100", "--hold-ms", "20", *extra)
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_recommend_that_cannot_fit_exits_1_with_alternatives(capsys):
    code, out, _ = run(capsys, "recommend", "--instances", "10", "--workers", "4", "--rps", "2000", "--hold-ms", "20")
    assert code == 1
    assert "nothing fits:\n  primary: 52 rollout processes x 4 connections per process" in out
    assert "  pgbouncer: put PgBouncer (>= 1.24, transaction mode) in front of primary with default_pool_size 47" in out
    assert "  max-connections: raise primary max_connections 100 -> 235" in out


def test_export_recommended_python(capsys):
    code, out, _ = run(capsys, "export", "--format", "python", "--recommended", "--workers", "4", "--surge", "0")
    assert code == 0
    assert "    pool_size=5,\n    max_overflow=10,\n    pool_timeout=10,\n    pool_recycle=1800,\n" in out


def test_export_pgbouncer_without_pgbouncer_is_bad_input(capsys):
    code, out, err = run(capsys, "export", "--format", "pgbouncer")
    assert (code, out, err) == (
        2, "", "error: format: pgbouncer needs a [pgbouncer] section in the plan (--config FILE)\n")


def test_check_fails_on_a_critical_finding_by_default(capsys):
    url = "postgresql+asyncpg://app@db/app?sslmode=require"
    code, out, _ = run(capsys, "check", "--url", url)
    assert code == 1 and "critical asyncpg-ssl" in out and "verdict: safe" in out  # the budget alone is safe
    assert run(capsys, "check", "--url", url, "--fail-on", "unsafe")[0] == 0


def test_broken_config_file(capsys, tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text("[[servers]\n")
    code, out, err = run(capsys, "check", "--config", str(path))
    assert (code, out) == (2, "")
    assert err == ("error: config: not valid TOML: Expected ']]' at the end of an array declaration "
                   "(at line 1, column 10)\n")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 8), st.integers(1, 4), st.integers(0, 40), st.integers(-1, 20),
       st.sampled_from(["0", "1", "25%", "100%"]))
def test_check_exit_code_matches_the_verdict(max_connections, workers, instances, pool_size, max_overflow, surge):
    import contextlib
    import io

    argv = ["check", "--json", "--max-connections", str(max_connections), "--workers", str(workers),
            "--instances", str(instances), "--pool-size", str(pool_size), "--max-overflow", str(max_overflow),
            "--surge", surge]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code == 2:
        assert out.getvalue() == "" and err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1
        assert pool_size > max_connections or max_connections <= 3  # pool larger than the server, or no slots
        return
    verdict = json.loads(out.getvalue())["verdict"]
    assert code == (1 if verdict == "unsafe" else 0)


def test_check_fails_when_pgbouncer_cannot_take_the_fleets_clients(capsys, tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text('[[engines]]\nname = "primary"\npool_size = 5\nmax_overflow = 10\nvia_pgbouncer = true\n'
                    '[deployment]\ninstances = 3\nworkers = 4\n[pgbouncer]\nmax_client_conn = 100\n')
    code, out, err = run(capsys, "check", "--config", str(path))
    assert (code, err) == (1, "")
    lines = out.splitlines()
    at = lines.index("PgBouncer (in front of primary): UNSAFE")
    assert lines[at + 2] == "  client rollout peak = (3 instances + 1 surge) x 4 workers x (5 + 10) = 240"
    assert lines[at + 4] == "  headroom = limit 100 - client rollout peak 240 = -140 (240 > 100)"
    assert "verdict: unsafe" in lines and "primary: SAFE" in lines  # the server itself sees 20
    code, out, _ = run(capsys, "check", "--config", str(path), "--json")
    data = json.loads(out)
    assert (code, data["verdict"], data["servers"][0]["verdict"], data["pgbouncer"]["verdict"]) == (
        1, "unsafe", "safe", "unsafe")
    path.write_text(path.read_text().replace("max_client_conn = 100", "max_client_conn = 300"))
    assert run(capsys, "check", "--config", str(path))[0] == 0

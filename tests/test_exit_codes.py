"""The exit-code table (README), command by command: 0 fine; 1 an unsafe plan or a finding at or above --fail-on;
2 bad input; 3 internal error, one line, never mistaken for a finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.live import cli as live_cli
from planner import cli
from planner.commands import check
from pool_planner.cli import main as pool_planner

ROOT = Path(__file__).resolve().parent.parent
LESSON = str(ROOT / "examples" / "lesson.toml")
CORPUS = ROOT / "tests" / "lint_corpus"
SAFE = ["--max-connections", "100", "--workers", "2", "--pool-size", "5", "--max-overflow", "5"]


def run(capsys, *argv: str, entry=cli.main) -> tuple[int, str, str]:
    code = entry(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "code"), [
    (["plan", *SAFE], 0),
    (["plan", "--config", LESSON], 1),
    (["check", *SAFE], 0),
    (["check", "--config", LESSON], 1),
    (["check", *SAFE, "--url", "postgresql+asyncpg://app@db/app?sslmode=require"], 1),  # critical asyncpg-ssl
    (["check", *SAFE, "--url", "postgresql+asyncpg://app@db/app?sslmode=require", "--fail-on", "unsafe"], 0),
    (["export", *SAFE, "--format", "env"], 0),
    (["export", "--config", LESSON, "--format", "env"], 1),
    (["export", "--config", LESSON, "--format", "env", "--recommended"], 0),
    (["recommend", "--config", LESSON], 0),
    (["wait", "--rps", "10", "--hold-ms", "10", "--pool-size", "5", "--max-overflow", "5", "--pool-timeout", "30"], 0),
    (["wait", "--rps", "1000", "--hold-ms", "10", "--pool-size", "2", "--max-overflow", "0", "--pool-timeout", "1"], 1),
    (["plan", "--workers", "0"], 2),
    (["check", "--fail-on", "bogus"], 2),
])
def test_planner_commands(capsys, argv, code):
    assert run(capsys, *argv)[0] == code


def test_export_of_an_unsafe_plan_prints_the_snippet_and_says_why_it_exits_1(capsys):
    code, out, err = run(capsys, "export", "--config", LESSON, "--format", "python")
    assert code == 1 and "create_async_engine(" in out
    assert err == "warning: this plan is unsafe (check --config shows why); exit 1\n"


def test_check_fail_on_levels():
    class F:
        def __init__(self, severity):
            self.severity = severity

    warning = [F("warning")]
    assert [check.failed("safe", warning, level) for level in check.FAIL_ON] == [False, False, True, True]
    assert all(check.failed("unsafe", [], level) for level in check.FAIL_ON)


def test_lint_fail_on_and_inventory(capsys):
    path = str(CORPUS / "rules" / "asyncpg_ssl.py")
    code, out, _ = run(capsys, "lint", path, "--json")
    assert code == 1 and '"critical"' in out
    assert run(capsys, "lint", path, "--inventory")[0] == 0
    warnings_only = str(CORPUS / "lesson" / "app")
    code, out, _ = run(capsys, "lint", warnings_only, "--json")
    severities = {line.split('"')[3] for line in out.splitlines() if '"severity"' in line}
    assert code == 1 and severities
    expected = 1 if "critical" in severities else 0
    assert run(capsys, "lint", warnings_only, "--fail-on", "critical")[0] == expected


def test_an_internal_error_is_one_line_and_exit_3(capsys, monkeypatch):
    def broken(args):
        raise KeyError("postgresql://app:s3cret@db/app")

    monkeypatch.setattr("planner.commands.plan.run", broken)
    code, out, err = run(capsys, "plan")
    assert (code, out) == (3, "") and err.count("\n") == 1 and "s3cret" not in err
    assert err.startswith("internal error: KeyError: ")


def test_an_internal_error_in_the_live_cli_is_exit_3(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(live_cli, "sample_once", broken)
    code, out, err = run(capsys, "sample", "--url", "postgresql://x@127.0.0.1/x", entry=live_cli.main)
    assert (code, out) == (3, "") and err.startswith("internal error: RuntimeError: boom") and err.count("\n") == 1


def test_bare_commands_print_usage_and_exit_2(capsys):
    for entry in (cli.main, pool_planner, live_cli.main):
        code, out, err = run(capsys, entry=entry)
        assert code == 2 and out == "" and err.startswith("usage: ")


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        pool_planner(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == "pool-planner 0.1.0\n"


def test_live_is_delegated_verbatim(capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(live_cli, "main", lambda argv, prog: seen.append((argv, prog)) or 7)
    assert pool_planner(["live", "observe", "--x", "y"]) == 7
    assert seen == [(["observe", "--x", "y"], "pool-planner live")]


def test_dashboard_launcher_settings():
    from dashboard import launch

    options = launch.flag_options("127.0.0.1", 8501)
    assert options["server.address"] == "127.0.0.1" and options["server.headless"] is True
    assert options["client.showErrorDetails"] == "none" and options["client.toolbarMode"] == "viewer"
    assert options["browser.gatherUsageStats"] is False
    assert launch.build_parser("x").parse_args([]).address == "127.0.0.1"

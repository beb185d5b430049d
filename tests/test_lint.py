"""The linter over a corpus of small files with the exact findings expected (path, line, id), through the
API and the CLI: the lesson's own code, one file per rule, correct code that must stay silent, silencing,
exit codes and the output formats."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from planner.cli import main
from planner.lint import lint_paths, lint_source
from planner.lint.findings import CodeFinding
from planner.lint.sql import BIND, literal_spans
from planner.model import Deployment, Plan, Server

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path("tests/lint_corpus")
LESSON = CORPUS / "lesson" / "app"

EXPECTED: dict[str, list[tuple[int, str]]] = {
    "lesson/app/crud/analytics.py": [(12, "bind-in-literal")],
    "lesson/app/db/warmup.py": [(7, "single-connection-warmup")],
    "rules/asyncpg_ssl.py": [(4, "asyncpg-ssl"), (8, "asyncpg-ssl"), (12, "asyncpg-ssl")],
    "rules/bind_in_literal.py": [(5, "bind-in-literal"), (7, "bind-in-literal"), (11, "bind-in-literal"),
                                 (19, "bind-in-literal"), (23, "bind-in-literal"), (28, "bind-in-literal")],
    "rules/create_all.py": [(12, "create-all-without-run-sync"), (17, "create-all-without-run-sync"),
                            (21, "create-all-without-run-sync")],
    "rules/engine_per_request.py": [(15, "engine-per-request"), (21, "engine-per-request"),
                                    (32, "engine-per-request"), (38, "engine-per-request")],
    "rules/session_without_context.py": [(10, "session-without-context"), (16, "session-without-context"),
                                         (22, "session-without-context"), (28, "session-without-context")],
    "rules/single_connection_warmup.py": [(10, "single-connection-warmup"), (15, "single-connection-warmup")],
    "rules/sql_string_building.py": [(6, "sql-string-building"), (10, "sql-string-building"),
                                     (14, "sql-identifier-building"), (18, "sql-identifier-building"),
                                     (23, "sql-string-building"), (27, "sql-string-building"),
                                     (43, "sql-identifier-building")],
    "rules/suppressed.py": [(26, "sql-string-building"), (30, "sql-string-building")],
    "rules/unbounded_overflow.py": [(6, "unbounded-overflow"), (9, "unbounded-overflow"),
                                    (11, "unbounded-overflow")],
}
CLEAN = [  # files that must produce no finding: the lesson's correct parts and the correct app
    "correct/app.py",
    "correct/lookalikes.py",
    "correct/warmups_held.py",
    "lesson/app/crud/bulk.py",
    "lesson/app/db/init.py",
    "lesson/app/db/multiple_databases.py",
    "lesson/app/db/session.py",
    "lesson/app/main.py",
]


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(ROOT)


def by_file(findings) -> dict[str, list[tuple[int, str]]]:
    grouped = defaultdict(list)
    for f in findings:
        grouped[Path(f.path).relative_to(CORPUS).as_posix()].append((f.line, f.id))
    return dict(grouped)


def test_corpus_gives_exactly_the_expected_findings():
    result = lint_paths([CORPUS])
    assert by_file(result.findings) == EXPECTED
    corpus_files = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.py")}
    assert corpus_files == set(EXPECTED) | set(CLEAN)
    assert result.files == len(corpus_files)
    assert result.suppressed == 3
    assert result.exit_code == 1


@pytest.mark.parametrize("name", sorted(EXPECTED) + CLEAN)
def test_each_file_alone_gives_the_same_findings(name):
    assert by_file(lint_paths([CORPUS / name]).findings).get(name, []) == EXPECTED.get(name, [])


def test_lesson_analytics_query_whole_finding():
    (finding,) = lint_paths([LESSON / "crud" / "analytics.py"]).findings
    assert finding == CodeFinding(
        path=str(LESSON / "crud" / "analytics.py"), line=12, col=51, id="bind-in-literal", severity="critical",
        message=(
            ":days sits inside the quoted SQL literal ':days days': SQLAlchemy renders it there ('$1 days') but "
            "PostgreSQL never binds a parameter inside quotes. asyncpg raises InterfaceError: the server expects 0 "
            "arguments for this query, 1 was passed; psycopg 3 runs it and PostgreSQL reads the literal '$1 days' "
            "as written, so the window is always 1 day whatever days is"
        ),
        fix=("make_interval(days => :days) or :days * INTERVAL '1 day' (pass an int), or CAST(:days AS interval) "
             "with a timedelta"),
        anchor_lines=(5, 6),
    )


def test_lesson_warmup_names_the_engine_it_warms():
    result = lint_paths([LESSON])
    (warm,) = [f for f in result.findings if f.id == "single-connection-warmup"]
    assert (warm.path, warm.line, warm.col) == (str(LESSON / "db" / "warmup.py"), 7, 16)
    assert warm.message == (
        "warmup_pool() checks out one connection at a time (AsyncSessionFactory()): a pool opens connections "
        "lazily and hands back the one just returned, so this warm-up leaves 1 open connection, not pool_size "
        "(here: engine pool_size=20); measured with pool_size=10: 1 backend"
    )


def test_lesson_engine_inventory():
    result = lint_paths([LESSON / "db"])
    shown = [(Path(e.path).name, e.line, e.name, e.url.show(), e.scope,
              {k: e.setting(k).show() for k in ("pool_size", "max_overflow", "pool_timeout", "pool_recycle",
                                                "pool_pre_ping")})
             for e in result.engines]
    assert shown == [
        ("multiple_databases.py", 3, "primary_engine", "settings.PRIMARY_DB_URL (reference)", "module",
         {"pool_size": "15", "max_overflow": "10 (default)", "pool_timeout": "30.0 (default)",
          "pool_recycle": "-1 (default)", "pool_pre_ping": "False (default)"}),
        ("multiple_databases.py", 4, "replica_engine", "settings.REPLICA_DB_URL (reference)", "module",
         {"pool_size": "10", "max_overflow": "10 (default)", "pool_timeout": "30.0 (default)",
          "pool_recycle": "-1 (default)", "pool_pre_ping": "False (default)"}),
        ("session.py", 4, "engine", "settings.DATABASE_URL (reference)", "module",
         {"pool_size": "20", "max_overflow": "10", "pool_timeout": "30", "pool_recycle": "1800",
          "pool_pre_ping": "True"}),
    ]


def test_lesson_engine_judged_against_limits_like_plan():
    plan = Plan(servers=(Server(max_connections=100),), deployment=Deployment(workers=4, surge=0))
    result = lint_paths([LESSON / "db" / "session.py"], plan=plan)
    assert [(f.line, f.id, f.severity) for f in result.findings] == [
        (4, "overflow-exceeds-budget", "critical"),
        (4, "too-many-connections", "critical"),
    ]
    (budget,) = result.budgets
    assert (budget.usable, budget.steady, budget.peak, budget.rollout_peak, budget.verdict) == (
        97, 80, 120, 120, "unsafe")
    assert "80 <= max_connections 100" in result.findings[0].message
    assert "120 > 97 usable" in result.findings[1].message


def test_values_are_critical_identifiers_are_not():
    """A value put into SQL is critical; an identifier (ORDER BY, FROM) is a warning, an info when constant."""
    result = lint_paths([CORPUS / "rules" / "sql_string_building.py"])
    assert [(f.line, f.severity) for f in result.findings] == [
        (6, "critical"), (10, "critical"), (14, "warning"), (18, "warning"), (23, "critical"), (27, "critical"),
        (43, "info"),
    ]
    assert result.findings[-1].message == (
        "SQL built with an f-string from ORDERS, passed to text(): an identifier or a SQL fragment built in code "
        "(a table, column or schema name, a clause). Safe only if it can never come from input (only constants "
        "today)"
    )
    assert "allow-list" in result.findings[-1].fix and "identifier_preparer.quote" in result.findings[-1].fix


def test_references_are_reported_not_guessed(tmp_path):
    source = tmp_path / "db.py"
    source.write_text(
        "from sqlalchemy.ext.asyncio import create_async_engine\n"
        "POOL = 7\n"
        "engine = create_async_engine(settings.URL, pool_size=settings.POOL_SIZE, max_overflow=2)\n"
        "other = create_async_engine(settings.URL, pool_size=POOL, max_overflow=0, pool_recycle=settings.R)\n"
    )
    plan = Plan(servers=(Server(max_connections=10),), deployment=Deployment(workers=2, surge=0))
    result = lint_paths([source], plan=plan)
    first, second = result.engines
    assert first.setting("pool_size").show() == "settings.POOL_SIZE (reference)"
    assert second.setting("pool_size").show() == "POOL (=7)"
    assert result.notes == (
        f"{source}:3: engine engine not judged: pool_size is settings.POOL_SIZE, a reference lint cannot read",
        f"{source}:4: engine other: pool_recycle is settings.R; judged with SQLAlchemy's default",
    )
    assert [(f.line, f.id) for f in result.findings] == [(4, "too-many-connections")]  # 2 x 7 = 14 > 7 usable


def test_syntax_error_is_reported_and_other_files_still_linted(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    (tmp_path / "nul.py").write_bytes(b"x = 1\x00\n")
    (tmp_path / "ok.py").write_text("from sqlalchemy.ext.asyncio import create_async_engine\n"
                                    "e = create_async_engine('postgresql+asyncpg://u@h/d', max_overflow=-1)\n")
    result = lint_paths([tmp_path])
    assert [(Path(f.path).name, f.line, f.id) for f in result.findings] == [
        ("broken.py", 1, "parse-error"), ("nul.py", 1, "parse-error"), ("ok.py", 2, "unbounded-overflow")]
    assert result.findings[1].message == (
        "cannot parse as Python: source code string cannot contain null bytes (no rule checked this file)")
    assert result.exit_code == 2


def test_sql_literal_spans():
    sql = "a 'x''y' E'p\\'q' $t$ ':z' $t$ -- ':c'\n /* ':d' */ \"i\" 'end"
    assert [sql[s:e] for s, e in literal_spans(sql)] == ["'x''y'", "'p\\'q'", "$t$ ':z' $t$", "'end"]


_SQL_TOKENS = st.sampled_from([":a", ":b1", "::int", "'", " ", "x", "\\:", "$$", "--", "\n", "''", "e'", ":"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_SQL_TOKENS, max_size=14).map("".join))
def test_bind_pattern_matches_sqlalchemys_own(sql):
    """Our bind pattern finds exactly the names the installed SQLAlchemy's text() binds, in order."""
    assert list(dict.fromkeys(m.group(1) for m in BIND.finditer(sql))) == list(text(sql).compile().params)


@settings(max_examples=300, deadline=None)
@given(st.lists(_SQL_TOKENS, max_size=14).map("".join))
def test_every_bind_in_literal_is_a_bind_sqlalchemy_sees_or_a_cast(sql):
    result = lint_source(f"from sqlalchemy import text\nq = text({sql!r})\n")
    names = set(text(sql).compile().params)
    for finding in result.findings:
        assert finding.id == "bind-in-literal"
        name = re.match(r":(\w+)", finding.message).group(1)
        assert name in names or "is not a bind parameter" in finding.message


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_subprocess_json_on_the_lesson():
    proc = subprocess.run(
        [sys.executable, "-m", "planner", "lint", str(CORPUS / "lesson"), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert [(d["path"], d["line"], d["id"]) for d in data] == [
        (str(LESSON / "crud" / "analytics.py"), 12, "bind-in-literal"),
        (str(LESSON / "db" / "warmup.py"), 7, "single-connection-warmup"),
    ]
    assert set(data[0]) == {"path", "line", "col", "id", "severity", "message", "fix"}


def run_cli(capsys, *argv):
    code = main(["lint", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_clean_tree_exits_0(capsys):
    code, out, err = run_cli(capsys, CORPUS / "correct")
    assert (code, out, err) == (0, "no findings in 3 files\n", "")


def test_cli_annotations_format(capsys):
    code, out, _ = run_cli(capsys, CORPUS / "rules" / "unbounded_overflow.py", "--format", "annotations")
    path = CORPUS / "rules" / "unbounded_overflow.py"
    assert code == 1
    assert out.splitlines() == [
        f"{path}:6:81: unbounded-overflow max_overflow=-1: the pool has no ceiling, so under load each process "
        "opens as many connections as it has concurrent requests until PostgreSQL refuses them (too many clients)",
        f"{path}:9:15: unbounded-overflow pool_size=0 means no limit: SQLAlchemy forces max_overflow=-1 and keeps "
        "every connection it ever opened",
        f"{path}:11:84: unbounded-overflow max_overflow=-1: the pool has no ceiling, so under load each process "
        "opens as many connections as it has concurrent requests until PostgreSQL refuses them (too many clients)",
    ]


def test_cli_github_format(capsys):
    code, out, _ = run_cli(capsys, CORPUS / "rules" / "asyncpg_ssl.py", "--format", "github")
    lines = out.splitlines()
    assert code == 1 and len(lines) == 3
    assert lines[0].startswith(
        f"::error file={CORPUS / 'rules' / 'asyncpg_ssl.py'},line=4,col=16,title=asyncpg-ssl::sslmode= in a "
        "postgresql+asyncpg URL")
    assert "s3cret" not in out


def test_cli_text_lists_fix_notes_and_summary(capsys):
    code, out, _ = run_cli(capsys, CORPUS / "rules" / "suppressed.py")
    path = CORPUS / "rules" / "suppressed.py"
    assert code == 1
    assert out.splitlines()[-2:] == [
        f"note: {path}:30: unknown rule id 'sql-string-bulding' in a pool-planner ignore comment",
        "2 findings (2 critical) in 1 file; 3 silenced",
    ]
    assert out.count("    fix: bind values instead") == 2


def test_cli_limits_judge_the_lesson_engine(capsys):
    code, out, _ = run_cli(capsys, LESSON / "db" / "session.py", "--max-connections", "100", "--workers", "4",
                           "--surge", "0", "--json")
    assert code == 1
    assert [(d["line"], d["id"]) for d in json.loads(out)] == [
        (4, "overflow-exceeds-budget"), (4, "too-many-connections")]


def test_inventory_masks_passwords(capsys):
    code, out, _ = run_cli(capsys, CORPUS / "rules" / "asyncpg_ssl.py", "--inventory")
    assert code == 0 and "s3cret" not in out  # an inventory lists engines, it judges nothing
    result = lint_source("from sqlalchemy.ext.asyncio import create_async_engine\n"
                         "e = create_async_engine('postgresql+asyncpg://u:hunter2@h/d?password=x')\n")
    assert result.engines[0].url.show() == "'postgresql+asyncpg://u:***@h/d?password=***'"


def test_cli_inventory_json(capsys):
    code, out, _ = run_cli(capsys, LESSON / "db" / "session.py", "--inventory", "--json")
    (engine,) = json.loads(out)
    assert code == 0
    assert (engine["name"], engine["url"], engine["pool_size"]["value"], engine["pool_recycle"]["value"]) == (
        "engine", "settings.DATABASE_URL (reference)", 20, 1800)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["no/such/dir"], "error: PATH: no such file or directory: no/such/dir"),
        (["EMPTY"], "error: PATH: no Python files under EMPTY"),
        (["tests/lint_corpus/correct", "--pool-size", "5"],
         "error: lint reads pool settings from the code; --pool-size is for plan/check"),
        (["tests/lint_corpus/correct", "--workers", "0"], "error: --workers: must be between 1 and 1024, got 0"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(capsys, argv, message, tmp_path):
    argv = [str(tmp_path) if a == "EMPTY" else a for a in argv]
    (tmp_path / "notes.txt").write_text("not python")
    code, out, err = run_cli(capsys, *argv)
    assert (code, out, err.strip()) == (2, "", message.replace("EMPTY", str(tmp_path)))


# ------------------------------------------------------------------- the messages' claims, on a real server


def _lesson_sql() -> str:
    """The analytics query exactly as the corpus (the lesson) writes it."""
    import ast

    tree = ast.parse((LESSON / "crud" / "analytics.py").read_text())
    (call,) = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "text"]
    return call.args[0].value


_ORDERS = (
    "CREATE TEMP TABLE orders (created_at timestamptz, total_amount numeric, status text)",
    "INSERT INTO orders VALUES (now() - interval '2 days', 10, 'completed'), "
    "(now() - interval '12 hours', 5, 'completed')",
)


@pytest.mark.db
async def test_bind_in_literal_messages_hold_on_a_real_server(pg_url):
    """What the bind-in-literal findings say happens does happen: asyncpg's error text, the cast's syntax
    error, psycopg's silent 1-day window, and the proposed fix returning both orders."""
    import asyncio

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import InterfaceError, ProgrammingError
    from sqlalchemy.ext.asyncio import create_async_engine

    sql = _lesson_sql()
    engine = create_async_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            for statement in _ORDERS:
                await conn.execute(text(statement))
            with pytest.raises(InterfaceError, match="the server expects 0 arguments for this query, 1 was passed"):
                await conn.execute(text(sql), {"days": 3})
            await conn.rollback()
            for statement in _ORDERS:
                await conn.execute(text(statement))
            with pytest.raises(ProgrammingError, match='syntax error at or near ":"'):
                await conn.execute(text("SELECT * FROM orders LIMIT :limit::int"), {"limit": 1})
            await conn.rollback()
            for statement in _ORDERS:
                await conn.execute(text(statement))
            fixed = sql.replace("INTERVAL ':days days'", "make_interval(days => :days)")
            rows = (await conn.execute(text(fixed), {"days": 3})).all()
            assert sum(r.orders for r in rows) == 2
            await conn.rollback()
    finally:
        await engine.dispose()

    def psycopg_orders() -> int:
        sync = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
        try:
            with sync.connect() as conn:
                for statement in _ORDERS:
                    conn.execute(text(statement))
                return sum(r.orders for r in conn.execute(text(sql), {"days": 3}))
        finally:
            sync.dispose()

    assert await asyncio.to_thread(psycopg_orders) == 1  # silently 1 day: only the order from 12 hours ago


def test_our_own_code_passes_our_own_lint(capsys):
    """Dogfood: the planner, the dashboard (its demo workers run real engines) and the benchmarks."""
    code, out, err = run_cli(capsys, "planner", "dashboard", "benchmarks")
    assert (code, err) == (0, ""), out
    assert re.fullmatch(r"no findings in \d+ files(; \d+ silenced)?\n", out)  # silenced: reviewed, commented

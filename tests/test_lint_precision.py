"""The linter on its precision corpus (tests/lint_precision/): every false-positive pattern from real code stays
silent, every labelled true finding is found; and the pieces behind it (newer syntax, size limit, noqa, limits
with other dialects, SQL followed through a function)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import column, literal, select, table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.sql import quoted_name

import planner.lint as lint_module
from benchmarks.lint_precision import CORPUS, expected, reported, score
from planner.cli import main
from planner.lint import lint_paths, lint_source
from planner.lint.newsyntax import downlevel, swap_nested_quotes
from planner.model import Deployment, Plan, Server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_corpus_findings_are_exactly_the_labelled_ones():
    result = score()
    assert (result["false"], result["missed"]) == ([], [])
    assert result["precision"] == 1.0 and result["recall"] == 1.0
    assert result["critical_identifiers"] == []
    kinds = {rule for _, _, rule in expected()}
    assert {"session-without-context", "create-all-without-run-sync", "engine-per-request", "sql-string-building",
            "sql-identifier-building", "bind-in-literal", "too-many-connections"} <= kinds


def test_clean_modules_report_nothing_and_no_file_is_left_unparsed():
    got, findings = reported()
    assert not [key for key in got if key[0].startswith("clean/")]
    assert not [f for f in findings if f.id == "parse-error"]
    clean = sorted(p.relative_to(CORPUS).as_posix() for p in (CORPUS / "clean").rglob("*.py"))
    assert len(clean) >= 10  # one module per false-positive group, at least


@pytest.mark.parametrize("name", sorted(p.name for p in (CORPUS / "clean").glob("*.py")))
def test_each_clean_module_alone_is_silent(name):
    """Alone, without the facts other files give (the factory or engine defined elsewhere)."""
    assert [(f.line, f.id) for f in lint_paths([CORPUS / "clean" / name]).findings] == []


def test_newer_syntax_is_rewritten_and_checked():
    text = (CORPUS / "py312" / "repository.py").read_text()
    rewritten = downlevel(text)
    assert rewritten is not None and rewritten.count("\n") == text.count("\n")
    result = lint_source(text, "repo.py")
    assert [(f.line, f.id, f.col) for f in result.findings] == [(14, "sql-string-building", 48)]


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("type Alias[T] = list[T]\n", ["Alias"]),
        ("def f[T: (int, str)](x: T) -> T:\n    return x\n", ["f"]),
        ("class C[T](Base):\n    pass\n", ["C"]),
        ("try:\n    pass\nexcept ValueError, TypeError:\n    pass\n", []),
        ("x = t'hello {name}'\n", ["x"]),
        ("def g[T = int, *Ts, **P](x: T) -> T:\n    return x\n", ["g"]),  # 3.13 defaults, variadics
        ("type Pair[K, V = str] = dict[K, V]\n", ["Pair"]),
    ],
)
def test_each_newer_construct_parses(source, names):
    tree = ast.parse(downlevel(source))
    defined = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)] + [
        t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
    assert defined == names


def test_a_template_string_is_not_string_building():
    result = lint_source("from sqlalchemy import text\nq = text(t'SELECT * FROM users WHERE id = {uid}')\n")
    assert result.findings == ()


def test_pep701_quote_reuse_is_read_and_checked():
    source = ('from sqlalchemy import text\n'
              'async def f(db, row):\n'
              '    return await db.execute(text(f"SELECT * FROM t WHERE id = {row["id"]}"))\n')
    (finding,) = lint_source(source).findings
    assert (finding.line, finding.col, finding.id, finding.severity) == (3, 34, "sql-string-building", "critical")
    assert "row['id']" in finding.message  # shown as read: the same expression with the other quote


def test_unreadable_newer_syntax_says_so_per_file(tmp_path):
    (tmp_path / "new.py").write_text('x = f"{f"{d["key"]}"}"\n')
    (tmp_path / "ok.py").write_text("x = 1\n")
    result = lint_paths([tmp_path])
    (finding,) = result.findings
    assert (Path(finding.path).name, finding.id) == ("new.py", "parse-error")
    assert "Python 3.12+ f-string" in finding.message and "run lint with Python 3.12+" in finding.message


def test_a_file_above_the_size_limit_is_skipped_with_a_note(tmp_path):
    big = tmp_path / "generated.py"
    big.write_text("x = 1\n" * 200_000)  # 1.2 MB
    (tmp_path / "app.py").write_text("from sqlalchemy import text\nq = text(f'SELECT {x}')\n")
    result = lint_paths([tmp_path], max_file_bytes=1_000_000)
    assert [Path(f.path).name for f in result.findings] == ["app.py"]
    assert result.notes == (f"{big}: skipped, 1.2 MB is above the 1 MB size limit (generated code or data?); "
                            f"no rule checked it (--max-file-mb raises the limit)",)
    assert result.files == 2
    assert lint_paths([tmp_path]).notes == ()  # under the default 2 MB limit


def test_cli_max_file_mb(capsys, tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n" * 1000)
    assert main(["lint", str(tmp_path), "--max-file-mb", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "skipped, 0.0 MB is above the 0.001 MB size limit" in out
    assert main(["lint", str(tmp_path), "--max-file-mb", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --max-file-mb: must be a positive number of megabytes, got 0"


def test_limits_with_an_unknown_dialect_never_crash(capsys, tmp_path):
    (tmp_path / "db.py").write_text(
        "from sqlalchemy import create_engine\n"
        "duck = create_engine('duckdb:///:memory:')\n"
        "odd = create_engine('postgresql+nosuchdriver://u@h/d', pool_size=5, max_overflow=0)\n"
        "lite = create_engine('sqlite://')\n"
    )
    code = main(["lint", str(tmp_path), "--max-connections", "100", "--json"])
    out, err = capsys.readouterr()
    assert (code, err, json.loads(out)) == (0, "", [])
    result = lint_paths([tmp_path], plan=Plan(servers=(Server(max_connections=100),), deployment=Deployment()))
    assert [n.split(": ", 1)[1] for n in result.notes[:2]] == [
        "engine duck not judged: its URL is duckdb, not PostgreSQL (no server budget to count it in)",
        "engine lite not judged: its URL is sqlite, not PostgreSQL (no server budget to count it in)",
    ]


def test_a_sync_engine_with_a_sync_driver_is_not_a_sync_driver_finding(tmp_path):
    (tmp_path / "db.py").write_text("from sqlalchemy import create_engine\n"
                                    "e = create_engine('postgresql+psycopg2://u@h/d', pool_size=5, max_overflow=0)\n")
    result = lint_paths([tmp_path], plan=Plan(servers=(Server(max_connections=100),), deployment=Deployment()))
    assert [f.id for f in result.findings] == []


@pytest.mark.parametrize("path", ["conftest.py", "tests/db.py", "test_db.py", "db_test.py"])
def test_engines_in_test_code_are_not_in_the_budget(tmp_path, path):
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("from sqlalchemy.ext.asyncio import create_async_engine\n"
                      "e = create_async_engine('postgresql+asyncpg://u@h/d', pool_size=500)\n")
    result = lint_paths([tmp_path], plan=Plan(servers=(Server(max_connections=100),), deployment=Deployment()))
    assert result.findings == ()
    assert "created in test code" in result.notes[0]


@pytest.mark.parametrize(
    ("comment", "silenced"),
    [("# noqa: S608", True), ("# noqa: E501, S608", True), ("# nosec", True), ("# nosec B608", True),
     ("# nosec B101", False), ("# noqa: E501", False), ("# pool-planner: ignore[sql-string-building]", True)],
)
def test_other_linters_sql_suppressions_are_honoured(comment, silenced):
    result = lint_source(f"from sqlalchemy import text\nq = text(f'SELECT * FROM {{table}}')  {comment}\n")
    assert (result.findings == ()) is silenced
    assert result.suppressed == (1 if silenced else 0)


@pytest.mark.parametrize(
    ("sql", "rule", "severity"),
    [
        ("f\"SELECT * FROM t WHERE id = {v}\"", "sql-string-building", "critical"),
        ("f\"SELECT * FROM t WHERE name = '{v}'\"", "sql-string-building", "critical"),
        ("f\"SELECT * FROM t WHERE id IN ({v})\"", "sql-string-building", "critical"),
        ("f\"INSERT INTO t (a) VALUES ({v})\"", "sql-string-building", "critical"),
        ("f\"SELECT * FROM t LIMIT {v}\"", "sql-string-building", "critical"),
        ("f\"SELECT * FROM t LIMIT {int(v)}\"", "sql-string-building", "warning"),
        ("f\"SELECT * FROM {v}\"", "sql-identifier-building", "warning"),
        ("f'SELECT * FROM \"{v}\".orders'", "sql-identifier-building", "warning"),
        ("f\"SELECT {v} FROM t\"", "sql-identifier-building", "warning"),
        ("f\"SELECT * FROM t ORDER BY {v}\"", "sql-identifier-building", "warning"),
        ("f\"SELECT * FROM t WHERE id = ANY(:ids) AND {clause}\"", "sql-identifier-building", "warning"),
        ("f\"SELECT * FROM t WHERE id IN ({placeholders})\"", "sql-identifier-building", "warning"),
        ("f\"SELECT * FROM t WHERE x = {quote_ident(v)}\"", "sql-identifier-building", "warning"),
        ("f\"SET search_path TO {v}\"", "sql-identifier-building", "warning"),
        ("f\"SET LOCAL app.user = '{v}'\"", "sql-string-building", "critical"),
        ("f\"SELECT * FROM t LIMIT {n}\"", "sql-string-building", "warning"),
        ("f\"SELECT * FROM t WHERE id = '{u}'\"", "sql-string-building", "warning"),
        ("f\"SELECT nextval('{v}_seq')\"", "sql-identifier-building", "warning"),
        ("f\"SELECT '{v}'::regclass\"", "sql-identifier-building", "warning"),
        ("f\"SELECT * FROM t WHERE note = '{v}'\"", "sql-string-building", "critical"),
    ],
)
def test_values_and_identifiers_are_told_apart(sql, rule, severity):
    result = lint_source(f"from sqlalchemy import text\nasync def f(db, v, clause, placeholders, n: int, u: UUID):\n"
                         f"    await db.execute(text({sql}))\n")
    assert [(f.id, f.severity) for f in result.findings] == [(rule, severity)]


def test_execute_of_text_that_is_not_sql_is_not_reported():
    result = lint_source("async def f(runner, shell, path):\n"
                         "    await runner.execute(f'ls -l {path}')\n"
                         "    await shell.execute(f'DELETE FROM t WHERE id = {path}')\n")
    assert [(f.line, f.id) for f in result.findings] == [(3, "sql-string-building")]


def test_set_and_notify_get_a_fix_that_works():
    result = lint_source("from sqlalchemy import text\nasync def f(db, v):\n"
                         "    await db.execute(text(f\"SET LOCAL app.user = '{v}'\"))\n"
                         "    await db.execute(text(f\"NOTIFY jobs, '{v}'\"))\n")
    first, second = result.findings
    assert "set_config('name', :value, true)" in first.fix
    assert "pg_notify(:channel, :payload)" in second.fix


def test_sql_followed_through_branches_augassign_and_replace():
    result = lint_source(
        "from sqlalchemy import text\n"
        "async def f(db, days, q):\n"
        "    sql = 'SELECT 1 FROM t WHERE true'\n"
        "    if q:\n"
        "        sql += ' AND name = :q'\n"
        "    else:\n"
        "        sql += \" AND at > now() - INTERVAL ':days days'\"\n"
        "    return await db.execute(text(sql), {'q': q, 'days': days})\n"
        "async def g(db, days):\n"
        "    sql = \"SELECT 1 FROM t WHERE at > now() - INTERVAL ':days days'\".replace(':days', str(days))\n"
        "    return await db.execute(text(sql))\n"
        "async def h(db, rows):\n"
        "    stmt = select(rows)\n"
        "    stmt = stmt.where(rows.c.id == 1)\n"
        "    return await db.execute(stmt)\n"
    )
    assert [(f.line, f.id, f.severity) for f in result.findings] == [
        (7, "bind-in-literal", "critical"), (11, "sql-string-building", "critical")]
    assert "(built at line 10)" in result.findings[1].message


def test_engine_per_request_knows_run_once_functions_from_their_callers():
    result = lint_source(
        "from sqlalchemy.ext.asyncio import create_async_engine\n"
        "def helper():\n"
        "    e = create_async_engine('postgresql+asyncpg://u@h/d')\n"
        "def setup():\n"
        "    helper()\n"
        "setup()\n"
        "def unknown():\n"
        "    e = create_async_engine('postgresql+asyncpg://u@h/d')\n"
    )
    assert [(f.line, f.id, f.severity) for f in result.findings] == [(8, "engine-per-request", "warning")]


def test_a_session_subclass_is_still_a_session():
    result = lint_source(
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "class Tracked(AsyncSession):\n"
        "    pass\n"
        "async def f(engine):\n"
        "    s = Tracked(engine)\n"
        "    await s.close()\n"
    )
    assert [(f.line, f.id) for f in result.findings] == [(5, "session-without-context")]


@pytest.mark.db
async def test_binds_in_set_and_notify_fail_as_the_finding_says(pg_url):
    """The no-parameter claim on a real server, with both drivers the message names, and the fix working."""
    source = (CORPUS / "found" / "no_bind_statements.py").read_text()
    findings = [f for f in lint_source(source).findings if f.id == "bind-in-literal"]
    assert [f.message.split(":", 2)[1] for f in findings] == ["uid in a SET statement", "payload in a NOTIFY statement"]
    assert all('syntax error at or near "$1"' in f.message for f in findings)
    for driver in ("asyncpg", "psycopg"):
        engine = create_async_engine(make_url(pg_url).set(drivername=f"postgresql+{driver}"))
        try:
            for sql in ("SET LOCAL app.user_id = :v", "NOTIFY jobs, :v"):
                with pytest.raises(ProgrammingError, match='syntax error at or near "\\$1"'):
                    async with engine.begin() as conn:
                        await conn.execute(text(sql), {"v": "42"})
            async with engine.begin() as conn:
                await conn.execute(text("SELECT set_config('app.user_id', :v, true)"), {"v": "42"})
                assert (await conn.execute(text("SELECT current_setting('app.user_id')"))).scalar() == "42"
                await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": "jobs", "p": "42"})
        finally:
            await engine.dispose()


def test_an_unreadable_url_is_a_note_and_the_pools_are_still_judged(tmp_path):
    (tmp_path / "db.py").write_text(
        "from sqlalchemy.ext.asyncio import create_async_engine\n"
        "heroku = create_async_engine('postgres://u@h/d', pool_size=40, max_overflow=0)\n"
        "port = create_async_engine('postgresql+asyncpg://u@h:abc/d', pool_size=40, max_overflow=0)\n"
    )
    plan = Plan(servers=(Server(max_connections=100),), deployment=Deployment(workers=2, surge=0))
    result = lint_paths([tmp_path], plan=plan)
    assert [(f.line, f.id) for f in result.findings] == [(2, "too-many-connections")]  # 2 x 80 > 97
    assert [n.split(": ", 1)[1] for n in result.notes[:2]] == [
        "engine heroku: its URL is not checked: SQLAlchemy has no dialect for it (Can't load plugin: "
        "sqlalchemy.dialects:postgres)",
        "engine port: its URL is not checked: url: the port must be a number: postgresql+asyncpg://u@h:abc/d",
    ]


def test_sql_followed_through_self_assignments():
    result = lint_source(
        "from sqlalchemy import text\n"
        "async def a(db, v):\n"
        "    q = 'SELECT * FROM t WHERE true'\n"
        "    q = q + f\" AND x = '{v}'\"\n"
        "    return await db.execute(text(q))\n"
        "async def b(db, t):\n"
        "    q = 'SELECT * FROM {table}'\n"
        "    q = q.format(table=t)\n"
        "    return await db.execute(text(q))\n"
        "async def c(db):\n"
        "    q = 'SELECT * FROM t WHERE true'\n"
        "    q = f'({q}) UNION ALL (SELECT 1)'\n"
        "    return await db.execute(text(q))\n"
    )
    assert [(f.line, f.id, f.severity) for f in result.findings] == [
        (5, "sql-string-building", "critical"), (9, "sql-identifier-building", "warning")]


def test_the_identifier_fix_quotes_what_it_says():
    """The quoting the identifier finding proposes does quote: SQLAlchemy's preparer and quoted_name."""
    result = lint_source("from sqlalchemy import text\n"
                         "async def f(db, t):\n    await db.execute(text(f'SELECT 1 FROM {t}'))\n")
    assert "identifier_preparer.quote(name)" in result.findings[0].fix and "quoted_name(name" in result.findings[0].fix
    dialect = postgresql.dialect()
    assert dialect.identifier_preparer.quote('orders"; DROP TABLE x; --') == '"orders""; DROP TABLE x; --"'
    stmt = select(column("id")).select_from(table(quoted_name("Orders x", True)))
    assert str(stmt.compile(dialect=dialect)) == 'SELECT id \nFROM "Orders x"'


def test_a_linter_bug_on_one_file_exits_3_and_is_not_a_finding(capsys, tmp_path, monkeypatch):
    def broken(src):
        if src.path.endswith("bad.py"):
            raise KeyError("boom")
        return []

    monkeypatch.setattr(lint_module, "url_findings", broken)
    (tmp_path / "bad.py").write_text("x = 1\n")
    (tmp_path / "good.py").write_text("from sqlalchemy import text\nq = text(f'SELECT * FROM t WHERE id = {x}')\n")
    result = lint_paths([tmp_path])
    assert [Path(f.path).name for f in result.findings] == ["good.py"]
    assert result.internal_errors == (
        f"{tmp_path / 'bad.py'}: the linter failed on this file, no rule checked it (KeyError: 'boom'); "
        "please report it",)
    assert result.exit_code == 3
    assert main(["lint", str(tmp_path), "--json"]) == 3
    out, err = capsys.readouterr()
    assert [Path(d["path"]).name for d in json.loads(out)] == ["good.py"]
    assert err.startswith("internal error: ") and err.count("\n") == 1


def test_large_tree_mode_gives_the_same_findings(monkeypatch):
    """A tree over 4 MB is parsed again per pass and its facts pass skips files without fact words; on the
    corpus that must change nothing."""
    before = reported()[0]
    monkeypatch.setattr(lint_module, "KEEP_TREES_CHARS", 0)
    monkeypatch.setattr(lint_module, "CARRY_TREES_CHARS", 0)
    assert reported()[0] == before


def test_ddl_values_get_a_literal_rendering_fix_that_quotes():
    result = lint_source("from alembic import op\ndef upgrade(v):\n"
                         "    op.execute(f\"ALTER TYPE order_status ADD VALUE '{v}'\")\n")
    (finding,) = result.findings
    assert (finding.id, finding.severity) == ("sql-string-building", "critical")
    assert finding.fix.startswith("ALTER takes no bind parameters") and "literal_binds" in finding.fix
    rendered = str(literal("it's'; DROP TABLE x; --").compile(dialect=postgresql.dialect(),
                                                              compile_kwargs={"literal_binds": True}))
    assert rendered == "'it''s''; DROP TABLE x; --'"


def test_values_fixed_in_the_code_are_not_critical():
    result = lint_source(
        "from alembic import op\n"
        "NEW = ('archived', 'deleted')\n"
        "class Status:\n    ACTIVE = 'active'\n"
        "def upgrade(user):\n"
        "    for value in NEW:\n"
        "        op.execute(f\"ALTER TYPE s ADD VALUE '{value}'\")\n"
        "    op.execute(f\"UPDATE t SET s = '{Status.ACTIVE}'\")\n"
        "    op.execute(f\"UPDATE t SET s = '{settings.DEFAULT_STATUS}'\")\n"
        "    op.execute(f\"UPDATE t SET s = '{user.status}'\")\n"
    )
    assert [(f.line, f.severity) for f in result.findings] == [
        (7, "warning"), (8, "warning"), (9, "warning"), (10, "critical")]


def test_values_in_test_code_are_a_warning():
    source = ("from sqlalchemy import text\n"
              "def test_x(db, v):\n    db.execute(text(f'SELECT * FROM t WHERE id = {v}'))\n")
    assert [f.severity for f in lint_source(source, "tests/test_a.py").findings] == ["warning"]
    assert [f.severity for f in lint_source(source.replace("test_x", "handler"), "app/a.py").findings] == [
        "critical"]


def test_rewrites_leave_code_that_already_parses_alone():
    """On real 3.11 code (SQLAlchemy's sql package, this repository's planner) neither rewrite changes a byte:
    they only exist for syntax 3.11 rejects."""
    files = [*Path(sqlalchemy.__file__).parent.joinpath("sql").rglob("*.py"), *(ROOT / "planner").rglob("*.py")]
    assert len(files) > 50
    for path in files:
        source = path.read_text()
        ast.parse(source)
        assert (downlevel(source), swap_nested_quotes(source)) == (None, None), path

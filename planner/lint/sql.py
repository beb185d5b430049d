"""SQL written in Python strings: ``bind-in-literal``, ``sql-string-building`` (a value put into SQL text) and
``sql-identifier-building`` (an identifier or a code-built fragment put into SQL text: it cannot be bound).

Binds are found with SQLAlchemy's own ``text()`` pattern (``TextClause._bind_params_regex``,
``(?<![:\\w\\x5c]):(\\w+)(?![:\\w])``): a bind SQLAlchemy sees inside a quoted SQL literal is rendered there
(``'$1 days'``) but PostgreSQL never binds it; a ``:name::type`` cast is not a bind at all; ``\\:`` is a
literal colon and fine. What each driver then does was verified (docs/facts.md, D).
"""

from __future__ import annotations

import ast
import re

from planner import ids
from planner.lint.engines import in_test_code
from planner.lint.findings import CodeFinding
from planner.lint.source import SourceFile, call_name, first_arg, resolve_name
from planner.lint.sqlflow import (
    Built,
    Part,
    allow_listed,
    bind_placeholders,
    follow,
    looks_like_sql,
    loop_over_literals,
    roles,
)

BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?![:\w])", re.UNICODE)
"""sqlalchemy/sql/elements.py, TextClause._bind_params_regex (2.1)."""
CAST_NOT_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)::(\w+)", re.UNICODE)

SQL_CALLS = frozenset({"text", "execute", "exec_driver_sql", "scalar", "scalars", "stream", "stream_scalars"})

_INTERVAL_UNITS = {
    "year": "years", "month": "months", "mon": "months", "week": "weeks", "day": "days", "hour": "hours",
    "minute": "mins", "min": "mins", "second": "secs", "sec": "secs",
}


def literal_spans(sql: str, comments: list | None = None) -> list[tuple[int, int]]:
    """(start, end) of each quoted SQL literal: '...', E'...', $tag$...$tag$. Comment spans go to
    ``comments`` when a list is given."""
    spans, i, n = [], 0, len(sql)
    comments = [] if comments is None else comments
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            comments.append((i, n if end < 0 else end))
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            comments.append((i, n if end < 0 else end + 2))
            i = n if end < 0 else end + 2
        elif ch == "'":
            backslash = i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            j = i + 1
            while j < n:
                if backslash and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            spans.append((i, min(j + 1, n)))
            i = j + 1
        elif ch == '"':
            end = sql.find('"', i + 1)
            i = n if end < 0 else end + 1
        elif ch == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            match = re.match(r"\$([A-Za-z_]\w*)?\$", sql[i:])
            if not match:
                i += 1
                continue
            tag = match.group(0)
            end = sql.find(tag, i + len(tag))
            stop = n if end < 0 else end + len(tag)
            spans.append((i, stop))
            i = stop
        else:
            i += 1
    return spans


def _in_span(pos: int, spans: list[tuple[int, int]]) -> tuple[int, int] | None:
    return next((s for s in spans if s[0] < pos < s[1]), None)


def _position(node: ast.Constant, src: SourceFile, offset: int) -> tuple[int, int]:
    """Line and 1-based column of ``offset`` inside a string constant, exact for plain literals."""
    value = node.value
    segment = ast.get_source_segment(src.text, node) or ""
    lines_in_source = segment.count("\n")
    if lines_in_source != value.count("\n") or "\\" in segment:
        return node.lineno, node.col_offset + 1
    before = value[:offset]
    line = node.lineno + before.count("\n")
    if "\n" in before:
        return line, offset - before.rfind("\n")
    prefix = re.match(r"[rRbBuU]*('''|\"\"\"|'|\")", segment)
    return line, node.col_offset + (len(prefix.group(0)) if prefix else 1) + offset + 1


def _interval_fix(literal_text: str, name: str) -> str | None:
    match = re.search(r":" + re.escape(name) + r"\s+([A-Za-z]+)", literal_text)
    unit = match.group(1).lower().rstrip("s") if match else None
    if unit not in _INTERVAL_UNITS:
        return None
    return (
        f"make_interval({_INTERVAL_UNITS[unit]} => :{name}) or :{name} * INTERVAL '1 {unit}' "
        f"(pass an int), or CAST(:{name} AS interval) with a timedelta"
    )


def bind_findings(src: SourceFile, node: ast.Constant, anchors: tuple[int, ...]) -> list[CodeFinding]:
    """bind-in-literal findings for one SQL string given to ``text()``."""
    return text_bind_findings(src, node.value, lambda offset: _position(node, src, offset), anchors)


def text_bind_findings(src: SourceFile, sql: str, locate, anchors: tuple[int, ...]) -> list[CodeFinding]:
    """bind-in-literal findings for SQL text (``locate(offset)`` gives the line and column of an offset)."""
    found, comments = [], []
    spans = literal_spans(sql, comments)
    binds = [(m.start(), m.group(1)) for m in BIND.finditer(sql)]
    outside = {name for pos, name in binds if not _in_span(pos, spans)}
    inside = [(pos, name, _in_span(pos, spans)) for pos, name in binds if _in_span(pos, spans)]
    for pos, name, span in inside:
        quoted = sql[span[0]:span[1]]
        shown = quoted if len(quoted) <= 40 else quoted[:37] + "..."
        is_interval = re.search(r"interval\s*$", sql[: span[0]], re.IGNORECASE) is not None
        fix = (_interval_fix(quoted, name) if is_interval else None) or (
            f"move :{name} out of the quotes, e.g. '%' || :{name} || '%' for a pattern, or CAST(:{name} AS type)"
        )
        rendered = shown.replace(f":{name}", "$1", 1)
        if name in outside:
            drivers = (
                f":{name} is also bound outside the literal, so both asyncpg and psycopg run it with the literal "
                f"text {rendered}: the value is silently ignored there"
            )
        else:
            expected, passed = len(outside), len(outside | {n for _, n, _ in inside})
            drivers = (
                f"asyncpg raises InterfaceError: the server expects {expected} arguments for this query, {passed} "
                f"{'was' if passed == 1 else 'were'} passed; psycopg 3 runs it and PostgreSQL reads the literal "
                f"{rendered} as written"
                + (f", so the window is always 1 {_unit(quoted, name)} whatever {name} is" if is_interval else "")
            )
        line, col = locate(pos)
        found.append(CodeFinding(
            src.path, line, col, ids.BIND_IN_LITERAL, "critical",
            f":{name} sits inside the quoted SQL literal {shown}: SQLAlchemy renders it there ({rendered}) but "
            f"PostgreSQL never binds a parameter inside quotes. {drivers}",
            fix, anchors,
        ))
    found += _no_parameter_statement(src, sql, binds, spans, comments, locate, anchors)
    return found + _cast_findings(src, sql, spans, comments, locate, anchors)


def _cast_findings(src, sql, spans, comments, locate, anchors) -> list[CodeFinding]:
    """``:name::type`` outside literals and comments: not a bind at all."""
    found = []
    for match in CAST_NOT_BIND.finditer(sql):
        if _in_span(match.start(), spans) or _in_span(match.start(), comments):
            continue
        name, type_ = match.group(1), match.group(2)
        line, col = locate(match.start())
        found.append(CodeFinding(
            src.path, line, col, ids.BIND_IN_LITERAL, "critical",
            f":{name}::{type_} is not a bind parameter: text() skips a name followed by ':', so the value is "
            f"never sent and PostgreSQL receives ':{name}::{type_}' (syntax error at or near \":\")",
            f"write CAST(:{name} AS {type_})", anchors,
        ))
    return found


_NO_PARAMETERS = re.compile(r"\s*(SET|NOTIFY)\b", re.IGNORECASE)


def _no_parameter_statement(src, sql, binds, spans, comments, locate, anchors) -> list[CodeFinding]:
    """A bind in SET or NOTIFY, which take no parameters: checked on PostgreSQL 15 with asyncpg and psycopg 3,
    both answer ``syntax error at or near "$1"``."""
    match = _NO_PARAMETERS.match(sql)
    outside = [(pos, name) for pos, name in binds if not _in_span(pos, spans) and not _in_span(pos, comments)]
    if not match or not outside:
        return []
    pos, name = outside[0]
    verb = match.group(1).upper()
    line, col = locate(pos)
    return [CodeFinding(
        src.path, line, col, ids.BIND_IN_LITERAL, "critical",
        f":{name} in a {verb} statement: {verb} takes no bind parameters, so asyncpg and psycopg 3 send it as $1 "
        f"and PostgreSQL answers syntax error at or near \"$1\"",
        _value_fix(sql).replace(" takes no bind parameters:", " takes no bind parameters; bind it through a "
                                                              "function:", 1),
        anchors,
    )]


def _unit(literal_text: str, name: str) -> str:
    match = re.search(r":" + re.escape(name) + r"\s+([A-Za-z]+)", literal_text)
    return match.group(1).lower().rstrip("s") if match else "unit"


def _constant(src: SourceFile, node: ast.expr) -> bool:
    """Fixed in the code: a literal, a name bound once to a literal (``TABLE = "orders"``), the variable of a
    loop over literals (``for status in ("new", "done")``, also through a name bound once to such a tuple),
    or a constant-style attribute (``Status.ACTIVE.value``, ``settings.DB_SCHEMA``)."""
    value, _ = resolve_name(src, node)
    if isinstance(value, ast.Constant):
        return True
    if isinstance(node, ast.Name) and loop_over_literals(src, node):
        return True
    return isinstance(node, ast.Attribute) and _constant_attribute(node)


def _constant_attribute(node: ast.Attribute) -> bool:
    chain, base = [], node
    while isinstance(base, ast.Attribute):
        chain.append(base.attr)
        base = base.value
    if not isinstance(base, ast.Name):
        return False
    names = [base.id, *reversed(chain)]
    meaningful = [n for n in names if n not in ("value", "name")]
    return bool(meaningful) and (meaningful[-1].isupper() or (base.id[:1].isupper() and len(names) > 1))


def _shown(parts: list[Part]) -> str:
    shown = ", ".join(dict.fromkeys(ast.unparse(p.expr) for p in parts))
    return shown if len(shown) <= 60 else shown[:57] + "..."


UTILITY_STATEMENTS = frozenset({
    "CREATE", "ALTER", "DROP", "GRANT", "REVOKE", "COMMENT", "TRUNCATE", "VACUUM", "ANALYZE", "REFRESH",
    "REINDEX", "CLUSTER", "DO", "LISTEN", "UNLISTEN", "SECURITY", "REASSIGN",
})
"""Statements PostgreSQL runs without bind parameters (DDL and other utility commands)."""
_SET_STATEMENT = re.compile(r"\s*SET\b", re.IGNORECASE)


def _value_fix(statement: str) -> str:
    """A fix that can work for this statement: SET and NOTIFY take no bind parameters."""
    first = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    if first == "SET":
        return ("SET takes no bind parameters: run text(\"SELECT set_config('name', :value, true)\") with "
                "{\"value\": value} instead (true = this transaction only, like SET LOCAL; false = the session)")
    if first == "NOTIFY":
        return ("NOTIFY takes no bind parameters: run text(\"SELECT pg_notify(:channel, :payload)\") with "
                "{\"channel\": channel, \"payload\": payload} instead")
    if first in UTILITY_STATEMENTS:
        return (f"{first} takes no bind parameters: check the value against a fixed allow-list, or render it "
                f"as a quoted literal: str(literal(value).compile(dialect=conn.dialect, "
                f"compile_kwargs={{\"literal_binds\": True}})) (from sqlalchemy import literal)")
    return "bind values instead: text(\"... WHERE id = :id\") with {\"id\": value}"


IDENTIFIER_FIX = (
    "identifiers cannot be bound: check the name against a fixed allow-list (if table not in ALLOWED: raise "
    "ValueError), or quote it as an identifier: conn.dialect.identifier_preparer.quote(name) in SQLAlchemy, "
    "psycopg.sql.Identifier(name) with psycopg 3, or build the statement with sqlalchemy.table(quoted_name(name, "
    "True)) and column(); "
    "then mark the line # pool-planner: ignore[sql-identifier-building] (# noqa: S608 is honoured too)"
)


def _building_findings(src, arg, name, built: Built, anchors) -> list[CodeFinding]:
    found = []
    statement = built.joined
    parts = roles(built, src)
    values = [p for p, r in parts if r == "value"]
    safe = [p for p, r in parts if r == "safe-value"]
    identifiers = [p for p, r in parts if r in ("identifier", "quoted-identifier")
                   and not allow_listed(src, p.expr, arg.lineno) and not bind_placeholders(src, p.expr)]
    quoted = any(r == "quoted-identifier" for _, r in parts)
    lines = [ln for ln in built.lines if ln != arg.lineno]
    where = f" (built at line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))})" if lines else ""
    hows = ", ".join(dict.fromkeys(p.how for p, _ in parts))
    line, col = arg.lineno, arg.col_offset + 1
    if values or safe:
        dynamic = [p for p in values if not _constant(src, p.expr)]
        risk = (
            "any value that reaches it can change the statement (SQL injection)" if dynamic
            else "only constants or numbers are interpolated today, but nothing stops the next edit from adding "
                 "a value"
        )
        if dynamic and in_test_code(src, src.enclosing_function(arg)):
            dynamic, risk = [], "test code: its values come from the test, but the habit travels to production code"
        also = f" (and {_shown(identifiers)} where an identifier goes)" if identifiers else ""
        found.append(CodeFinding(
            src.path, line, col, ids.SQL_STRING_BUILDING, "critical" if dynamic else "warning",
            f"SQL built with {hows} puts {_shown(values + safe)} where a value goes{also}{where} and passes it "
            f"to {name}(): {risk}",
            _value_fix(statement), anchors,
        ))
    elif identifiers:
        constants = all(_constant(src, p.expr) for p in identifiers)
        fix = IDENTIFIER_FIX if not _SET_STATEMENT.match(statement) else (
            _value_fix(statement) + "; or check the name against a fixed allow-list")
        if quoted:
            fix = ("inside quotes the name is a string to PostgreSQL, so bind it: nextval(:seq), "
                   "CAST(:name AS regclass), schemaname = :schema with {\"seq\": ...}; " + fix)
        found.append(CodeFinding(
            src.path, line, col, ids.SQL_IDENTIFIER_BUILDING, "info" if constants else "warning",
            f"SQL built with {hows} from {_shown(identifiers)}{where}, passed to {name}(): an identifier or a "
            f"SQL fragment built in code (a table, column or schema name, a clause). Safe only if it can never "
            f"come from input" + (" (only constants today)" if constants else ""),
            fix, anchors,
        ))
    return found


def _locator(src: SourceFile, built: Built, arg: ast.expr):
    def locate(offset: int) -> tuple[int, int]:
        hit = built.literal_at(offset)
        if hit is None or hit[0].node is None:
            return arg.lineno, arg.col_offset + 1
        part, inner = hit
        node = part.node
        if isinstance(node, ast.Constant) and node.value == part.text:
            return _position(node, src, inner)
        return node.lineno, node.col_offset + 1
    return locate


def sql_findings(src: SourceFile) -> list[CodeFinding]:
    """sql-string-building / sql-identifier-building for every SQL-taking call in ``src``, and bind-in-literal
    for ``text()`` SQL, with the SQL text followed through the function that builds it."""
    found = []
    for call in src.calls:
        name = call_name(call)
        if name not in SQL_CALLS:
            continue
        is_text = name == "text" and src.from_sqlalchemy(call.func)
        if name == "text" and not is_text:
            continue
        arg = first_arg(call, "text" if is_text else "statement")
        if arg is None:
            continue
        built = follow(src, arg, call.lineno, into_text=is_text)
        if built is None:
            continue
        anchors = tuple(sorted({arg.lineno, call.lineno, src.statement(call).lineno, *built.lines}))
        if built.exprs and (is_text or looks_like_sql(built)):
            found += _building_findings(src, arg, name, built, anchors)
        if is_text:
            found += text_bind_findings(src, built.joined, _locator(src, built, arg), anchors)
    return found

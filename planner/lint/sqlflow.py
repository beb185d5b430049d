"""SQL text as the code builds it: literal pieces and the expressions put between them, followed through one
function (``query += ...``, if/else branches, ``.replace(...)``, ``.format(...)``, ``%``, ``+``, f-strings), and
what each expression stands for in the statement: a value, or an identifier / code-built fragment.

A value (after ``=``, inside quotes, in ``VALUES (...)``/``IN (...)``, after ``LIMIT``...) can and should be a
bind parameter; an identifier (after ``FROM``/``JOIN``/``INTO``, inside double quotes, a column list) or a
fragment built in code (``where_clause``, ``", ".join(columns)``) cannot be bound at all.
"""

from __future__ import annotations

import ast
import re
import string
from dataclasses import dataclass, field

from planner.lint.source import FunctionNode, SourceFile, call_name, last_name, own_nodes, resolve_name

PLACEHOLDER = "0"
"""What an interpolated expression counts as when the text around it is lexed (no quote, no colon)."""


@dataclass(frozen=True, slots=True)
class Part:
    """A literal piece of SQL (``text`` set) or an expression put into the SQL (``expr`` set)."""

    text: str | None = None
    node: ast.AST | None = None
    """Where the literal is written (the Constant, or the f-string holding it)."""
    expr: ast.expr | None = None
    how: str = ""
    """How the expression got in: "an f-string", "+ concatenation", "+=", ".format()", "% formatting",
    ".replace()", "str.join()"."""


@dataclass
class Built:
    """SQL text as built up to a call: its parts and the lines that built it."""

    parts: list[Part] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    @property
    def exprs(self) -> list[tuple[int, Part]]:
        """Interpolated expressions with their offset in ``joined``."""
        out, offset = [], 0
        for part in self.parts:
            if part.text is None:
                out.append((offset, part))
                offset += len(PLACEHOLDER)
            else:
                offset += len(part.text)
        return out

    @property
    def joined(self) -> str:
        return "".join(PLACEHOLDER if p.text is None else p.text for p in self.parts)

    def literal_at(self, offset: int) -> tuple[Part, int] | None:
        """The literal part holding ``offset`` of ``joined`` and the offset inside it."""
        start = 0
        for part in self.parts:
            size = len(PLACEHOLDER) if part.text is None else len(part.text)
            if start <= offset < start + size:
                return (part, offset - start) if part.text is not None else None
            start += size
        return None


_PERCENT = re.compile(r"%(\((?P<key>[^)]*)\))?[-#0 +]*(\*|\d+)?(\.(\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])")


def _is_str(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _plus_leaves(node: ast.expr) -> list[ast.expr]:
    """Operands of an ``a + b + c`` chain, left to right (iterative: long chains nest deeply)."""
    leaves, stack = [], [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.BinOp) and isinstance(current.op, ast.Add):
            stack += [current.right, current.left]
        else:
            leaves.append(current)
    return leaves


def template(src: SourceFile, node: ast.expr, depth: int = 0) -> list[Part] | None:
    """The parts of a string expression, or None when ``node`` is not recognisably a string built here."""
    if depth > 8:
        return None
    if isinstance(node, ast.Constant):
        return [Part(text=node.value, node=node)] if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return [
            Part(text=v.value, node=node) if isinstance(v, ast.Constant)
            else Part(expr=v.value, how="an f-string")
            for v in node.values if not isinstance(v, ast.Constant) or isinstance(v.value, str)
        ]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _concatenation(src, node, depth)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) \
            and isinstance(node.left.value, str):
        return _percent(node)
    if isinstance(node, ast.IfExp):
        body, orelse = template(src, node.body, depth + 1), template(src, node.orelse, depth + 1)
        if body is None and orelse is None:
            return None
        return (body or [Part(expr=node.body, how="a conditional")]) + [Part(text=" ", node=node)] + (
            orelse or [Part(expr=node.orelse, how="a conditional")])
    if isinstance(node, ast.Call):
        return _call_template(src, node, depth)
    return None


def _concatenation(src: SourceFile, node: ast.BinOp, depth: int) -> list[Part] | None:
    leaves = _plus_leaves(node)
    if not any(_is_str(leaf) for leaf in leaves):
        return None
    parts: list[Part] = []
    for leaf in leaves:
        inner = template(src, leaf, depth + 1) if _is_str(leaf) else None
        parts += inner if inner is not None else [Part(expr=leaf, how="+ concatenation")]
    return parts


def _percent(node: ast.BinOp) -> list[Part]:
    fmt = node.left.value
    right = node.right
    values = list(right.elts) if isinstance(right, ast.Tuple) else None
    named = {}
    if isinstance(right, ast.Dict):
        named = {k.value: v for k, v in zip(right.keys, right.values, strict=True)
                 if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    parts, last, index = [], 0, 0
    for match in _PERCENT.finditer(fmt):
        parts.append(Part(text=fmt[last:match.start()], node=node.left))
        last = match.end()
        if match.group("conv") == "%":
            parts.append(Part(text="%", node=node.left))
            continue
        key = match.group("key")
        if key is not None:
            expr = named.get(key, right)
        elif values is not None:
            expr = values[index] if index < len(values) else right
        else:
            expr = right
        index += 1
        parts.append(Part(expr=expr, how="% formatting"))
    parts.append(Part(text=fmt[last:], node=node.left))
    return parts


def _call_template(src: SourceFile, node: ast.Call, depth: int) -> list[Part] | None:
    func = node.func
    name = call_name(node)
    if name == "text" and node.args and src.from_sqlalchemy(func):
        return template(src, node.args[0], depth + 1)
    if not isinstance(func, ast.Attribute):
        return None
    if name == "join" and _is_str(func.value):
        return [Part(expr=node, how="str.join()")]
    if name == "format":
        base = _resolved_constant(src, func.value)
        return _format(base, node) if base is not None else None
    if name == "replace" and len(node.args) >= 2:
        base = template(src, func.value, depth + 1)
        if base is None and isinstance(func.value, ast.Name):
            base = _resolved_template(src, func.value, depth)
        return replace_parts(base, node) if base is not None else None
    if name in ("strip", "lstrip", "rstrip", "upper", "lower") and not node.args:
        return template(src, func.value, depth + 1)
    return None


def _resolved_constant(src: SourceFile, node: ast.expr) -> ast.Constant | None:
    value, _ = resolve_name(src, node)
    return value if isinstance(value, ast.Constant) and isinstance(value.value, str) else None


def _resolved_template(src: SourceFile, node: ast.Name, depth: int) -> list[Part] | None:
    value, line = resolve_name(src, node)
    return template(src, value, depth + 1) if line is not None else None


def _format(base: ast.Constant, call: ast.Call) -> list[Part] | None:
    try:
        fields = list(string.Formatter().parse(base.value))
    except ValueError:
        return None
    kwargs = {k.arg: k.value for k in call.keywords if k.arg}
    parts, auto = [], 0
    for literal_text, field_name, _spec, _conv in fields:
        if literal_text:
            parts.append(Part(text=literal_text, node=base))
        if field_name is None:
            continue
        key = re.split(r"[.\[]", field_name, maxsplit=1)[0]
        if key == "":
            expr = call.args[auto] if auto < len(call.args) else call
            auto += 1
        elif key.isdigit():
            expr = call.args[int(key)] if int(key) < len(call.args) else call
        else:
            expr = kwargs.get(key, call)
        parts.append(Part(expr=expr, how=".format()"))
    return parts


def replace_parts(parts: list[Part], call: ast.Call) -> list[Part]:
    """``parts`` after ``.replace(old, new)``: a constant ``new`` edits the text, an expression is put where
    ``old`` was (``.replace(":days", str(days))`` puts a value inside the quotes of ``':days days'``)."""
    old, new = call.args[0], call.args[1]
    if not (isinstance(old, ast.Constant) and isinstance(old.value, str) and old.value):
        return [*parts, Part(expr=new, how=".replace()")]
    constant = isinstance(new, ast.Constant) and isinstance(new.value, str)
    out: list[Part] = []
    for part in parts:
        if part.text is None or old.value not in part.text:
            out.append(part)
            continue
        pieces = part.text.split(old.value)
        for i, piece in enumerate(pieces):
            if i:
                out.append(Part(text=new.value, node=part.node) if constant else Part(expr=new, how=".replace()"))
            out.append(Part(text=piece, node=part.node))
    return out


def _is_text_call(src: SourceFile, node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and call_name(node) == "text" and src.from_sqlalchemy(node.func)


def follow(src: SourceFile, node: ast.expr, before: int, *, into_text: bool = True) -> Built | None:
    """The SQL text ``node`` holds at line ``before``: a string expression, or a name followed through its
    assignments in the function (every branch, ``+=``, ``x = x.replace(...)``) or at module level.
    ``into_text=False``: a ``text(...)`` call is not looked into (it is judged where it is written)."""
    if not into_text and (_is_text_call(src, node) or (isinstance(node, ast.Name) and any(
            _is_text_call(src, getattr(s, "value", None)) for s in _assignments(
                src, src.enclosing_function(node) or src.tree, node.id, before)))):
        return None
    if not isinstance(node, ast.Name):
        parts = template(src, node)
        return Built(parts, []) if parts is not None else None
    func = src.enclosing_function(node)
    scopes = [func, src.tree] if func is not None else [src.tree]
    for scope in scopes:
        if isinstance(scope, FunctionNode) and not isinstance(scope, ast.Lambda) and node.id in {
                a.arg for a in ast.walk(scope.args) if isinstance(a, ast.arg)}:
            statements = _assignments(src, scope, node.id, before)
            return _build(src, node.id, statements) if statements else None
        statements = _assignments(src, scope, node.id, before)
        if statements:
            return _build(src, node.id, statements)
    return None


def _assignments(src: SourceFile, scope: ast.AST, name: str, before: int) -> list[ast.stmt]:
    """Statements assigning ``name`` in ``scope`` up to line ``before``: ``x = ...`` (one target), ``x: T = ...``,
    ``x += ...``."""
    return [
        n for n in src.assigned(scope).get(name, ())
        if n.lineno <= before and (
            isinstance(n, ast.AnnAssign) or (isinstance(n, ast.Assign) and len(n.targets) == 1)
            or (isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Add)))
    ]


def _is(target: ast.expr, name: str) -> bool:
    return isinstance(target, ast.Name) and target.id == name


def _build(src: SourceFile, name: str, statements: list[ast.stmt]) -> Built | None:
    built = Built()
    for i, stmt in enumerate(statements):
        value = stmt.value
        if isinstance(stmt, ast.AugAssign):
            parts = template(src, value)
            built.parts += parts if parts is not None else [Part(expr=value, how="+=")]
            built.lines.append(stmt.lineno)
            continue
        if _edits_itself(value, name):
            if call_name(value) == "replace":
                built.parts = replace_parts(built.parts, value)
            elif call_name(value) == "format":
                built.parts = format_parts(built.parts, value)
            built.lines.append(stmt.lineno)
            continue
        parts = template(src, value)
        if parts is None:
            if i == 0:
                return None  # not a string: select(...), a helper's result, a parameter's default
            continue
        if any(p.expr is not None and _is(p.expr, name) for p in parts):  # q = q + "..."; q = f"({q})"
            built.parts = [q for p in parts for q in (built.parts if p.expr is not None and _is(p.expr, name)
                                                      else [p])]
        else:
            built.parts += parts
        built.lines.append(stmt.lineno)
    return built if built.parts else None


def format_parts(parts: list[Part], call: ast.Call) -> list[Part]:
    """``parts`` after ``.format(...)`` on the text built so far: each ``{field}`` of a literal part becomes the
    expression given for it."""
    out: list[Part] = []
    for part in parts:
        if part.text is None or "{" not in part.text:
            out.append(part)
            continue
        formatted = _format(ast.Constant(value=part.text), call)
        if formatted is None:
            out.append(part)
        else:
            out += [Part(text=p.text, node=part.node) if p.text is not None else p for p in formatted]
    return out


def _edits_itself(value: ast.expr, name: str) -> bool:
    """``sql = sql.replace(...)``/``sql = sql.strip()``: a method call on the name itself."""
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and _is(value.func.value, name) \
        and len(value.args) >= (2 if value.func.attr == "replace" else 0)


# ------------------------------------------------------------------------------------------ what a part is

_VALUE_BEFORE = re.compile(
    r"(<>|!=|<=|>=|=|<|>|\|\||[+\-*/%]|\b(LIKE|ILIKE|LIMIT|OFFSET|BETWEEN|THEN|ELSE|IS|IN|INTERVAL|ANY|ALL|"
    r"FIRST|SIMILAR\s+TO|DEFAULT))\s*$",
    re.IGNORECASE,
)
_QUOTING = re.compile(r"quote|ident|escape_identifier|quoted_name|Identifier", re.IGNORECASE)
_NUMERIC = frozenset({"int", "float", "len", "round", "abs", "bool", "Decimal"})
_FRAGMENT_NAME = re.compile(
    r"(^|_)(placeholders?|clauses?|where|conditions?|filters?|fragments?|sql|columns|cols|fields|q?marks|binds)$",
    re.IGNORECASE,
)
"""Names of SQL built in code (``where_clause``, ``placeholders``, ``columns``): fragments, not values."""


def _unclosed_paren_word(before: str) -> str:
    """The text before the innermost unclosed ``(`` of ``before`` (``... VALUES ``), or ""."""
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        ch = before[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth == 0:
                return before[:i].rstrip()
            depth -= 1
    return ""


_SAFE_TYPES = frozenset({"int", "float", "bool", "UUID", "uuid.UUID", "datetime", "date", "Decimal", "PositiveInt",
                         "NonNegativeInt", "conint"})
"""Parameter annotations a framework validates into a number, a UUID or a date (FastAPI, pydantic)."""
_SET = re.compile(r"\s*SET\b", re.IGNORECASE)


def _typed_safe(src: SourceFile | None, expr: ast.expr) -> bool:
    """``limit`` is a parameter annotated ``int`` (or ``UUID``, ``date``...) of the enclosing function."""
    if src is None or not isinstance(expr, ast.Name):
        return False
    func = src.enclosing_function(expr)
    if func is None or isinstance(func, ast.Lambda):
        return False
    for arg in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]:
        if arg.arg == expr.id and arg.annotation is not None:
            shown = ast.unparse(arg.annotation)
            head, _, rest = shown.partition("[")
            if head in ("Annotated", "Optional"):  # Annotated[int, Query(ge=1)], Optional[int]
                shown = re.split(r"[,\]]", rest, maxsplit=1)[0].strip()
            return shown.removesuffix(" | None") in _SAFE_TYPES
    return False


_NAME_FUNCTIONS = re.compile(
    r"\b(nextval|currval|setval|to_regclass|to_regnamespace|to_regrole|to_regtype|pg_\w+|has_\w+_privilege|"
    r"obj_description|col_description|quote_ident|format_type|current_setting)\s*\(\s*$",
    re.IGNORECASE,
)
_IDENT_NAME = re.compile(
    r"(^|_)(tables?|schemas?|tbl|relation|seq|sequences?|index|idx|views?|columns?|col|roles?|owner|database|"
    r"db_name|dbname|tablespace|channel|trigger|constraint|ident|identifier|qualified_name|table_name|"
    r"schema_name|relname|nspname)$",
    re.IGNORECASE,
)


def _quoted_name(before: str, after: str, name: str | None) -> bool:
    """A name inside quotes that PostgreSQL reads as a name: ``'{schema}.{table}'::regclass``,
    ``nextval('{seq}')``, ``pg_total_relation_size('{table}')``, or a table/schema/role... named expression not
    compared in a catalog query. Reported as an identifier, never as a critical value."""
    opening = before[:before.rstrip().rfind("'") + 1] if "'" in before else before
    if re.match(r"[^']*'\s*::\s*reg\w+", after):
        return True
    if _NAME_FUNCTIONS.search(opening[:-1]):
        return True
    return bool(name and _IDENT_NAME.search(name))  # where schemaname = '{schema}': a name from code


def role(before: str, part: Part, statement: str, src: SourceFile | None = None, after: str = "") -> str:
    """"value", "safe-value" (a number by construction: ``int(x)``, ``len(...)``, a parameter annotated ``int``)
    or "identifier" (a name or a SQL fragment built in code) for the expression put after ``before`` (and before
    ``after``) in ``statement``. An unquoted value in ``SET`` counts as an identifier: ``SET search_path TO
    {schema}``; so does a name in quotes that PostgreSQL reads as a name (``nextval('{seq}')``)."""
    expr = part.expr
    name = last_name(expr.func) if isinstance(expr, ast.Call) else last_name(expr)
    if isinstance(expr, ast.Call) and name and _QUOTING.search(name):
        return "identifier"
    if (isinstance(expr, ast.Call) and name in _NUMERIC) or _typed_safe(src, expr):
        return "safe-value"
    literal_quotes = before.replace("''", "").count("'")
    if literal_quotes % 2 == 1:
        return "quoted-identifier" if _quoted_name(before, after, name) else "value"
    if before.count('"') % 2 == 1 or _SET.match(statement):
        return "identifier"
    if part.how == "str.join()" or (name and _FRAGMENT_NAME.search(name)):
        return "identifier"
    tail = before.rstrip()
    if _VALUE_BEFORE.search(tail):
        return "value"
    if tail.endswith(("(", ",")) and re.search(r"\b(VALUES|IN|ANY|ALL|ARRAY)\s*$|\)\s*,\s*$",
                                                _unclosed_paren_word(tail), re.IGNORECASE):
        return "value"
    return "identifier"


def _literals(src: SourceFile, node: ast.expr) -> bool:
    """A tuple/list/set of literals written in the code, directly or through a name bound once to it."""
    value, _ = resolve_name(src, node)
    return isinstance(value, ast.Tuple | ast.List | ast.Set) and bool(value.elts) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str | int | float) for e in value.elts)


def loop_over_literals(src: SourceFile, name: ast.Name) -> bool:
    """``name`` is the variable of a ``for`` loop over literals around it (``for status in ("a", "b"):``)."""
    return any(
        isinstance(p, ast.For | ast.AsyncFor) and _is(p.target, name.id) and _literals(src, p.iter)
        for p in src.ancestors(name)
    )


def allow_listed(src: SourceFile, expr: ast.expr, before: int) -> bool:
    """``expr`` (a name) is checked against a fixed set before line ``before`` in its function: ``if table not in
    ALLOWED: raise/return``, ``assert table in ALLOWED``, or the call sits under ``if table in ALLOWED:``; or it
    is a parameter annotated ``Literal[...]`` (FastAPI and pydantic reject anything else), or the variable of a
    loop over strings written in the code."""
    if not isinstance(expr, ast.Name):
        return False
    func = src.enclosing_function(expr)
    if func is None or isinstance(func, ast.Lambda):
        return False
    for arg in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]:
        if arg.arg == expr.id and arg.annotation is not None and "Literal[" in ast.unparse(arg.annotation):
            return True
    for node in own_nodes(func):
        if getattr(node, "lineno", before + 1) > before:
            continue
        if isinstance(node, ast.For | ast.AsyncFor) and _is(node.target, expr.id) and _literals(src, node.iter):
            return True  # for view in ("daily", "weekly"): the names are written in the code
        test = node.test if isinstance(node, ast.If | ast.Assert) else None
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and _is(test.left, expr.id)):
            continue
        if isinstance(node, ast.Assert) and isinstance(test.ops[0], ast.In):
            return True
        if isinstance(node, ast.If) and isinstance(test.ops[0], ast.NotIn) and node.body and isinstance(
                node.body[-1], ast.Raise | ast.Return | ast.Continue):
            return True
        if isinstance(node, ast.If) and isinstance(test.ops[0], ast.In) and node.end_lineno >= before:
            return True
    return False


_PLACEHOLDER_TEXT = re.compile(r"\s*(:\w|%s|%\(\w+\)s|\?|\$\d)")


def bind_placeholders(src: SourceFile, expr: ast.expr) -> bool:
    """``expr`` is a list of bind placeholders joined in code: ``", ".join(f":id{i}" for i in range(n))``,
    ``",".join(["%s"] * n)``, directly or through a name assigned once."""
    value, _ = resolve_name(src, expr)
    if not (isinstance(value, ast.Call) and call_name(value) == "join" and value.args):
        return False
    items = value.args[0]
    if isinstance(items, ast.GeneratorExp | ast.ListComp):
        element = items.elt
    elif isinstance(items, ast.BinOp) and isinstance(items.left, ast.List) and items.left.elts:
        element = items.left.elts[0]  # ["%s"] * n
    else:
        return False
    if isinstance(element, ast.JoinedStr) and element.values and isinstance(element.values[0], ast.Constant):
        element = element.values[0]
    return isinstance(element, ast.Constant) and isinstance(element.value, str) and bool(
        _PLACEHOLDER_TEXT.match(element.value))


def roles(built: Built, src: SourceFile | None = None) -> list[tuple[Part, str]]:
    joined = built.joined
    return [(part, role(joined[:offset], part, joined, src, joined[offset + len(PLACEHOLDER):]))
            for offset, part in built.exprs]


_SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|WITH|CREATE|DROP|ALTER|TRUNCATE|GRANT|REVOKE|SET|SHOW|COPY|VACUUM|"
    r"ANALYZE|NOTIFY|LISTEN|EXPLAIN|CALL|REFRESH|REINDEX|CLUSTER|LOCK|COMMENT|PRAGMA|MERGE|VALUES|RESET|DISCARD|"
    r"BEGIN|COMMIT|ROLLBACK|SAVEPOINT|DECLARE|FETCH)\b",
    re.IGNORECASE,
)


def looks_like_sql(built: Built) -> bool:
    """Some literal text of ``built`` is SQL (a keyword): ``executor.execute(f"ls {path}")`` is not."""
    return any(p.text and _SQL_WORDS.search(p.text) for p in built.parts)

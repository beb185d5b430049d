"""Sessions and connections: ``session-without-context``, ``single-connection-warmup``,
``create-all-without-run-sync``.

A session opener is a call to SQLAlchemy's ``AsyncSession``/``Session`` (or a subclass), to a name assigned
from ``async_sessionmaker``/``sessionmaker`` (under any alias) anywhere in the linted tree, or, when the
factory is not in the tree, to a name spelled like one called bare (``SessionLocal()``). Building a factory,
a class defined in the tree and a ``scoped_session`` registry are not openers (see ``_is_session_open``).
A connection opener is ``<engine>.connect()`` where the name is an engine (assigned from an engine factory,
or spelled ``engine``/``*_engine``). Whether ``create_all``'s argument is async is read from the code around
the call (``bind_kind``), never from a tree-wide set of names.
"""

from __future__ import annotations

import ast
import re

from planner import ids
from planner.lint.engines import (
    ENGINE_KINDS,
    FACTORY_BUILDERS,
    EngineInfo,
    ProjectFacts,
    imported_engine_kind,
    is_factory_builder,
)
from planner.lint.findings import CodeFinding
from planner.lint.source import (
    FunctionNode,
    SourceFile,
    call_name,
    decorator_names,
    first_arg,
    function_label,
    keyword,
    last_name,
    own_nodes,
    resolve_name,
)

SESSION_CLASSES = frozenset({"AsyncSession", "Session"})
_FACTORY_NAME = re.compile(
    r"SessionLocal$|Session(Factory|Maker|maker)$|session_?(factory|maker|local)$|^async_session"
)
_NOT_AN_OPENER = re.compile(r"^(create|make|build|new|init|setup|get|is|has|check|configure|register)_",
                            re.IGNORECASE)
"""Helpers named like this build or test a factory (``create_async_sessionmaker(engine)``,
``is_async_session_maker(x)``); they do not open a session."""
_ENGINE_NAME = re.compile(r"(^|_)engine$", re.IGNORECASE)
_WARMUP_NAME = re.compile(r"warm|pre_?populate|prime_pool|fill_pool", re.IGNORECASE)
CONCURRENCY_CALLS = frozenset({"gather", "wait", "as_completed", "create_task", "TaskGroup", "start_soon"})
OWNERSHIP_CALLS = frozenset({"enter_async_context", "enter_context", "aclosing", "closing", "push_async_callback"})
COLLECTING_METHODS = frozenset({"append", "add", "insert"})
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
CHAIN_METHODS = frozenset({"execution_options", "begin", "with_for_update", "options"})
"""Methods that return the same connection or session (or one bound to it) for a with statement."""


def _is_session_open(src: SourceFile, call: ast.Call, facts: ProjectFacts, local_functions: set[str]) -> bool:
    """A call that opens a session: SQLAlchemy's ``Session``/``AsyncSession`` class, or an instance of a
    session factory (a name assigned from ``async_sessionmaker(...)`` in any linted file, or spelled like one
    when the factory is not in the tree). A class defined in the tree (``RoutingSessionMaker``), a builder
    (``sessionmaker`` under any alias, ``create_async_sessionmaker``) and a predicate are not openers."""
    name = call_name(call)
    if name is None:
        return False
    original = src.original_name(call.func)
    if name in src.session_classes:
        return True
    if not (name in SESSION_CLASSES or original in SESSION_CLASSES or name in facts.session_factories
            or _FACTORY_NAME.search(name)):
        return False
    if name in local_functions or name in src.class_names or is_factory_builder(src, call):
        return False
    if name in SESSION_CLASSES or original in SESSION_CLASSES:
        return src.from_sqlalchemy(call.func)  # SQLAlchemy's, not requests.Session or aiohttp's
    if isinstance(call.func, ast.Name) and original in FACTORY_BUILDERS:
        return False
    if name in facts.scoped_registries:
        return False
    if name in facts.session_factories:
        return True  # assigned from async_sessionmaker(...) somewhere in the tree, whatever its name
    if name in facts.class_names or _NOT_AN_OPENER.search(name):
        return False
    # Spelled like a factory, defined outside the tree: an instance is called bare (SessionLocal()); a name
    # given an engine is a constructor (RoutingSessionMaker(engine), SessionFactory(bind=engine)).
    return not call.args and keyword(call, "bind") is None and keyword(call, "engine") is None


def _is_connection_open(call: ast.Call, facts: ProjectFacts) -> bool:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "connect"):
        return False
    owner = last_name(func.value)
    return owner is not None and (owner in facts.engine_kinds or bool(_ENGINE_NAME.search(owner)))


def _with_items(func: ast.AST) -> list[ast.withitem]:
    return [item for n in ast.walk(func) if isinstance(n, ast.With | ast.AsyncWith) for item in n.items]


def _finally_closes(scope: ast.AST, name: str | None = None) -> bool:
    """A ``finally`` in ``scope`` calls ``close()`` (on ``name`` when given)."""
    for node in ast.walk(scope):
        if isinstance(node, ast.Try | ast.TryStar) and node.finalbody:
            for inner in ast.walk(ast.Module(body=node.finalbody, type_ignores=[])):
                if (
                    isinstance(inner, ast.Call)
                    and isinstance(inner.func, ast.Attribute)
                    and inner.func.attr in ("close", "aclose")
                    and (name is None or last_name(inner.func.value) == name)
                ):
                    return True
    return False


def _collected(src: SourceFile, call: ast.Call) -> bool:
    """The opened object goes into a collection (a comprehension, ``held.append(...)``): several are held at
    once, to be closed together later."""
    if any(isinstance(p, COMPREHENSIONS) for p in src.ancestors(call)):
        return True
    parent = src.parents.get(call)
    if isinstance(parent, ast.Await):
        parent = src.parents.get(parent)
    return (isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute)
            and parent.func.attr in COLLECTING_METHODS)


def _chain_end(src: SourceFile, call: ast.Call) -> ast.AST:
    """The outermost call of a method chain on ``call``: ``engine.connect().execution_options(...)``."""
    node: ast.AST = call
    while True:
        parent = src.parents.get(node)
        grand = src.parents.get(parent) if parent is not None else None
        if isinstance(parent, ast.Attribute) and isinstance(grand, ast.Call) and grand.func is parent \
                and parent.attr in CHAIN_METHODS:
            node = grand
        else:
            return node


def _bound_to_connection(src: SourceFile, call: ast.Call) -> bool:
    """``Session(bind=op.get_bind())``, ``Session(connection)``: the session uses a connection someone else
    checked out and will close (Alembic's, a test's); closing the session returns nothing to the pool."""
    bind = first_arg(call, "bind")
    if bind is None:
        return False
    value, _ = resolve_name(src, bind)  # bind = op.get_bind(); Session(bind=bind)
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Call) and call_name(value) in ("get_bind", "connect", "begin"):
        return True
    return last_name(bind) in ("conn", "connection", "sync_connection", "sync_conn")


def _yield_fixture(scope: ast.AST) -> bool:
    """A pytest (or pytest-asyncio) yield fixture: pytest runs the code after ``yield`` even when the test
    fails, so what it opens before the yield and closes after is always closed."""
    return (
        isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
        and "fixture" in decorator_names(scope)
        and any(isinstance(n, ast.Yield | ast.YieldFrom) for n in own_nodes(scope))
    )


def _name_handled(scope: ast.AST, name: str) -> bool:
    """The name is used in a with, closed in a finally, returned, or stored on an object (``request.state.db
    = session``: whoever owns the object closes it, e.g. a middleware)."""
    for item in _with_items(scope):
        expr = item.context_expr
        if isinstance(expr, ast.Name) and expr.id == name:
            return True
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "begin" \
                and isinstance(expr.func.value, ast.Name) and expr.func.value.id == name:
            return True  # with session.begin(): commit or rollback at its end hands the connection back
    if _finally_closes(scope, name):
        return True
    if not isinstance(scope, FunctionNode):
        return False
    for n in own_nodes(scope):
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Name) and n.value.id == name:
            return True
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Name) and n.value.id == name and any(
                isinstance(t, ast.Attribute | ast.Subscript) for t in n.targets):
            return True
    return False


def _managed(src: SourceFile, call: ast.Call) -> bool:
    """Opened by async with/with (also through ``.execution_options(...)``), handed to an exit stack,
    returned, stored on an object, closed in a finally of the same function, or opened in a yield fixture."""
    scope = src.enclosing_function(call) or src.tree
    if _collected(src, call) and _finally_closes(scope):
        return True  # conns = await gather(*(engine.connect() ...)); try: ... finally: close them all
    if _yield_fixture(scope):
        return True
    node = _chain_end(src, call)
    parent = src.parents.get(node)
    if isinstance(parent, ast.Await):
        node, parent = parent, src.parents.get(parent)
    if isinstance(parent, ast.withitem) and parent.context_expr is node:
        return True
    if isinstance(parent, ast.Call) and call_name(parent) in OWNERSHIP_CALLS:
        return True
    if isinstance(parent, ast.Return):
        return True
    if isinstance(parent, ast.Attribute) and parent.attr == "close":
        return True  # engine.connect().close(): opened and closed in one expression
    if not isinstance(parent, ast.Assign | ast.AnnAssign):
        return False
    targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
    if any(isinstance(t, ast.Attribute | ast.Subscript) for t in targets):
        return True
    return any(_name_handled(scope, t.id) for t in targets if isinstance(t, ast.Name))


def session_findings(src: SourceFile, facts: ProjectFacts) -> list[CodeFinding]:
    """session-without-context: each session or connection opened in ``src`` that nothing closes on exception."""
    local_functions = set(src.functions)
    found = []
    for call in src.calls:
        is_session = _is_session_open(src, call, facts, local_functions)
        if not (is_session or _is_connection_open(call, facts)) or _managed(src, call):
            continue
        if is_session and _bound_to_connection(src, call):
            continue
        what = ast.unparse(call)
        what = what if len(what) <= 60 else ast.unparse(call.func) + "(...)"
        kind = "session" if is_session else "connection"
        found.append(CodeFinding(
            src.path, call.lineno, call.col_offset + 1, ids.SESSION_WITHOUT_CONTEXT, "warning",
            f"{what} opens a {kind} without async with and no finally closes it: an exception before close() "
            f"leaves its connection checked out (often idle in transaction) until garbage collection",
            f"async with {what} as {kind}: ... (or close it in try/finally)",
            src.anchors(call),
        ))
    return found


def _checkouts(src: SourceFile, func: FunctionNode, facts: ProjectFacts, local_functions: set[str]) -> list[ast.AST]:
    found = []
    for node in ast.walk(func):
        if isinstance(node, ast.withitem) and isinstance(node.context_expr, ast.Call):
            call = node.context_expr
            if _is_session_open(src, call, facts, local_functions) or _is_connection_open(call, facts) or (
                isinstance(call.func, ast.Attribute) and call.func.attr == "begin"
                and bool(_ENGINE_NAME.search(last_name(call.func.value) or ""))
            ):
                found.append(call)
        elif (
            isinstance(node, ast.Await) and isinstance(node.value, ast.Call) and _is_connection_open(node.value, facts)
        ):
            found.append(node.value)
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def _relevant_engines(src: SourceFile, engines: list[EngineInfo]) -> list[EngineInfo]:
    """The engines a warm-up in ``src`` can mean: those created in the file, else those it imports by name."""
    once = [e for e in engines if not e.per_request]
    here = [e for e in once if e.path == src.path]
    if here:
        return here
    imported = {name: module.replace(".", "/") + ".py" for name, module in src.imports.items()}
    named = [e for e in once if e.name in imported]
    from_module = [e for e in named if e.path.replace("\\", "/").endswith(imported[e.name])]
    return from_module or named


def _warmups(src: SourceFile) -> list[FunctionNode]:
    """Functions named like a warm-up: warm_up, warmup_pool, prewarm, prepopulate, fill_pool..."""
    return [f for defs in src.functions.values() for f in defs
            if _WARMUP_NAME.search(f.name) and not f.name.startswith("test_")]  # a test about warm-ups is not one


def has_warmup(src: SourceFile) -> bool:
    return bool(_warmups(src))


def warmup_findings(src: SourceFile, facts: ProjectFacts, engines: list[EngineInfo]) -> list[CodeFinding]:
    """single-connection-warmup: a warm-up function whose checkouts are sequential (no gather/TaskGroup) and
    each returned before the next (not collected: ``[await engine.connect() for _ in range(n)]`` holds n)."""
    warmups = _warmups(src)
    if not warmups:
        return []
    local_functions = set(src.functions)
    found = []
    relevant = [e for e in _relevant_engines(src, engines) if e.setting("pool_size").kind != "reference"]
    sizes = [f"{e.name} pool_size={e.setting('pool_size').value}" for e in relevant]
    if relevant and all(isinstance(e.setting("pool_size").value, int) and 0 < e.setting("pool_size").value <= 1
                        for e in relevant):
        return []  # a pool of one is warm after one checkout
    for func in warmups:
        checkouts = _checkouts(src, func, facts, local_functions)
        concurrent = any(
            isinstance(n, ast.Call) and call_name(n) in CONCURRENCY_CALLS for n in ast.walk(func)
        )
        if not checkouts or concurrent or any(_collected(src, c) for c in checkouts):
            continue
        first = checkouts[0]
        looped = any(isinstance(p, ast.For | ast.AsyncFor | ast.While) for p in src.ancestors(first))
        pools = f" (here: {', '.join(sizes)})" if sizes else ""
        found.append(CodeFinding(
            src.path, first.lineno, first.col_offset + 1, ids.SINGLE_CONNECTION_WARMUP, "warning",
            f"{function_label(func)} checks out one connection at a time ({ast.unparse(first.func)}()"
            f"{', in a loop' if looped else ''}): a pool opens connections lazily and hands back the one just "
            f"returned, so this warm-up leaves 1 open connection, not pool_size{pools}; measured with "
            f"pool_size=10: 1 backend",
            "check out pool_size connections at once, then return them: conns = await asyncio.gather("
            "*(engine.connect() for _ in range(engine.pool.size()))); await asyncio.gather(*(c.execute("
            "text('SELECT 1')) for c in conns)); await asyncio.gather(*(c.close() for c in conns)); "
            "do it in each worker's lifespan",
            src.anchors(first),
        ))
    return found


_ASYNC_TYPES = re.compile(r"\bAsync(Engine|Connection)\b")
_SYNC_TYPES = re.compile(r"\b(Engine|Connection)\b")


def _kind_of_annotation(annotation: ast.expr | None) -> str | None:
    if annotation is None:
        return None
    shown = ast.unparse(annotation)
    if _ASYNC_TYPES.search(shown):
        return "async"
    return "sync" if _SYNC_TYPES.search(shown) else None


def _kind_of_value(src: SourceFile, value: ast.expr, facts: ProjectFacts, before: int) -> str | None:
    """async/sync for what ``value`` evaluates to: ``create_async_engine(...)``, ``await e.connect()``..."""
    awaited = isinstance(value, ast.Await)
    inner = value.value if awaited else value
    if not isinstance(inner, ast.Call):
        return None
    name = src.original_name(inner.func)
    if name in ENGINE_KINDS:
        return ENGINE_KINDS[name]
    if name in ("connect", "begin") and isinstance(inner.func, ast.Attribute):
        if awaited:
            return "async"
        return bind_kind(src, inner.func.value, facts, before)
    return None


def bind_kind(src: SourceFile, node: ast.expr, facts: ProjectFacts, before: int) -> str | None:
    """Whether ``node`` (a name used on line ``before``) holds an async or a sync engine/connection, read from
    the code around it: its last assignment or annotation in the function, a with target, a parameter's
    annotation, then the module; a name imported from another linted file by what it is assigned there.
    None when the code does not say."""
    if isinstance(node, ast.Attribute):
        kinds = facts.engine_kinds.get(node.attr, set())
        return next(iter(kinds)) if len(kinds) == 1 and isinstance(node.value, ast.Name) \
            and node.value.id == "self" else None
    if not isinstance(node, ast.Name):
        return None
    scope = src.enclosing_function(node)
    while scope is not None:
        kind = _kind_in_scope(src, scope, node.id, facts, before)
        if kind != "unknown":
            return kind
        scope = src.enclosing_function(scope)
    kind = _kind_in_scope(src, src.tree, node.id, facts, before)
    if kind != "unknown":
        return kind
    if node.id in src.imports:
        return imported_engine_kind(facts, src.imports[node.id], node.id)
    return None


def _kind_in_scope(src: SourceFile, scope: ast.AST, name: str, facts: ProjectFacts, before: int) -> str | None:
    """"unknown" when ``scope`` does not bind ``name`` at all (look further out), else its kind or None."""
    if isinstance(scope, FunctionNode) and not isinstance(scope, ast.Lambda):
        for arg in [*scope.args.posonlyargs, *scope.args.args, *scope.args.kwonlyargs]:
            if arg.arg == name:
                return _kind_of_annotation(arg.annotation)
    elif isinstance(scope, ast.Lambda) and name in {a.arg for a in scope.args.args}:
        return None
    last: tuple[int, str | None] | None = None
    for n in src.assigned(scope).get(name, ()):
        if n.lineno > before:
            continue
        if isinstance(n, ast.Assign):
            kind = _kind_of_value(src, n.value, facts, n.lineno)
        elif isinstance(n, ast.AnnAssign):
            kind = _kind_of_annotation(n.annotation) or _kind_of_value(src, n.value, facts, n.lineno)
        elif isinstance(n, ast.With | ast.AsyncWith):
            kind = "async" if isinstance(n, ast.AsyncWith) else "sync"
        else:
            kind = None  # x += ...
        last = (n.lineno, kind)
    if last is None:
        return "unknown"
    return last[1]


def create_all_findings(src: SourceFile, facts: ProjectFacts) -> list[CodeFinding]:
    """create-all-without-run-sync: ``metadata.create_all/drop_all`` given an async engine/connection, or awaited."""
    found = []
    for call in src.calls:
        func = call.func
        if not (isinstance(func, ast.Attribute) and func.attr in ("create_all", "drop_all")):
            continue
        if last_name(func.value) != "metadata":
            continue
        bind = first_arg(call, "bind")
        awaited = isinstance(src.parents.get(call), ast.Await)
        if not awaited and (bind is None or bind_kind(src, bind, facts, call.lineno) != "async"):
            continue
        what = ast.unparse(call)
        found.append(CodeFinding(
            src.path, call.lineno, call.col_offset + 1, ids.CREATE_ALL_WITHOUT_RUN_SYNC, "critical",
            f"{what} on an async engine or connection: {func.attr} is synchronous and fails with "
            f"AttributeError: 'AsyncEngine' (or 'AsyncConnection') object has no attribute '_run_ddl_visitor'",
            f"async with engine.begin() as conn: await conn.run_sync({ast.unparse(func)})",
            src.anchors(call),
        ))
    return found

"""Sessions and connections: ``session-without-context``, ``single-connection-warmup``,
``create-all-without-run-sync``.

A session opener is a call to ``AsyncSession``/``Session``, to a name assigned from
``async_sessionmaker``/``sessionmaker`` anywhere in the linted tree, or to a name spelled like one
(``SessionLocal``, ``AsyncSessionFactory``, ``async_session``...): the factory often lives in another file.
A connection opener is ``<engine>.connect()`` where the name is an engine (assigned from
``create_async_engine``, or spelled ``engine``/``*_engine``).
"""

from __future__ import annotations

import ast
import re

from planner.lint.engines import EngineInfo, ProjectFacts
from planner.lint.findings import CodeFinding
from planner.lint.source import FunctionNode, SourceFile, call_name, first_arg, function_label, last_name, own_nodes

SESSION_CLASSES = frozenset({"AsyncSession", "Session"})
FACTORY_BUILDERS = frozenset({"async_sessionmaker", "sessionmaker", "scoped_session", "async_scoped_session"})
_FACTORY_NAME = re.compile(
    r"SessionLocal$|Session(Factory|Maker|maker)$|session_?(factory|maker|local)$|^async_session"
)
_ENGINE_NAME = re.compile(r"(^|_)engine$", re.IGNORECASE)
_WARMUP_NAME = re.compile(r"warm|pre_?populate|prime_pool|fill_pool", re.IGNORECASE)
CONCURRENCY_CALLS = frozenset({"gather", "wait", "as_completed", "create_task", "TaskGroup", "start_soon"})
OWNERSHIP_CALLS = frozenset({"enter_async_context", "enter_context", "aclosing", "closing", "push_async_callback"})
COLLECTING_METHODS = frozenset({"append", "add", "insert"})
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _is_session_open(src: SourceFile, call: ast.Call, facts: ProjectFacts, local_functions: set[str]) -> bool:
    name = call_name(call)
    if name is None or name in local_functions or name in FACTORY_BUILDERS or name.startswith("get_"):
        return False
    if name in SESSION_CLASSES:  # SQLAlchemy's, not requests.Session or aiohttp's
        return src.from_sqlalchemy(call.func)
    return name in facts.session_factories or bool(_FACTORY_NAME.search(name))


def _is_connection_open(call: ast.Call, facts: ProjectFacts) -> bool:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "connect"):
        return False
    owner = last_name(func.value)
    return owner is not None and (owner in facts.async_engine_names or bool(_ENGINE_NAME.search(owner)))


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


def _managed(src: SourceFile, call: ast.Call) -> bool:
    """Opened by async with/with, handed to an exit stack, returned, stored on an object, or closed in a
    finally of the same function."""
    node: ast.AST = call
    scope = src.enclosing_function(call) or src.tree
    if _collected(src, call) and _finally_closes(scope):
        return True  # conns = await gather(*(engine.connect() ...)); try: ... finally: close them all
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
    names = {t.id for t in targets if isinstance(t, ast.Name)}
    for name in names:
        if any(isinstance(i.context_expr, ast.Name) and i.context_expr.id == name for i in _with_items(scope)):
            return True
        if _finally_closes(scope, name):
            return True
        if isinstance(scope, FunctionNode) and any(
            isinstance(n, ast.Return) and isinstance(n.value, ast.Name) and n.value.id == name
            for n in own_nodes(scope)
        ):
            return True
    return False


def session_findings(src: SourceFile, facts: ProjectFacts) -> list[CodeFinding]:
    """session-without-context: each session or connection opened in ``src`` that nothing closes on exception."""
    local_functions = set(src.functions)
    found = []
    for call in src.calls:
        is_session = _is_session_open(src, call, facts, local_functions)
        if not (is_session or _is_connection_open(call, facts)) or _managed(src, call):
            continue
        what = ast.unparse(call)
        what = what if len(what) <= 60 else ast.unparse(call.func) + "(...)"
        kind = "session" if is_session else "connection"
        found.append(CodeFinding(
            src.path, call.lineno, call.col_offset + 1, "session-without-context", "warning",
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
    return [f for defs in src.functions.values() for f in defs if _WARMUP_NAME.search(f.name)]


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
            src.path, first.lineno, first.col_offset + 1, "single-connection-warmup", "warning",
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


def _async_bound_names(func: ast.AST, facts: ProjectFacts) -> set[str]:
    """Names that hold an AsyncEngine or AsyncConnection in ``func``."""
    names = set(facts.async_engine_names)
    for node in ast.walk(func):
        if isinstance(node, ast.AsyncWith):
            names.update(i.optional_vars.id for i in node.items if isinstance(i.optional_vars, ast.Name))
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Await):
            inner = node.value.value
            if isinstance(inner, ast.Call) and call_name(inner) in ("connect", "begin"):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


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
        scope = src.enclosing_function(call) or src.tree
        awaited = isinstance(src.parents.get(call), ast.Await)
        bind_name = last_name(bind) if bind is not None else None
        if not awaited and bind_name not in _async_bound_names(scope, facts):
            continue
        what = ast.unparse(call)
        found.append(CodeFinding(
            src.path, call.lineno, call.col_offset + 1, "create-all-without-run-sync", "critical",
            f"{what} on an async engine or connection: {func.attr} is synchronous and fails with "
            f"AttributeError: 'AsyncEngine' (or 'AsyncConnection') object has no attribute '_run_ddl_visitor'",
            f"async with engine.begin() as conn: await conn.run_sync({ast.unparse(func)})",
            src.anchors(call),
        ))
    return found

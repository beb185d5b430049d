"""``create_async_engine``/``create_engine`` calls: the engine inventory and the rules about engines.

Rules here: ``unbounded-overflow`` (``max_overflow=-1`` or ``pool_size=0``), ``engine-per-request`` and
``asyncpg-ssl`` (``sslmode=`` in an asyncpg URL literal).

engine-per-request heuristic (documented in docs/lint.md). An engine created at module level or in a class
body is made once. One created inside a function is:
- a finding (critical) when that function runs per request: it has a route decorator (``@app.get``,
  ``@router.post``, ``@app.middleware``, Litestar's bare ``@get``...), is named in ``Depends(...)``/
  ``Security(...)`` anywhere in the linted tree, or is called by such a function in the same file; unless it
  still makes one engine per process (cached, or created under an ``if`` and kept: ``_made_once_anyway``);
- fine when the function runs once, known from how it is registered or called (``_runs_once``): a cache,
  fixture, context-manager, startup or CLI-command decorator, ``lifespan=``/``on_startup=``, handed to
  ``asyncio.run``/``anyio.run``, called at module level or by such a function, or nested in one;
- fine when the engine outlives the call or is cleaned up: returned, stored in a global or an attribute
  (``app.state.engine``, ``self.engine``), handed to a constructor or cache that keeps it, or disposed;
- fine in test code (a test file, a test function, a fixture);
- otherwise a warning: a new pool on every call that nothing keeps or disposes.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from planner import ids
from planner.dsn import mask_url
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
    literal,
    own_nodes,
    resolve_name,
)

ENGINE_FACTORIES = ("create_async_engine", "create_engine")
POOL_KWARGS = (
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "pool_recycle",
    "pool_pre_ping",
    "poolclass",
    "connect_args",
)
DEFAULTS = {"pool_size": 5, "max_overflow": 10, "pool_timeout": 30.0, "pool_recycle": -1, "pool_pre_ping": False}
"""SQLAlchemy's defaults for a kwarg that is not passed (docs/facts.md, A)."""

ROUTE_DECORATORS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route", "route", "websocket",
     "middleware"}
)
HANDLER_MODULES = ("litestar", "starlite", "sanic", "quart", "robyn", "blacksheep")
"""Frameworks whose route decorators are bare names: ``from litestar import get``; ``@get("/")``."""
ONCE_DECORATORS = frozenset(
    {"lru_cache", "cache", "cached_property", "cache_resource", "fixture", "asynccontextmanager",
     "contextmanager", "on_event", "command", "group", "callback"}
)
"""Decorators of code that runs once per process or per invocation: caches, fixtures, context managers for a
lifespan, startup hooks, and CLI commands (typer/click ``@app.command()``, ``@click.group()``)."""
ENGINE_KINDS = {"create_async_engine": "async", "create_engine": "sync"}
ONCE_NAMES = frozenset({"lifespan", "startup", "on_startup", "main"})

_HANDLES_SSLMODE = re.compile(r"""["']sslmode["']\s*(,|\)|\s+(not\s+)?in\b)""")
"""A standalone 'sslmode' string given to a call or tested for membership: the code converts the parameter."""
_ASYNCPG_SSLMODE = re.compile(r"\+asyncpg://[^\s'\"]*[?&]sslmode=", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Setting:
    """One engine kwarg as written: a literal value, a reference (``settings.POOL_SIZE``) or the default."""

    kind: str  # "literal" | "reference" | "default"
    value: object = None
    text: str = ""

    def show(self) -> str:
        if self.kind == "default":
            return f"{self.value!r} (default)"
        if self.kind == "reference":
            return f"{self.text} (reference)"
        return self.text or repr(self.value)

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "value": self.value if self.kind != "reference" else None, "text": self.show()}


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """One engine found in the code, with its pool settings as written."""

    path: str
    line: int
    col: int
    name: str
    factory: str
    url: Setting
    settings: dict[str, Setting]
    scope: str
    """``module`` or the function it is created in, e.g. ``get_db()``."""
    per_request: bool
    """True when engine-per-request flagged it (critical or warning): not a once-per-process engine."""
    splat: bool = False
    """``**kwargs`` passed: some settings may come from there."""
    in_test: bool = False
    """Created in test code (a test file, a test function or a fixture): not counted in production's budget."""
    script: bool = False
    """Created and not returned in a one-off entry point (a CLI command, an ``asyncio.run`` target, a function
    called at module level): it runs when someone runs the script, not in the workers."""

    @property
    def is_async(self) -> bool:
        return self.factory == "create_async_engine"

    def setting(self, name: str) -> Setting:
        return self.settings.get(name) or Setting("default", DEFAULTS.get(name))

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "name": self.name,
            "factory": self.factory,
            "url": self.url.show(),
            "scope": self.scope,
            "per_request": self.per_request,
            "kwargs_splat": self.splat,
            **{k: self.setting(k).as_dict() for k in POOL_KWARGS if k in self.settings or k in DEFAULTS},
        }


_CLASS_LINE = re.compile(r"^[ \t]*class[ \t]+(\w+)", re.MULTILINE)
_TOP_CALL_LINE = re.compile(r"^(?:if __name__ == .__main__.:\s+)?(\w+)\(", re.MULTILINE)
_RUNNER_CALL = re.compile(r"\b(?:asyncio|anyio|trio|uvloop|typer)\.run\(\s*(\w+)")


@dataclass
class ProjectFacts:
    """Names gathered over every file before the rules run (a dependency may be defined in one file and
    used with ``Depends`` in another)."""

    dependencies: set[str] = field(default_factory=set)
    once_names: set[str] = field(default_factory=lambda: set(ONCE_NAMES))
    engine_kinds: dict[str, set[str]] = field(default_factory=dict)
    """Name (or attribute) -> {"async", "sync"}: what it is assigned from anywhere in the tree. Used only for a
    name imported from another file; inside a file the assignments themselves are read."""
    session_factories: set[str] = field(default_factory=set)
    module_engines: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(module path without ``.py``, name) -> kinds, for engines assigned at a module's top level."""
    called_once: set[str] = field(default_factory=set)
    """Names called by a lifespan, a startup hook, a cached or CLI function anywhere in the tree (``init_db()``
    called from ``main.py``'s lifespan and defined in ``db.py``)."""
    class_names: set[str] = field(default_factory=set)
    """Classes defined anywhere in the tree (``RoutingSessionMaker`` in one file, called in another)."""
    scoped_registries: set[str] = field(default_factory=set)
    """Names assigned from ``scoped_session(...)``: calling one returns the scope's session, which the
    framework's teardown removes (``registry.remove()``); it does not open a new one each time."""

    def add_text(self, text: str) -> None:
        """What a file that is not parsed in the facts pass (a large tree, none of the fact words) still tells,
        read from its text: the classes it defines and the functions it calls at module level or hands to a
        runner (``asyncio.run(main())``)."""
        self.class_names.update(_CLASS_LINE.findall(text))
        self.once_names.update(_TOP_CALL_LINE.findall(text))
        self.once_names.update(_RUNNER_CALL.findall(text))

    def add(self, src: SourceFile) -> None:
        self.once_names |= src.run_once_names  # main() called at module level in another file
        self.class_names |= src.class_names
        for defs in src.functions.values():
            for func in defs:
                if ONCE_DECORATORS & set(decorator_names(func)) or func.name in ONCE_NAMES:
                    self.called_once.update(
                        n for n in (last_name(c.func) for c in own_nodes(func) if isinstance(c, ast.Call)) if n)
        for call in src.calls:
            name = call_name(call)
            if name in ("Depends", "Security"):
                target = first_arg(call, "dependency")
                if target is not None and last_name(target):
                    self.dependencies.add(last_name(target))
            for kw in call.keywords:
                if kw.arg in ("lifespan", "on_startup") and last_name(kw.value):
                    self.once_names.add(last_name(kw.value))
                if kw.arg == "on_startup" and isinstance(kw.value, ast.List | ast.Tuple):
                    self.once_names.update(n for n in map(last_name, kw.value.elts) if n)
            target = _assigned_name(src, call)
            if target and name in ENGINE_KINDS:
                self.engine_kinds.setdefault(target, set()).add(ENGINE_KINDS[name])
                if src.enclosing_scope(call) is None:
                    key = (src.path.replace("\\", "/").removesuffix(".py"), target)
                    self.module_engines.setdefault(key, set()).add(ENGINE_KINDS[name])
            if target and src.original_name(call.func) in SCOPED_BUILDERS:
                self.scoped_registries.add(target)
            elif target and is_factory_builder(src, call):
                self.session_factories.add(target)


FACTORY_BUILDERS = frozenset({"async_sessionmaker", "sessionmaker", "scoped_session", "async_scoped_session"})
SCOPED_BUILDERS = frozenset({"scoped_session", "async_scoped_session"})
_BUILDER_NAME = re.compile(r"^(create|make|build|new|init|setup|get)_\w*(session_?maker|session_?factory)$",
                           re.IGNORECASE)


def is_factory_builder(src: SourceFile, call: ast.Call) -> bool:
    """A call that returns a session factory: ``async_sessionmaker(...)`` (also imported under another name),
    or a helper named like one (``create_async_sessionmaker(engine)``, ``config.make_session_factory()``)."""
    name = src.original_name(call.func)
    return name in FACTORY_BUILDERS or bool(name and _BUILDER_NAME.search(name))


def imported_engine_kind(facts: ProjectFacts, module: str, name: str) -> str | None:
    """async/sync for ``name`` imported from ``module`` (``app.db``): what that module assigns at top level,
    else what the name is assigned from anywhere in the tree when that is always the same kind."""
    suffix = module.replace(".", "/")
    for (path, target), kinds in facts.module_engines.items():
        if target == name and (path.endswith(suffix) or path.endswith(suffix + "/__init__")) and len(kinds) == 1:
            return next(iter(kinds))
    kinds = facts.engine_kinds.get(name, set())
    return next(iter(kinds)) if len(kinds) == 1 else None


def _assigned_name(src: SourceFile, call: ast.Call) -> str | None:
    parent = src.parents.get(call)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
        return last_name(parent.targets[0])
    if isinstance(parent, ast.AnnAssign):
        return last_name(parent.target)
    return None


def _setting(src: SourceFile, node: ast.expr) -> Setting:
    try:
        return Setting("literal", literal(node), ast.unparse(node))
    except (ValueError, TypeError, SyntaxError, RecursionError):
        pass
    value, line = resolve_name(src, node)
    if line is not None:
        try:
            return Setting("literal", literal(value), f"{ast.unparse(node)} (={ast.unparse(value)})")
        except (ValueError, TypeError, SyntaxError, RecursionError):
            pass
    if isinstance(node, ast.Name | ast.Attribute) and last_name(node) in ("NullPool", "StaticPool", "QueuePool",
                                                                         "AsyncAdaptedQueuePool", "AssertionPool",
                                                                         "SingletonThreadPool"):
        return Setting("literal", last_name(node), ast.unparse(node))
    return Setting("reference", None, ast.unparse(node))


def _url_setting(src: SourceFile, call: ast.Call) -> Setting:
    node = first_arg(call, "url")
    if node is None:
        return Setting("reference", None, "<no url>")
    setting = _setting(src, node)
    if setting.kind == "literal" and isinstance(setting.value, str):
        return Setting("literal", mask_url(setting.value), repr(mask_url(setting.value)))
    if setting.kind == "literal":
        return Setting("reference", None, ast.unparse(node))
    return setting


def _is_per_request(src: SourceFile, func: FunctionNode, facts: ProjectFacts, seen=None) -> str | None:
    """Why ``func`` runs per request, or None."""
    if isinstance(func, ast.Lambda):
        return None
    seen = seen or set()
    seen.add(func.name)
    for dec in func.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(target, ast.Attribute) and target.attr in ROUTE_DECORATORS:
            return f"a route handler (@{ast.unparse(target)})"
        if isinstance(target, ast.Name) and target.id in ROUTE_DECORATORS and src.imports.get(
                target.id, "").startswith(HANDLER_MODULES):
            return f"a route handler (@{target.id} from {src.imports[target.id]})"
    if func.name in facts.dependencies:
        return f"a dependency (Depends({func.name}))"
    for caller in src.callers.get(func.name, []):
        if caller.name in seen or isinstance(caller, ast.Lambda):
            continue
        calls_it = any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == func.name
            for n in own_nodes(caller)
        )
        if calls_it and _is_per_request(src, caller, facts, seen):
            return f"called by {caller.name}(), which runs per request"
    return None


def _runs_once(src: SourceFile, func: FunctionNode, facts: ProjectFacts, seen: set | None = None) -> bool:
    """Known from how ``func`` is registered or called, not from its name alone: a once-decorator, a test, a
    function this file calls at module level or hands to ``asyncio.run``, passed as ``lifespan=``; a function
    nested in one of those, or one called only by such functions in this file."""
    if isinstance(func, ast.Lambda):
        return False
    if func.name.startswith("test_"):
        return True  # a test function: runs once per test, not per request
    if ONCE_DECORATORS & set(decorator_names(func)) or func.name in facts.once_names:
        return True
    if func.name in src.run_once_names or func.name in facts.called_once:
        return True
    seen = (seen or set()) | {func}
    outer = src.enclosing_function(func)
    if outer is not None and outer not in seen and _runs_once(src, outer, facts, seen):
        return True
    callers = _callers(src, func.name)
    return bool(callers) and all(c not in seen and _runs_once(src, c, facts, seen) for c in callers)


SCRIPT_DECORATORS = frozenset({"command", "group", "callback"})


def _script_entry(src: SourceFile, func: FunctionNode, seen: frozenset = frozenset()) -> bool:
    """``func`` runs when a script or command runs: a typer/click command, a function handed to
    ``asyncio.run``/``anyio.run`` or called at module level, or one nested in or only called by those."""
    if isinstance(func, ast.Lambda) or func in seen:
        return False
    if SCRIPT_DECORATORS & set(decorator_names(func)) or func.name in src.run_once_names:
        return True
    seen = seen | {func}
    outer = src.enclosing_function(func)
    if outer is not None and _script_entry(src, outer, seen):
        return True
    callers = _callers(src, func.name)
    return bool(callers) and all(_script_entry(src, c, seen) for c in callers)


def _returned(src: SourceFile, func: FunctionNode, call: ast.Call) -> bool:
    parent = src.parents.get(call)
    if isinstance(parent, ast.Return | ast.Yield):
        return True
    name = last_name(parent.targets[0]) if isinstance(parent, ast.Assign) and len(parent.targets) == 1 else None
    return name is not None and any(
        isinstance(n, ast.Return | ast.Yield) and n.value is not None
        and any(_is_name(v, name) for v in ast.walk(n.value))
        for n in own_nodes(func)
    )


def _callers(src: SourceFile, name: str) -> list[FunctionNode]:
    return src.callers.get(name, [])


def in_test_code(src: SourceFile, func: FunctionNode | None) -> bool:
    """A test file, a test function or a pytest fixture: not production code."""
    if src.is_test_file:
        return True
    while func is not None and not isinstance(func, ast.Lambda):
        if func.name.startswith("test_") or "fixture" in decorator_names(func):
            return True
        func = src.enclosing_function(func)
    return False


def _outlives_call(src: SourceFile, func: FunctionNode, call: ast.Call) -> bool:
    """The engine is returned (even wrapped: ``return cast(Engine, eng)``, ``return eng.pool``), stored in a
    global or on an object, or disposed (called, or registered: ``stack.callback(eng.dispose)``)."""
    parent = src.parents.get(call)
    if isinstance(parent, ast.Return | ast.Yield | ast.YieldFrom):
        return True
    if _handed_over(src, call):
        return True
    name = None
    if isinstance(parent, ast.Assign | ast.AnnAssign):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        if any(isinstance(t, ast.Attribute | ast.Subscript) for t in targets):
            return True
        name = next((t.id for t in targets if isinstance(t, ast.Name)), None)
    if name is None:
        return False
    nodes = list(own_nodes(func))
    shared = {n for node in nodes if isinstance(node, ast.Global | ast.Nonlocal) for n in node.names}
    if name in shared:
        return True
    for node in nodes:
        if isinstance(node, ast.Attribute) and node.attr == "dispose" and _is_name(node.value, name):
            return True
        stored = isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute | ast.Subscript) or (isinstance(t, ast.Name) and t.id in shared)
            for t in node.targets
        )  # self.factory = async_sessionmaker(engine); global Session; Session = sessionmaker(engine)
        escapes = stored or isinstance(node, ast.Return | ast.Yield)
        if escapes and node.value is not None and any(_is_name(n, name) for n in ast.walk(node.value)):
            return True
    return False


def _handed_over(src: SourceFile, call: ast.Call) -> bool:
    """The engine is built as an argument of a call whose result is kept: ``cache.setdefault(url,
    create_engine(url))``, ``return Database(create_async_engine(url))``, ``self.db = Database(create_engine(..))``."""
    parent = src.parents.get(call)
    if isinstance(parent, ast.keyword):
        parent = src.parents.get(parent)
    if not isinstance(parent, ast.Call) or parent.func is call:
        return False
    name = call_name(parent) or ""
    if name in ("setdefault", "append", "register", "add", "set"):
        return True
    if not name[:1].isupper():
        return False  # pd.read_sql(q, create_engine(url)) uses it and drops it
    node: ast.AST = parent
    parent = src.parents.get(node)
    while isinstance(parent, ast.Call | ast.keyword):
        node, parent = parent, src.parents.get(parent)
    if isinstance(parent, ast.Return | ast.Yield):
        return True
    return isinstance(parent, ast.Assign) and any(isinstance(t, ast.Attribute | ast.Subscript) for t in parent.targets)


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def engine_inventory(src: SourceFile, facts: ProjectFacts) -> tuple[list[EngineInfo], list[CodeFinding]]:
    """Every engine created in ``src`` and the engine findings (unbounded-overflow, engine-per-request)."""
    engines, findings = [], []
    for call in src.calls:
        factory = call_name(call)
        if factory not in ENGINE_FACTORIES:
            continue
        settings = {k.arg: _setting(src, k.value) for k in call.keywords if k.arg in POOL_KWARGS}
        func = src.enclosing_function(call)
        flagged = False
        if func is not None:
            finding = _per_request_finding(src, func, call, factory, facts)
            if finding:
                findings.append(finding)
                flagged = True
        findings.extend(_overflow_findings(src, call, settings))
        findings.extend(_connect_args_ssl(src, call, settings))
        name = _assigned_name(src, call) or f"{factory}@{call.lineno}"
        engines.append(
            EngineInfo(
                path=src.path,
                line=call.lineno,
                col=call.col_offset + 1,
                name=name,
                factory=factory,
                url=_url_setting(src, call),
                settings=settings,
                scope="module" if func is None else function_label(func),
                per_request=flagged,
                splat=any(k.arg is None for k in call.keywords),
                in_test=in_test_code(src, func),
                script=func is not None and _script_entry(src, func) and not _returned(src, func, call),
            )
        )
    return engines, findings


CACHE_DECORATORS = frozenset({"lru_cache", "cache", "cached_property", "cache_resource", "alru_cache"})


def _made_once_anyway(src: SourceFile, func: FunctionNode, call: ast.Call) -> bool:
    """A per-request function that still builds one engine per process: it is cached (``@lru_cache`` on a
    dependency), or it creates the engine lazily under an ``if`` and keeps it in a global or on an object
    (``if _engine is None: _engine = create_async_engine(url)``)."""
    if CACHE_DECORATORS & set(decorator_names(func)):
        return True
    guarded = any(isinstance(p, ast.If) for p in src.ancestors(call) if p is not func and _inside(p, func))
    parent = src.parents.get(call)
    stored = isinstance(parent, ast.Assign) and any(
        isinstance(t, ast.Attribute | ast.Subscript) for t in parent.targets)
    if isinstance(parent, ast.Assign) and not stored:
        names = {t.id for t in parent.targets if isinstance(t, ast.Name)}
        stored = any(isinstance(n, ast.Global | ast.Nonlocal) and names & set(n.names) for n in own_nodes(func))
    return guarded and stored


def _inside(node: ast.AST, func: FunctionNode) -> bool:
    return func.lineno <= getattr(node, "lineno", 0) <= (func.end_lineno or 0)


def _per_request_finding(src, func, call, factory, facts) -> CodeFinding | None:
    where = function_label(func)
    fix = (
        "create the engine once per process (module level, or in the lifespan and stored on app.state), "
        "share it, and hand out sessions with async_sessionmaker + Depends"
    )
    reason = _is_per_request(src, func, facts)
    if reason and _made_once_anyway(src, func, call):
        return None
    if reason:
        return CodeFinding(
            src.path, call.lineno, call.col_offset + 1, ids.ENGINE_PER_REQUEST, "critical",
            f"{factory}() inside {where}, {reason}: every request builds a new engine and pool, so connections "
            f"are opened per request and pile up until garbage collection (no pooling, no ceiling)",
            fix, src.anchors(call),
        )
    if _runs_once(src, func, facts) or _outlives_call(src, func, call) or in_test_code(src, func):
        return None
    return CodeFinding(
        src.path, call.lineno, call.col_offset + 1, ids.ENGINE_PER_REQUEST, "warning",
        f"{factory}() inside {where}: each call builds a new engine and pool that nothing returns, stores or "
        f"disposes; if {where} runs per request, every call leaves its connections open",
        fix, src.anchors(call),
    )


def _overflow_findings(src: SourceFile, call: ast.Call, settings: dict[str, Setting]) -> list[CodeFinding]:
    found = []
    overflow, size = settings.get("max_overflow"), settings.get("pool_size")
    fix = "set a bounded max_overflow (e.g. max_overflow=10) and pool_size >= 1 so the pool has a ceiling"
    if overflow and overflow.kind == "literal" and overflow.value == -1:
        node = keyword(call, "max_overflow")
        found.append(CodeFinding(
            src.path, node.lineno, node.col_offset + 1, ids.UNBOUNDED_OVERFLOW, "critical",
            "max_overflow=-1: the pool has no ceiling, so under load each process opens as many connections as "
            "it has concurrent requests until PostgreSQL refuses them (too many clients)",
            fix, (*src.anchors(node), call.lineno),
        ))
    if size and size.kind == "literal" and size.value == 0:
        node = keyword(call, "pool_size")
        found.append(CodeFinding(
            src.path, node.lineno, node.col_offset + 1, ids.UNBOUNDED_OVERFLOW, "critical",
            "pool_size=0 means no limit: SQLAlchemy forces max_overflow=-1 and keeps every connection it ever "
            "opened",
            fix, (*src.anchors(node), call.lineno),
        ))
    return found


def _connect_args_ssl(src: SourceFile, call: ast.Call, settings: dict[str, Setting]) -> list[CodeFinding]:
    args = settings.get("connect_args")
    url = first_arg(call, "url")
    url_value = _setting(src, url).value if url is not None else None
    is_asyncpg = isinstance(url_value, str) and "+asyncpg" in url_value.split("://", 1)[0]
    if not (is_asyncpg and args and args.kind == "literal" and isinstance(args.value, dict)):
        return []
    if "sslmode" not in args.value:
        return []
    node = keyword(call, "connect_args")
    return [CodeFinding(
        src.path, node.lineno, node.col_offset + 1, ids.ASYNCPG_SSL, "critical",
        "connect_args={'sslmode': ...} with asyncpg: asyncpg.connect() has no sslmode argument, so the first "
        "connect raises TypeError: connect() got an unexpected keyword argument 'sslmode'",
        "use connect_args={'ssl': 'require'} (or ?ssl=require in the URL)", src.anchors(node),
    )]


def url_findings(src: SourceFile) -> list[CodeFinding]:
    """``sslmode=`` in any asyncpg URL string literal of the file (where it is written, not where used)."""
    found = []
    if "sslmode" not in src.text.lower() or src.is_test_file or _HANDLES_SSLMODE.search(src.text):
        return found  # a test, or code that rewrites sslmode (url.query.pop("sslmode"), .replace("sslmode", ...))
    for node in src.nodes:
        if isinstance(node, ast.Constant) and isinstance(src.parents.get(node), ast.JoinedStr):
            continue  # judged with the whole f-string below
        if isinstance(node, ast.JoinedStr):
            value = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
        else:
            continue
        if _ASYNCPG_SSLMODE.search(value):
            found.append(CodeFinding(
                src.path, node.lineno, node.col_offset + 1, ids.ASYNCPG_SSL, "critical",
                "sslmode= in a postgresql+asyncpg URL: SQLAlchemy passes every query key to asyncpg.connect(), "
                "which has no sslmode argument, so the first connect raises TypeError: connect() got an "
                "unexpected keyword argument 'sslmode'",
                "write ?ssl=require (or ssl=verify-full with a root certificate) instead of sslmode=",
                src.anchors(node),
            ))
    return found

"""A parsed Python file and the small AST helpers every rule shares (no import, no execution).

Names are resolved the way a reader would: ``sa.text`` and ``text`` (imported from sqlalchemy) both end
in ``text``; rules match on that last name so re-exports (``sqlmodel.create_engine``) are covered too.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from functools import cached_property

from planner.lint.newsyntax import downlevel, swap_nested_quotes

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
RUNNERS = frozenset({"run", "run_until_complete", "Fire"})
"""Calls that run the function (or coroutine) given as first argument once: ``asyncio.run``, ``anyio.run``,
``trio.run``, ``uvloop.run``, ``typer.run``, ``loop.run_until_complete``, ``fire.Fire``."""
SQLALCHEMY_MODULES = ("sqlalchemy", "sqlmodel")


@dataclass
class SourceFile:
    """One file: its text, tree and parent links. ``tree`` is None when it does not parse."""

    path: str
    text: str
    tree: ast.Module | None = None
    error: SyntaxError | None = None
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    nodes: list[ast.AST] = field(default_factory=list)
    """Every node of the tree, from one walk (the rules filter this list instead of walking again)."""

    where: str = ""
    """The path relative to the directory given to lint (test code is recognised from it); ``path`` if empty."""
    rewritten: bool = False
    """Syntax newer than the running Python was rewritten before parsing (``newsyntax.downlevel``)."""

    @classmethod
    def parse(cls, path: str, text: str, where: str = "") -> SourceFile:
        rewritten = False
        try:
            tree = ast.parse(text, filename=path)
        except SyntaxError as err:
            newer = downlevel(text)
            tree = _try_parse(newer, path) if newer is not None else None
            if tree is None:
                swapped = swap_nested_quotes(newer or text)
                tree = _try_parse(swapped, path) if swapped is not None else None
                newer = newer or swapped
            if tree is None:
                return cls(path, text, None, _explain(err, text, newer is not None))
            rewritten = True
        except (ValueError, RecursionError, MemoryError) as err:  # null bytes; nesting too deep for the parser
            return cls(path, text, None, SyntaxError(f"{type(err).__name__}: {err}".rstrip(": ")))
        src = cls(path, text, tree, where=where, rewritten=rewritten)
        stack: list[ast.AST] = [tree]
        while stack:  # one traversal for both the node list and the parent links
            node = stack.pop()
            src.nodes.append(node)
            for child in ast.iter_child_nodes(node):
                src.parents[child] = node
                stack.append(child)
        return src

    def ancestors(self, node: ast.AST):
        """Parents of ``node``, innermost first."""
        while node in self.parents:
            node = self.parents[node]
            yield node

    def enclosing_function(self, node: ast.AST) -> FunctionNode | None:
        """The innermost def/async def/lambda around ``node`` (a class body stops the search)."""
        for parent in self.ancestors(node):
            if isinstance(parent, FunctionNode):
                return parent
            if isinstance(parent, ast.ClassDef):
                return None
        return None

    def statement(self, node: ast.AST) -> ast.stmt:
        """The statement that contains ``node`` (the node itself when it is one)."""
        if isinstance(node, ast.stmt):
            return node
        for parent in self.ancestors(node):
            if isinstance(parent, ast.stmt):
                return parent
        raise ValueError("node outside any statement")  # pragma: no cover - every expression has one

    def anchors(self, node: ast.AST) -> tuple[int, ...]:
        """Lines where a silencing comment counts: the node's own line and its statement's first line."""
        try:
            return tuple(sorted({node.lineno, self.statement(node).lineno}))
        except ValueError:
            return (node.lineno,)

    @cached_property
    def calls(self) -> list[ast.Call]:
        return [n for n in self.nodes if isinstance(n, ast.Call)]

    @cached_property
    def imports(self) -> dict[str, str]:
        """Local name -> the module it was imported from (``text`` -> ``sqlalchemy``, ``sa`` -> ``sqlalchemy``)."""
        found: dict[str, str] = {}
        for node in self.nodes:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    found[alias.asname or alias.name] = node.module
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found[alias.asname or alias.name.split(".")[0]] = alias.name
        return found

    def from_sqlalchemy(self, func: ast.expr) -> bool:
        """``text``/``Session`` imported from sqlalchemy (or not imported at all: a star import), or
        ``sa.text``/``orm.Session`` on a sqlalchemy module; False for ``st.text``, ``requests.Session``."""
        if isinstance(func, ast.Name):
            module = self.imports.get(func.id)
            return module is None or module.startswith(SQLALCHEMY_MODULES)
        if isinstance(func, ast.Attribute):
            base = func.value
            while isinstance(base, ast.Attribute):
                base = base.value
            return isinstance(base, ast.Name) and self.imports.get(base.id, "").startswith(SQLALCHEMY_MODULES)
        return False

    @cached_property
    def class_names(self) -> set[str]:
        """Classes defined in this file, except subclasses of SQLAlchemy's Session/AsyncSession."""
        return {n.name for n in self.nodes if isinstance(n, ast.ClassDef)} - self.session_classes

    @cached_property
    def session_classes(self) -> set[str]:
        """Classes defined in this file that subclass ``Session``/``AsyncSession``: calling one opens a session."""
        return {
            n.name for n in self.nodes
            if isinstance(n, ast.ClassDef) and {last_name(b) for b in n.bases} & {"Session", "AsyncSession"}
        }

    @cached_property
    def import_origins(self) -> dict[str, str]:
        """Local name -> the name it has in its module (``sm`` -> ``sessionmaker`` for
        ``from sqlalchemy.orm import sessionmaker as sm``)."""
        return {
            alias.asname or alias.name: alias.name
            for node in self.nodes if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }

    def original_name(self, func: ast.expr) -> str | None:
        """The called name as its module spells it: an alias is followed back through its import."""
        name = last_name(func)
        if isinstance(func, ast.Name):
            return self.import_origins.get(name, name)
        return name

    @cached_property
    def run_once_names(self) -> set[str]:
        """Functions this file runs once, known from how they are called: at module level (Alembic's
        ``run_migrations_online()``, ``if __name__ == "__main__": main()``), or handed to an event-loop
        runner (``asyncio.run(main())``, ``anyio.run(main)``, ``loop.run_until_complete(f())``, ``typer.run(f)``)."""
        found: set[str] = set()
        for call in self.calls:
            name = last_name(call.func)
            if name in RUNNERS and call.args:
                target = call.args[0]
                target = target.func if isinstance(target, ast.Call) else target
                if last_name(target):
                    found.add(last_name(target))
            if isinstance(call.func, ast.Name) and self.enclosing_scope(call) is None:
                found.add(call.func.id)
        return found

    def enclosing_scope(self, node: ast.AST) -> ast.AST | None:
        """The innermost function or class around ``node`` (None at module level)."""
        for parent in self.ancestors(node):
            if isinstance(parent, FunctionNode | ast.ClassDef):
                return parent
        return None

    @cached_property
    def is_test_file(self) -> bool:
        """``tests/``/``test/`` directories, ``test_*.py``, ``*_test.py``, ``conftest.py``."""
        parts = (self.where or self.path).replace("\\", "/").split("/")
        name = parts[-1]
        return (
            any(p in ("tests", "test", "testing") for p in parts[:-1])
            or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
        )

    @cached_property
    def callers(self) -> dict[str, list[FunctionNode]]:
        """Called name (last part: ``f`` for ``f()`` and ``self.f()``) -> the functions whose own body calls it."""
        found: dict[str, list[FunctionNode]] = {}
        for defs in self.functions.values():
            for func in defs:
                for name in {last_name(n.func) for n in own_nodes(func) if isinstance(n, ast.Call)}:
                    if name:
                        found.setdefault(name, []).append(func)
        return found

    def assigned(self, scope: ast.AST) -> dict[str, list[ast.stmt]]:
        """Name -> the statements assigning it directly in ``scope`` (a function's own body, or the module's top
        level), in source order: ``x = ...``, ``x: T = ...``, ``x += ...``, ``with ... as x`` (computed once per
        scope)."""
        cache = self.__dict__.setdefault("_assigned", {})
        if scope not in cache:
            found: dict[str, list[ast.stmt]] = {}
            nodes = own_nodes(scope) if isinstance(scope, FunctionNode) else _module_level(scope)
            for n in nodes:
                if isinstance(n, ast.With | ast.AsyncWith):
                    targets = [i.optional_vars for i in n.items if i.optional_vars is not None]
                elif isinstance(n, ast.Assign):
                    targets = n.targets
                elif isinstance(n, ast.AnnAssign | ast.AugAssign) and n.value is not None:
                    targets = [n.target]
                else:
                    targets = []
                for t in targets:
                    if isinstance(t, ast.Name):
                        found.setdefault(t.id, []).append(n)
            for stmts in found.values():
                stmts.sort(key=lambda n: (n.lineno, n.col_offset))
            cache[scope] = found
        return cache[scope]

    @cached_property
    def functions(self) -> dict[str, list[FunctionNode]]:
        """Functions and methods by name (a name may be defined more than once)."""
        found: dict[str, list[FunctionNode]] = {}
        for n in self.nodes:
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
                found.setdefault(n.name, []).append(n)
        return found


def _try_parse(text: str, path: str) -> ast.Module | None:
    try:
        return ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def _explain(err: SyntaxError, text: str, has_newer: bool) -> SyntaxError:
    """The parser's error, with what it means when the line may be valid in a newer Python."""
    lines = text.splitlines()
    line = lines[err.lineno - 1] if err.lineno and err.lineno <= len(lines) else ""
    hint = ""
    if "f'" in line or 'f"' in line or "F'" in line or 'F"' in line:
        hint = (f"; if this is a Python 3.12+ f-string (its own quotes or a line break inside the braces), "
                f"Python {RUNNING}, which runs lint, cannot read it: run lint with Python 3.12+")
    elif has_newer:
        hint = (f" (the file also uses Python 3.12+ syntax; lint, running on Python {RUNNING}, rewrote what it "
                f"could and still cannot read this line)")
    return SyntaxError(f"{err.msg}{hint}", (err.filename, err.lineno, err.offset, err.text))


def last_name(node: ast.AST) -> str | None:
    """``sa.orm.Session`` -> ``Session``, ``text`` -> ``text``, anything else -> None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def call_name(call: ast.Call) -> str | None:
    return last_name(call.func)


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def first_arg(call: ast.Call, kw: str | None = None) -> ast.expr | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return keyword(call, kw) if kw else None


def decorator_names(func: FunctionNode) -> list[str]:
    """Last names of a function's decorators: ``@app.get("/")`` -> ``get``, ``@lru_cache`` -> ``lru_cache``."""
    if isinstance(func, ast.Lambda):
        return []
    names = []
    for dec in func.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = last_name(target)
        if name:
            names.append(name)
    return names


def function_label(func: FunctionNode) -> str:
    return "a lambda" if isinstance(func, ast.Lambda) else f"{func.name}()"


def own_nodes(func: FunctionNode):
    """Nodes of ``func``'s body, not descending into nested functions or classes."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))


def assignments(scope: ast.AST, name: str) -> list[ast.expr]:
    """Values assigned to ``name`` directly in ``scope`` (a function, or the module's top level)."""
    nodes = own_nodes(scope) if isinstance(scope, FunctionNode) else _module_level(scope)
    values = []
    for node in nodes:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            values.append(node.value)
        elif (
            isinstance(node, ast.AnnAssign | ast.AugAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
            and node.value is not None
        ):
            values.append(node.value if isinstance(node, ast.AnnAssign) else node)
    return values


def _module_level(module: ast.AST):
    """Top-level statements, including those under module-level if/try (not inside defs or classes)."""
    stack = list(getattr(module, "body", []))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If | ast.Try | ast.With):
            for name in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(node, name, []))
        if isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)


def resolve_name(src: SourceFile, node: ast.expr) -> tuple[ast.expr, int | None]:
    """Follow a Name assigned exactly once in its function (or at module level) to its value.

    Returns ``(value, line_of_assignment)``, or ``(node, None)`` when it cannot be followed simply.
    """
    if not isinstance(node, ast.Name):
        return node, None
    func = src.enclosing_function(node)
    if func is not None and node.id in {a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)}:
        return node, None
    for scope in (func, src.tree) if func is not None else (src.tree,):
        values = assignments(scope, node.id)
        if len(values) == 1 and not isinstance(values[0], ast.AugAssign):
            return values[0], values[0].lineno
        if values:
            return node, None
    return node, None


def literal(node: ast.expr):
    """The Python value of a literal (numbers, strings, -1, dicts of literals), else raises ValueError."""
    return ast.literal_eval(node)

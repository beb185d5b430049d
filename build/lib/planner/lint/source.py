"""A parsed Python file and the small AST helpers every rule shares (no import, no execution).

Names are resolved the way a reader would: ``sa.text`` and ``text`` (imported from sqlalchemy) both end
in ``text``; rules match on that last name so re-exports (``sqlmodel.create_engine``) are covered too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
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

    @classmethod
    def parse(cls, path: str, text: str) -> SourceFile:
        try:
            tree = ast.parse(text, filename=path)
        except SyntaxError as err:
            return cls(path, text, None, err)
        except (ValueError, RecursionError, MemoryError) as err:  # null bytes; nesting too deep for the parser
            return cls(path, text, None, SyntaxError(f"{type(err).__name__}: {err}".rstrip(": ")))
        src = cls(path, text, tree)
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
    def functions(self) -> dict[str, list[FunctionNode]]:
        """Functions and methods by name (a name may be defined more than once)."""
        found: dict[str, list[FunctionNode]] = {}
        for n in self.nodes:
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
                found.setdefault(n.name, []).append(n)
        return found


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

"""The syntax check ``safe_exec`` runs before RestrictedPython sees the program.

RestrictedPython's own transformer is the second line. This first line refuses, with
one clear :class:`~safeops.errors.UnsafeExpressionError`, the constructs behind the
published escapes and the ones that only add attack surface to a statement sandbox:

- ``try/except*`` (CVE-2025-22153: type confusion in CPython's ``except*`` handling
  bypassed RestrictedPython's guards);
- ``yield`` / ``yield from`` (generator functions) and every ``async``/``await``
  construct: a suspended generator or coroutine carries a live frame, the door used by
  CVE-2023-37271 (``gi_frame.f_back.f_globals``);
- ``match`` (class patterns read attributes through ``__match_args__`` without the
  ``_getattr_`` guard);
- ``import``, ``class`` statements (metaclasses, ``__build_class__``), ``nonlocal``;
- a bare ``except:`` (it would swallow the limit signal and, in-process, a real Ctrl-C);
- every identifier, parameter, keyword argument or attribute that starts with ``_``
  (dunders, and RestrictedPython's hooks ``_getattr_``, ``_print_``, ... which a
  parameter or assignment could otherwise shadow), ``printed`` excepted as usual.

Generator *expressions*, comprehensions, ``lambda``, nested ``def`` and ``global`` are
allowed: they create frames, but frames are reachable only through attributes
(``gi_frame``, ``tb_frame``, ``f_back``), and every attribute read goes through the
``_getattr_`` guard, which refuses those names and any frame, traceback, code or
module it would return. ``global`` can only rebind names of the program's own
namespace, and names starting with ``_`` are refused anyway.

The walk is iterative with explicit size and depth budgets, so a hostile program can
exhaust neither the C stack nor memory here. Names are checked as the parser left them
(NFKC-normalised, the way CPython resolves them).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from safeops._permits import granted
from safeops.errors import UnsafeExpressionError, quote
from safeops.evaluate._exec_limits import ExecLimits

__all__ = ["check_program", "parse_program"]

#: Statement and expression types refused outright, with the reason given to the user.
_REFUSED: dict[str, str] = {
    "TryStar": "try/except* is refused: CPython's except* handling allowed a type "
    "confusion that escaped RestrictedPython (CVE-2025-22153)",
    "Match": "match statements are refused: class patterns read attributes without "
    "the attribute guard",
    "Yield": "generator functions (yield) are refused: a suspended generator carries "
    "a live frame (CVE-2023-37271)",
    "YieldFrom": "generator functions (yield from) are refused: a suspended generator "
    "carries a live frame (CVE-2023-37271)",
    "Await": "async code is refused: coroutines carry live frames",
    "AsyncFunctionDef": "async code is refused: coroutines carry live frames",
    "AsyncFor": "async code is refused: coroutines carry live frames",
    "AsyncWith": "async code is refused: coroutines carry live frames",
    "Import": "import is refused: the sandbox has no modules; pass data in `names`",
    "ImportFrom": "import is refused: the sandbox has no modules; pass data in `names`",
    "ClassDef": "class statements are refused: metaclass and __build_class__ machinery "
    "is attack surface; use dicts and functions",
    "Nonlocal": "nonlocal is refused",
    "TypeAlias": "type statements are refused",
    "TemplateStr": "template strings are refused",
}

#: Names RestrictedPython reads back from the namespace, besides the ``_``-prefixed hooks.
_RESERVED = frozenset({"printed"})


def parse_program(source: object, limits: ExecLimits) -> ast.Module:
    """Parse *source* after checking its type and length; refuse what cannot parse."""
    if not isinstance(source, str):
        raise UnsafeExpressionError(
            f"safe_exec takes source text (str), not {type(source).__name__}",
            source_type=type(source).__name__,
        )
    if len(source) > limits.max_source_length:
        raise UnsafeExpressionError(
            f"source of {len(source)} characters is longer than max_source_length="
            f"{limits.max_source_length}; raise ExecLimits.max_source_length deliberately",
            limit="max_source_length",
            actual=len(source),
        )
    try:
        with granted("dynamic_code", reason="safe_exec parses a program to check it",
                     subject=source):
            tree = ast.parse(source, "<safe_exec>", "exec")
    except SyntaxError as error:
        raise UnsafeExpressionError(
            f"source does not parse: {error.msg} (line {error.lineno})",
            reason="syntax",
        ) from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as error:
        # Deep nesting or NUL bytes: the parser refuses, it must not take us down.
        raise UnsafeExpressionError(
            f"source cannot be parsed safely ({type(error).__name__})", reason="parser"
        ) from None
    return tree


def check_program(tree: ast.Module, limits: ExecLimits) -> frozenset[str]:
    """Refuse the constructs listed in the module docstring.

    Returns the names the program assigns at module level (what ``safe_exec`` hands
    back), including names a function declares ``global``.
    """
    assigned: set[str] = set()
    nodes = 0
    # (node, depth, in the module's own scope, outside functions (comprehensions count))
    stack: list[tuple[ast.AST, int, bool, bool]] = [(tree, 0, True, True)]
    while stack:
        node, depth, top_level, module_scope = stack.pop()
        nodes += 1
        if nodes > limits.max_ast_nodes:
            raise UnsafeExpressionError(
                f"program has more than max_ast_nodes={limits.max_ast_nodes} syntax nodes",
                limit="max_ast_nodes",
            )
        if depth > limits.max_ast_depth:
            raise UnsafeExpressionError(
                f"program is nested deeper than max_ast_depth={limits.max_ast_depth}",
                limit="max_ast_depth",
            )
        _check_node(node)
        for name in _bound_names(node):
            _check_identifier(name, node)
        if top_level and isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            assigned.add(node.id)
        elif isinstance(node, ast.Global):
            assigned.update(node.names)
        elif top_level and isinstance(node, ast.FunctionDef):
            assigned.add(node.name)
        elif module_scope and isinstance(node, ast.NamedExpr):
            # `(y := ...)` in a comprehension binds y in the enclosing (module) scope.
            assigned.add(node.target.id)
        # Function bodies, lambdas and comprehensions open a new scope.
        child_top = top_level and not isinstance(
            node, (ast.FunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                   ast.GeneratorExp)
        )
        child_module = module_scope and not isinstance(node, (ast.FunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1, child_top, child_module))
    return frozenset(assigned)


def _check_node(node: ast.AST) -> None:
    kind = type(node).__name__
    if kind in _REFUSED:
        _refuse(node, _REFUSED[kind])
    if isinstance(node, ast.ExceptHandler) and node.type is None:
        _refuse(node, "a bare `except:` is refused (it would swallow limit signals); "
                "write `except Exception:`")
    if isinstance(node, ast.Compare) and len(node.ops) > 1 and any(
        isinstance(op, (ast.In, ast.NotIn)) for op in node.ops
    ):
        _refuse(node, "chained comparisons with `in` are refused; split them with `and`")
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        _refuse(node, f"attribute {quote(node.attr)} starts with '_' and is refused")


def _bound_names(node: ast.AST) -> Iterator[str]:
    """Every identifier *node* reads, binds or passes as a keyword."""
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
        yield node.arg  # type: ignore[misc]
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        yield from node.names
    elif isinstance(node, ast.alias):
        yield node.name
        if node.asname:
            yield node.asname
    elif isinstance(node, (ast.ExceptHandler, ast.MatchAs)) and node.name:
        yield node.name


def _check_identifier(name: str, node: ast.AST) -> None:
    if name.startswith("_"):
        _refuse(node, f"name {quote(name)} starts with '_' and is refused (dunders and "
                "RestrictedPython's guard hooks are out of reach)")
    if name in _RESERVED and isinstance(node, (ast.arg, ast.FunctionDef)):
        _refuse(node, f"name {quote(name)} is reserved by the sandbox")


def _refuse(node: ast.AST, reason: str) -> None:
    line = getattr(node, "lineno", None)
    where = f" (line {line})" if line is not None else ""
    raise UnsafeExpressionError(f"{reason}{where}", construct=type(node).__name__, line=line)

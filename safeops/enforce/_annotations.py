"""Annotation text evaluated out of an object: is it a type, or code?

``typing.get_type_hints``, pydantic and ``inspect.get_annotations(eval_str=True)`` turn
annotation *strings* into types with ``eval``. The text reaches the evaluator inside an
object (a class's ``__annotations__``, a ``ForwardRef``), so caller attribution cannot
tell who wrote it: a model declared in source and a model built at run time from a
user-supplied schema (``pydantic.create_model(**schema)``, ``make_dataclass``, a
functional ``TypedDict``) look the same. What separates them is the text itself: an
annotation is a *type expression* (names, dotted names, subscripts, ``|``, constants),
sometimes with metadata constructed by a call (``Annotated[int, Field(gt=0)]``).

:func:`refusal` accepts exactly that shape and refuses everything else: boolean and
comparison operators, comprehensions, f-strings, walrus, attribute names that start with
``_``, dunder names, and calls whose callee is not a function or class of an installed
package or the application, reached by name (a builtin such as ``open`` or
``__import__``, anything from the standard library such as ``os.system``, or a method of
some object). Names are resolved in the evaluation namespaces the evaluator is about to
use, read as plain dicts: nothing the annotation names runs inside the hook.
"""

from __future__ import annotations

import ast
import builtins
import sys
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Final

__all__ = ["refusal"]

_TYPE_NODES: Final = (
    ast.Expression, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Tuple, ast.List,
    ast.Constant, ast.BinOp, ast.BitOr, ast.UnaryOp, ast.USub, ast.Call, ast.keyword,
    ast.Starred, ast.Slice, ast.Lambda, ast.arguments, ast.arg,
)  # fmt: skip
_STDLIB: Final = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins"}
_MODULE_OF: Final = type.__dict__["__module__"].__get__
_BUILTIN_NAMES: Final = frozenset(vars(builtins))
_MAX_TEXT: Final = 2000

#: Parsed shapes per annotation text: the refusal found by shape alone, or the callee
#: paths (``("Field",)``, ``("annotated_types", "Gt")``) left to resolve.
_shapes: dict[str, str | tuple[tuple[str, ...], ...]] = {}


def refusal(text: object, namespaces: tuple[object, ...]) -> str | None:
    """Why *text* is not an annotation (a reason to refuse evaluating it), or None.

    *namespaces* are the evaluation's locals/globals, innermost first; only ``dict``
    ones are read.
    """
    if type(text) is bytes:
        text = text.decode("utf-8", "replace")
    if type(text) is not str:
        return None
    shape = _shapes.get(text)
    if shape is None:
        shape = _shape(text)
        if len(_shapes) < 4096:
            _shapes[text] = shape
    if type(shape) is str:
        return shape
    assert isinstance(shape, tuple)
    for path in shape:
        reason = _callee_refusal(path, namespaces)
        if reason is not None:
            return reason
    return None


def _shape(text: str) -> str | tuple[tuple[str, ...], ...]:
    if len(text) > _MAX_TEXT:
        return f"an annotation of {len(text)} characters"
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return "text that does not parse as an expression"
    calls: list[tuple[str, ...]] = []
    for node in ast.walk(tree):
        if not isinstance(node, _TYPE_NODES):
            return f"{type(node).__name__} syntax, which no type expression uses"
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.BitOr):
            return "arithmetic, which no type expression uses"
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            return f"the dunder name {node.id}"
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return f"the private attribute .{node.attr}"
        if isinstance(node, ast.Call):
            path = _dotted(node.func)
            if path is None:
                return "a call of a computed callee (a method or a call result)"
            calls.append(path)
    return tuple(calls)


def _dotted(node: ast.expr) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return tuple(reversed(parts))


_UNRESOLVED: Final = object()


def _lookup(name: str, namespaces: tuple[object, ...]) -> object:
    for namespace in namespaces:
        if type(namespace) is dict and name in namespace:
            return dict.__getitem__(namespace, name)
    if name in _BUILTIN_NAMES:
        return vars(builtins)[name]
    return _UNRESOLVED


def _callee_refusal(path: tuple[str, ...], namespaces: tuple[object, ...]) -> str | None:
    value = _lookup(path[0], namespaces)
    for attribute in path[1:]:
        if value is _UNRESOLVED:
            return None  # a name the evaluation will not find: it raises NameError
        if type(value) is not ModuleType:
            return f"a call of a method ({'.'.join(path)})"
        value = vars(value).get(attribute, _UNRESOLVED)
    if value is _UNRESOLVED:
        return None
    module: object
    if type(value) is FunctionType or type(value) is BuiltinFunctionType:
        module = value.__module__
    elif isinstance(value, type):
        module = _MODULE_OF(value)
    else:
        return f"a call of {'.'.join(path)}, which is not a function or class"
    top = module.partition(".")[0] if type(module) is str else ""
    if top in _STDLIB or top.startswith("_"):
        return f"a call of {'.'.join(path)} (from {module}: builtins and the standard library)"
    return None

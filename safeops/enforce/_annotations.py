"""Annotation text evaluated out of an object: is it a type, or code?

``typing.get_type_hints``, pydantic and ``inspect.get_annotations(eval_str=True)`` turn
annotation *strings* into types with ``eval``. The text reaches the evaluator inside an
object (a class's ``__annotations__``, a ``ForwardRef``), so caller attribution cannot
tell who wrote it: a model declared in source and a model built at run time from a
user-supplied schema (``pydantic.create_model(**schema)``, ``make_dataclass``, a
functional ``TypedDict``) look the same. What separates them is the text itself: an
annotation is a *type expression* (names, dotted names, subscripts, ``|``, constants),
sometimes with metadata constructed by a call (``Annotated[int, Field(gt=0)]``).

:func:`refusal` accepts expressions and refuses the rest: calls are allowed only of
classes of installed packages or the application, of the application's own functions,
of known annotation factories (``pydantic.Field``, ``constr``..., FastAPI's ``Query``,
``Depends``...) and of a few converting builtins (``int``, ``len``...), each named
directly (``Field``, ``pydantic.Field``); builtins such as ``open`` or ``__import__``,
standard-library callables (``os.system``), other installed functions
(``yaml.unsafe_load``, ``sympy.sympify``), methods, attributes of computed values,
private and dunder names, comprehensions, walrus, f-strings and large exponents are
refused. Names are resolved in the namespaces the evaluator is about to use (dicts
read directly; pydantic's own lazy mapping asked for the name); nothing the annotation
names runs inside the hook. Whatever an accepted annotation then calls cannot compile
code either: attribution refuses any compile or exec nested inside an annotation's
evaluation.
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections.abc import Callable, Mapping
from types import CodeType, FrameType, FunctionType, ModuleType
from typing import Final

__all__ = ["annotation_text", "evaluator_codes", "evaluator_codes_of", "refusal"]

_TYPE_NODES: Final = (
    ast.Expression, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Tuple, ast.List,
    ast.Dict, ast.Set, ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare,
    ast.IfExp, ast.Call, ast.keyword, ast.Starred, ast.Slice, ast.Lambda, ast.arguments,
    ast.arg, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)  # fmt: skip
#: Exponents and shifts above this are refused: ``2**31 - 1`` is metadata, ``9**9**9`` a
#: hung process.
_MAX_EXPONENT: Final = 256
#: Builtins that only convert or measure (``Field(le=int(1e9))``).
_PURE_BUILTINS: Final = frozenset(
    {"int", "float", "str", "bool", "bytes", "tuple", "frozenset", "len", "min", "max", "abs"}
)
#: Functions (not classes) of installed packages that annotations call to build field
#: metadata: (top-level package, function name). Classes of installed packages are
#: allowed anyway; any other installed function is refused (``yaml.unsafe_load``,
#: ``sympy.sympify`` run code).
ANNOTATION_FACTORIES: Final = frozenset(
    {("pydantic", name) for name in (
        "Field", "PrivateAttr", "computed_field", "constr", "conint", "confloat", "conbytes",
        "conlist", "conset", "confrozenset", "condecimal", "condate",
    )}
    | {("fastapi", name) for name in (
        "Query", "Path", "Body", "Header", "Cookie", "Form", "File", "Depends", "Security",
    )}
    | {("sqlmodel", "Field"), ("sqlmodel", "Relationship")}
)  # fmt: skip
_STDLIB: Final = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins"}
_MODULE_OF: Final = type.__dict__["__module__"].__get__
_BUILTIN_NAMES: Final = frozenset(vars(builtins))
_MAX_TEXT: Final = 2000

#: Parsed shapes per annotation text: the refusal found by shape alone, or the callee
#: paths (``("Field",)``, ``("annotated_types", "Gt")``) left to resolve.
_shapes: dict[str, str | tuple[tuple[str, ...], ...]] = {}


def refusal(
    text: object,
    namespaces: tuple[object, ...],
    is_application: Callable[[str], bool] = lambda filename: False,
) -> str | None:
    """Why *text* is not an annotation (a reason to refuse evaluating it), or None.

    *namespaces* are the evaluation's locals/globals, innermost first.
    *is_application* tells whether a function's source file is application code (whose
    functions an annotation may call).
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
        reason = _callee_refusal(path, namespaces, is_application)
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
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.LShift)):
            exponent = node.right
            if not (
                isinstance(exponent, ast.Constant)
                and type(exponent.value) is int
                and abs(exponent.value) <= _MAX_EXPONENT
            ):
                return "an exponent or shift that is not a small constant"
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            return f"the dunder name {node.id}"
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                return f"the private attribute .{node.attr}"
            if _dotted(node) is None:
                return f"an attribute (.{node.attr}) of a computed value"
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
_UNKNOWN: Final = object()  # a namespace failed to answer


def _lookup(name: str, namespaces: tuple[object, ...]) -> object:
    for namespace in namespaces:
        if type(namespace) is dict:
            if name in namespace:
                return dict.__getitem__(namespace, name)
        elif isinstance(namespace, Mapping):
            # pydantic passes its own lazy Mapping of the model's defining scope: the
            # evaluation resolves names there, so the hook must too (trusted code's
            # mapping, asked only for a name the annotation uses).
            try:
                value = namespace.get(name, _UNRESOLVED)
            except Exception:  # any failure: judge as unresolvable
                return _UNKNOWN
            if value is not _UNRESOLVED:
                return value
    if name in _BUILTIN_NAMES:
        return vars(builtins)[name]
    return _UNRESOLVED


def _callee_refusal(
    path: tuple[str, ...], namespaces: tuple[object, ...], is_application: Callable[[str], bool]
) -> str | None:
    shown = ".".join(path)
    value = _lookup(path[0], namespaces)
    for attribute in path[1:]:
        if value is _UNRESOLVED:
            return None  # a name the evaluation will not find: it raises NameError
        if value is _UNKNOWN:
            return f"a call of {shown}, whose callee could not be resolved"
        if type(value) is not ModuleType:
            return f"a call of a method ({shown})"
        value = vars(value).get(attribute, _UNRESOLVED)
    if value is _UNRESOLVED:
        return None
    if value is _UNKNOWN:
        return f"a call of {shown}, whose callee could not be resolved"
    if value is vars(builtins).get(path[-1]) and path[-1] in _PURE_BUILTINS:
        return None
    if issubclass(type(value), type):
        module: object = _MODULE_OF(value)
        if _top(module) in _STDLIB or _top(module).startswith("_"):
            return f"a call of {shown} (a builtin or standard-library class)"
        return None  # a class of an installed package or the application
    if type(value) is FunctionType:
        code = value.__code__
        if is_application(code.co_filename):
            return None
        if (_top(value.__module__), code.co_name) in ANNOTATION_FACTORIES:
            return None
        return (
            f"a call of {shown}, a function of {value.__module__} that is not a known "
            "annotation factory"
        )
    return f"a call of {shown}, which is not an application function or a class"


def _top(module: object) -> str:
    return module.partition(".")[0] if type(module) is str else ""


_evaluator_codes: dict[str, frozenset[CodeType]] = {}


def evaluator_codes_of(module_name: str) -> frozenset[CodeType]:
    """The code objects of a module's annotation evaluator (with nested comprehension
    code), once the module is imported (never imported here)."""
    codes = _evaluator_codes.get(module_name)
    if codes is not None:
        return codes
    module = sys.modules.get(module_name)
    if module is None:
        return frozenset()
    if module_name == "typing":
        function = vars(vars(module)["ForwardRef"]).get("_evaluate")
    else:
        function = vars(module).get("get_annotations")
    if type(function) is not FunctionType:
        codes = frozenset()
    else:
        top = function.__code__
        codes = frozenset({top, *(c for c in top.co_consts if type(c) is CodeType)})
    _evaluator_codes[module_name] = codes
    return codes


def annotation_text(
    frame: FrameType, code: CodeType, values: list[object], source: object, text: str | None
) -> tuple[object, tuple[object, ...]] | None:
    """If *frame* is an annotation evaluator about to run *source*, the annotation text
    and the namespaces it will be evaluated in: ``typing.ForwardRef._evaluate`` (the
    ``exec`` of a ForwardRef's code; used by ``get_type_hints`` and pydantic) or
    ``inspect.get_annotations(eval_str=True)`` (the ``compile`` of the string)."""
    local_values = frame.f_locals
    if code in evaluator_codes_of("typing"):
        forward = values[0] if values else None
        forward_type = vars(sys.modules["typing"])["ForwardRef"]
        if not isinstance(forward, forward_type):
            return None
        slots = vars(forward_type)
        if slots["__forward_code__"].__get__(forward) is not source:
            return None
        namespaces = (local_values.get("localns"), local_values.get("globalns"))
        return slots["__forward_arg__"].__get__(forward), namespaces
    if text is not None and code in evaluator_codes_of("inspect"):
        return text, (local_values.get("locals"), local_values.get("globals"))
    return None


def evaluator_codes() -> frozenset[CodeType]:
    """The code objects of every annotation evaluator imported so far (cached once both
    typing and inspect are imported)."""
    both = _evaluator_codes.get("*")
    if both is not None:
        return both
    codes = evaluator_codes_of("typing") | evaluator_codes_of("inspect")
    if "typing" in _evaluator_codes and "inspect" in _evaluator_codes:
        _evaluator_codes["*"] = codes
    return codes

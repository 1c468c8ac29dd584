"""Annotation text evaluated out of an object: written in the program, or a type?

``typing.get_type_hints``, pydantic and ``inspect.get_annotations(eval_str=True)`` turn
annotation *strings* into types with ``eval``. The text reaches the evaluator inside an
object (a class's ``__annotations__``, a ``ForwardRef``), so caller attribution cannot
tell who wrote it: a model declared in source and a model built at run time from a
user-supplied schema (``pydantic.create_model(**schema)``, ``make_dataclass``, a
functional ``TypedDict``) look the same to the frames. Two tests separate them:

- **Written in the program.** The evaluation's globals name the module the annotation
  belongs to; if that module's source file holds the same expression (as an annotation,
  or as a string constant: ``Optional["User"]``, ``TypedDict("TD", {"a": "int"})``),
  the programmer wrote it, whatever it calls (``Field(default_factory=lambda: ...)``).
  Expressions are compared after ``ast.unparse``, the normal form PEP 563 stores.
- **Otherwise, only a type.** Text built at run time must be a plain type expression:
  names and dotted names (no dunder or private parts), subscripts, ``|``, tuples, lists
  and constants. No call, lambda, operator or anything else that could run code
  (attack reviews 2026-11-28: E3, F4, G1, G4).

Each source file is parsed once (cached); nothing the annotation names is resolved or
run inside the hook.
"""

from __future__ import annotations

import ast
import linecache
import sys
from types import CodeType, FrameType, FunctionType
from typing import Final

__all__ = [
    "annotation_text",
    "evaluator_codes",
    "evaluator_codes_of",
    "is_forward_ref_compile",
    "refusal",
]

_TYPE_NODES: Final = (
    ast.Expression, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Tuple, ast.List,
    ast.Constant, ast.BinOp, ast.BitOr, ast.Starred, ast.Slice,
)  # fmt: skip
_MAX_TEXT: Final = 2000
#: String constants longer than this are not indexed (docstrings, messages).
_MAX_CONSTANT: Final = 300

#: Verdicts on annotation text built at run time (None: a type expression).
_shapes: dict[str, str | None] = {}
#: Per source file: the normal forms of its annotations and expression-like strings.
_sources: dict[str, frozenset[str]] = {}


def refusal(text: object, namespaces: tuple[object, ...]) -> str | None:
    """Why *text* must not be evaluated as an annotation, or None.

    *namespaces* are the evaluation's locals and globals, innermost first; the last
    ``dict`` with a ``__file__`` names the module whose source may hold the text.
    """
    if type(text) is bytes:
        text = text.decode("utf-8", "replace")
    if type(text) is not str:
        return None
    if _written_in_source(text, namespaces):
        return None
    verdict = _shapes.get(text, "")
    if verdict == "":
        verdict = _shape(text)
        if len(_shapes) < 4096:
            _shapes[text] = verdict
    return verdict


def _written_in_source(text: str, namespaces: tuple[object, ...]) -> bool:
    normal = _normal_form(text)
    if normal is None:
        return False
    for namespace in namespaces:
        if type(namespace) is not dict:
            continue
        filename = dict.get(namespace, "__file__")
        if type(filename) is str and normal in _source_index(filename):
            return True
    return False


def _normal_form(text: str) -> str | None:
    if len(text) > _MAX_TEXT:
        return None
    try:
        return ast.unparse(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _source_index(filename: str) -> frozenset[str]:
    """The annotations and expression-like string constants of a Python source file, in
    normal form (cached per file; an unreadable file indexes nothing)."""
    index = _sources.get(filename)
    if index is not None:
        return index
    found: set[str] = set()
    if filename.endswith((".py", ".pyw")):
        try:
            tree = ast.parse("".join(linecache.getlines(filename)))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
        for node in ast.walk(tree) if tree is not None else ():
            annotation = None
            if isinstance(node, (ast.AnnAssign, ast.arg)):
                annotation = node.annotation
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                annotation = node.returns
            if annotation is not None:
                found.add(ast.unparse(annotation))
            if (
                isinstance(node, ast.Constant)
                and type(node.value) is str
                and len(node.value) <= _MAX_CONSTANT
            ):
                normal = _normal_form(node.value)
                if normal is not None:
                    found.add(normal)
    index = frozenset(found)
    if len(_sources) < 4096:
        _sources[filename] = index
    return index


def _shape(text: str) -> str | None:
    if len(text) > _MAX_TEXT:
        return f"an annotation of {len(text)} characters"
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "text that does not parse as an expression"
    for node in ast.walk(tree):
        if not isinstance(node, _TYPE_NODES):
            return (
                f"{type(node).__name__} syntax, which no type expression built at run time "
                "uses"
            )
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.BitOr):
            return "an operator other than |"
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            return f"the dunder name {node.id}"
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return f"the private attribute .{node.attr}"
    return None


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


_forward_init: list[CodeType] = []


def is_forward_ref_compile(code: CodeType) -> bool:
    """Whether *code* is ``typing.ForwardRef.__init__``, which compiles its text in eval
    mode and never runs it: running it is ``ForwardRef._evaluate``'s ``exec``, judged
    by :func:`refusal`. (Nested quoted references such as ``Optional["User"]`` are
    compiled from the ``<string>`` code of the outer annotation.)"""
    if not _forward_init:
        typing_module = sys.modules.get("typing")
        if typing_module is None:
            return False
        init = vars(vars(typing_module)["ForwardRef"]).get("__init__")
        if type(init) is not FunctionType:
            return False
        _forward_init.append(init.__code__)
    return code is _forward_init[0]

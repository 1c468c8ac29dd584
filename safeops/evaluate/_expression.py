"""``compile_expr`` and ``safe_eval``: expressions validated once, run as native bytecode.

An expression is parsed, checked against the allow-list and rewritten with guards where
safety depends on run-time values (see ``_rewrite``), then compiled *once* into the body
of a function whose parameters are the declared variables. Calling an
:class:`Expression` calls that function: variables are fast locals, the globals are a
fixed read-only namespace holding only the allowed builtins, the host's vetted functions
and the guards. There is no ``__builtins__`` module to fall back on, no per-call
``eval`` and no per-call audit event.

Two code objects are built: one for the general case and one, with fewer guards, for the
common case where every variable is a float, a bool or an int of at most 64 bits; each
call picks one after looking at the values' exact types.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import time
import types
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, cast, runtime_checkable

from safeops._permits import granted
from safeops.errors import (
    EvaluatedCodeError,
    EvaluationLimitError,
    EvaluationMemoryError,
    SafeOpsError,
    UnsafeExpressionError,
    quote,
)
from safeops.evaluate._guards import GUARD_NAMES, make_guards
from safeops.evaluate._limits import ExpressionLimits, check_source, check_tree
from safeops.evaluate._policy import SCALAR_TYPES, vet_function, vet_value
from safeops.evaluate._rewrite import SAFE_BUILTINS, Rewriter

__all__ = ["DEFAULT_LIMITS", "Expression", "NamesMismatchError", "compile_expr"]

DEFAULT_LIMITS = ExpressionLimits()
_SMALL_INT = 2**63
_BUDGET = GUARD_NAMES["budget"]
_FUNCTION_NAME = "safeops_expression"
# reachable only through guards
_NOT_IN_SCOPE = frozenset({"pow", "range", "sum", "zip", "enumerate"})
_BUILTINS = types.MappingProxyType(
    {name: getattr(builtins, name) for name in SAFE_BUILTINS - _NOT_IN_SCOPE}
)


def _check_identifier(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise UnsafeExpressionError(f"{what} name {quote(name)} is not a Python identifier")
    if unicodedata.normalize("NFKC", name) != name:
        raise UnsafeExpressionError(
            f"{what} name {quote(name)} is not in NFKC form; the parser normalises "
            f"identifiers, so use {unicodedata.normalize('NFKC', name)!r}"
        )
    if name.startswith("_"):
        raise UnsafeExpressionError(f"{what} name {name!r} starts with '_', which is refused")
    if name in SAFE_BUILTINS:
        # A shadowed builtin would change what the checks assume about a call
        # (max() returns a number, range() is bounded): pick another name instead.
        raise UnsafeExpressionError(
            f"{what} name {name!r} would shadow the allowed builtin; use another name"
        )
    return name


class NamesMismatchError(UnsafeExpressionError):
    """The values given do not match the declared variable names (internal leaf)."""


@runtime_checkable
class Expression(Protocol):
    """A validated, compiled expression, as returned by :func:`compile_expr`.

    Call it with the variable values as keywords, ``expr(a=1, b=2)``, or pass a mapping
    to ``expr.evaluate(values)``. Every declared variable must be given, and nothing
    else. Values must be plain data (None, bool, int, float, complex, str, bytes and
    lists, tuples, dicts, sets of them); containers are copied, so the expression never
    sees or mutates the caller's objects. Safe to share between threads: per-call state
    lives in the call's own frame.

    Raises :class:`UnsafeExpressionError` for a refused value or a missing or unknown
    variable, :class:`EvaluationLimitError` when a guarded operation would exceed a
    limit, and :class:`EvaluatedCodeError` (with the original as ``__cause__``) when the
    expression itself raises (``1 / 0``).

    The object is the compiled function itself, carrying ``source``, ``names``,
    ``functions`` and ``evaluate``: calling any other callable type from Python goes
    through a slower protocol (measured at 2-4x the whole cost of native ``eval`` on
    CPython 3.11), which would defeat the point. Its attributes describe it; changing
    them changes nothing about what it runs.
    """

    source: str
    names: tuple[str, ...]
    functions: Mapping[str, Callable[..., Any]]

    def __call__(self, /, **values: object) -> Any:
        """Evaluate with the variable values given as keyword arguments."""

    def evaluate(self, values: Mapping[str, object]) -> Any:
        """Evaluate with the variable values in the mapping *values*."""


def compile_expr(
    source: str,
    *,
    names: Iterable[str] = (),
    functions: Mapping[str, Callable[..., Any]] | None = None,
    limits: ExpressionLimits | None = None,
    unsafe_allow_any_function: bool = False,
) -> Expression:
    """Validate *source* once and return a reusable :class:`Expression`.

    *names* declares the variables the expression may read (their values are given at
    each call). *functions* maps extra callable names to host functions; each is vetted
    (modules, classes, code-running and attribute-walking builtins, functions of the
    process and import modules are refused unless *unsafe_allow_any_function* is set).
    Raises :class:`UnsafeExpressionError` for anything outside the allow-list and
    :class:`EvaluationLimitError` for source over the *limits* (checked before parsing).
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(limits, ExpressionLimits):
        raise UnsafeExpressionError("limits must be an ExpressionLimits instance")
    if not isinstance(source, str):
        raise UnsafeExpressionError(f"source must be str, not {type(source).__name__}")
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise UnsafeExpressionError("names must be a collection of variable names")
    if functions is not None and not isinstance(functions, Mapping):
        raise UnsafeExpressionError("functions must be a mapping of name to function")
    variables = tuple(_check_identifier(name, "variable") for name in names)
    if len(variables) > limits.max_names:
        raise EvaluationLimitError(
            f"{len(variables)} variables declared, more than max_names={limits.max_names}",
            limit="max_names",
            maximum=limits.max_names,
        )
    if len(set(variables)) != len(variables):
        raise UnsafeExpressionError(f"duplicate variable names in {variables!r}")
    host_functions = dict(functions or {})
    for name, function in host_functions.items():
        _check_identifier(name, "function")
        if name in variables:
            raise UnsafeExpressionError(f"{name!r} is declared both as a variable and a function")
        vet_function(name, function, unsafe_allow_any=unsafe_allow_any_function)
    check_source(source, limits)
    tree = _parse(source, limits)
    general = Rewriter(variables, host_functions, limits, numeric_variables=False)
    general_tree = general.rewrite(tree)
    fast = Rewriter(variables, host_functions, limits, numeric_variables=True)
    fast_tree = fast.rewrite(tree)
    namespace: dict[str, Any] = {"__builtins__": _BUILTINS, **make_guards(limits)}
    namespace.update(_BUILTINS)
    namespace.update(host_functions)
    namespace.update(_runtime_helpers(variables, limits))
    function = _build(general_tree, fast_tree, fast.uses_guards, variables, namespace)
    def evaluate(values: Mapping[str, object]) -> Any:
        try:
            return function(**values)
        except TypeError as error:  # only argument binding: the body wraps its own errors
            raise UnsafeExpressionError(
                f"variable values must be a mapping with str keys ({error})"
            ) from None

    function.source = source  # type: ignore[attr-defined]
    function.names = variables  # type: ignore[attr-defined]
    function.functions = types.MappingProxyType(host_functions)  # type: ignore[attr-defined]
    function.evaluate = evaluate  # type: ignore[attr-defined]
    function.__doc__ = f"safeops expression {quote(source)}; variables {variables!r}"
    expression = cast(Expression, function)
    return expression


def _parse(source: str, limits: ExpressionLimits) -> ast.Expression:
    try:
        with granted("dynamic_code", reason="safe_eval/compile_expr: parse only", subject=source):
            tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError) as error:  # ValueError: NUL bytes before 3.12
        message = error.msg if isinstance(error, SyntaxError) else str(error)
        raise UnsafeExpressionError(
            f"not a valid expression: {quote(message)} (statements are refused; "
            "use safe_exec for statements)",
            argument="source",
        ) from None
    except (RecursionError, MemoryError):
        raise EvaluationLimitError(
            "expression too deeply nested to parse", limit="max_depth"
        ) from None
    check_tree(tree, limits)
    return tree


# The function every Expression runs. Only identifiers validated by _check_identifier are
# substituted into it; _g_FAST and _g_GENERAL are replaced by the rewritten expression
# trees after parsing, so no attacker text is ever parsed as part of this template.
_TEMPLATE = """
def safeops_expression({parameters}**_g_extra):
    try:
        if not _g_extra{checks}:
            {fast_budget}return _g_FAST
        {unpack}_g_vet(_g_extra, {arguments})
        _g_budget = _g_new_budget()
        return _g_GENERAL
    except _g_SafeOpsError:
        raise
    except _g_KeyboardInterrupt:
        raise
    except _g_BaseException as _g_error:
        raise _g_wrap(_g_error) from _g_error
"""
# The int range test first compares against a one-digit (30-bit) bound: CPython's
# specialised int comparison only handles such ints, and a comparison that keeps failing
# to specialise made every call several times slower (measured on 3.11).
_FAST_CHECK = (
    " and ((_g_kind := _g_type({name})) is _g_float or (_g_kind is _g_int and"
    " (-1073741823 <= {name} <= 1073741823 or -{bound} <= {name} <= {bound}))"
    " or _g_kind is _g_bool)"
)


def _runtime_helpers(variables: tuple[str, ...], limits: ExpressionLimits) -> dict[str, Any]:
    missing = object()
    max_length, max_iterations, max_time = limits.max_length, limits.max_iterations, limits.max_time
    clock = time.monotonic

    def new_budget() -> list[Any]:
        return [max_length, max_iterations, clock() + max_time]

    def vet(extra: Mapping[str, object], *values: object) -> tuple[object, ...]:
        if extra or any(value is missing for value in values):
            pairs = zip(variables, values, strict=True)
            given = set(extra) | {name for name, value in pairs if value is not missing}
            raise NamesMismatchError(
                f"expression variables mismatch: missing {sorted(set(variables) - given)}, "
                f"not declared {[quote(name) for name in sorted(extra)[:10]]}; give exactly "
                "the names declared in compile_expr(names=...)"
            )
        return tuple(
            value if type(value) in SCALAR_TYPES else vet_value(name, value, limits)
            for name, value in zip(variables, values, strict=True)
        )

    return {
        "_g_vet": vet, "_g_missing": missing, "_g_wrap": _wrap_error,
        "_g_new_budget": new_budget,
        "_g_SafeOpsError": SafeOpsError, "_g_KeyboardInterrupt": KeyboardInterrupt,
        "_g_BaseException": BaseException, "_g_float": float, "_g_bool": bool,
        "_g_int": int, "_g_type": type,
    }  # fmt: skip


def _wrap_error(error: BaseException) -> SafeOpsError:
    # KeyboardInterrupt is re-raised before this: no expression can name or raise it, so
    # one arriving here is a real Ctrl-C. SystemExit/GeneratorExit from host functions
    # are wrapped like any other error.
    if isinstance(error, RecursionError):
        return EvaluationLimitError("expression recursed too deeply", limit="recursion")
    if isinstance(error, MemoryError):
        return EvaluationMemoryError("expression ran out of memory", limit="memory")
    message = str(error)[:1000]  # built once, bounded (a C message can embed a repr)
    return EvaluatedCodeError(
        f"the expression raised {type(error).__name__}: {quote(message, 200)[1:-1]}",
        error_type=type(error).__name__,
        error_message=message,
    )


class _Splice(ast.NodeTransformer):
    def __init__(self, trees: Mapping[str, ast.expr]) -> None:
        self.trees = trees

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.trees.get(node.id, node)


def _build(
    general: ast.Expression, fast: ast.Expression, fast_budget: bool,
    variables: tuple[str, ...], namespace: dict[str, Any],
) -> Callable[..., Any]:  # fmt: skip
    text = _TEMPLATE.format(
        parameters="".join(f"{name}=_g_missing, " for name in variables)
        and "*, " + "".join(f"{name}=_g_missing, " for name in variables),
        checks="".join(_FAST_CHECK.format(name=name, bound=_SMALL_INT) for name in variables),
        fast_budget="_g_budget = _g_new_budget()\n            "
        if fast_budget
        else "",
        unpack=f"{', '.join(variables)}, = " if variables else "",
        arguments=", ".join(variables),
    )
    with granted("dynamic_code", reason="compile_expr: parse safeops' own template", subject=text):
        template = ast.parse(text)
    module = _Splice({"_g_FAST": fast.body, "_g_GENERAL": general.body}).visit(template)
    module = ast.fix_missing_locations(module)
    # Defaults (_g_missing) are evaluated when the def runs; bind them by hand instead.
    try:
        with granted("dynamic_code", reason="compile_expr: compile validated AST", subject=module):
            code = compile(module, "<safeops expression>", "exec", dont_inherit=True)
            body = next(const for const in code.co_consts if isinstance(const, types.CodeType))
            function = types.FunctionType(body, namespace, _FUNCTION_NAME)
    except (RecursionError, MemoryError):
        raise EvaluationLimitError(
            "expression too deeply nested to compile", limit="max_depth"
        ) from None
    except SyntaxError as error:  # e.g. a name that is both a variable and a comprehension
        raise UnsafeExpressionError(f"expression cannot be compiled: {quote(error.msg)}") from None
    function.__kwdefaults__ = dict.fromkeys(variables, namespace["_g_missing"]) or None
    return function

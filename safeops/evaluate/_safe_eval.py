"""``safe_eval``: one call for literal or expression evaluation, with a compile cache.

Expression mode caches the validated, compiled :class:`Expression` keyed on the source,
the variable names, the identities of the host functions and the limits, so evaluating
the same text again costs a dictionary lookup plus the run. The cache holds the
functions it was built with, so an identity in a key can never be reused by another
object while the entry lives. It is bounded (the oldest entries are dropped first),
guarded by a lock and reset in a forked child.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal

from safeops.errors import EvaluationLimitError, UnsafeExpressionError, quote
from safeops.evaluate._expression import (
    DEFAULT_LIMITS,
    Expression,
    NamesMismatchError,
    compile_expr,
)
from safeops.evaluate._limits import ExpressionLimits
from safeops.evaluate._literal import literal_eval

__all__ = ["safe_eval"]

_CACHE_SIZE = 256
_cache: dict[Hashable, Expression] = {}
_lock = threading.Lock()


def _reset_after_fork() -> None:
    global _lock  # noqa: PLW0603
    _lock = threading.Lock()  # a lock held by another thread at fork time stays held


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def safe_eval(
    source: str,
    names: Mapping[str, object] | None = None,
    *,
    mode: Literal["expression", "literal"] = "expression",
    functions: Mapping[str, Callable[..., Any]] | None = None,
    limits: ExpressionLimits | None = None,
) -> Any:
    """Evaluate *source* safely and return its value.

    ``mode="expression"`` (the default): a formula over the variables in *names* (a
    mapping of name to value), the allowed builtins and the host *functions*; see
    :func:`compile_expr` for what is allowed. ``mode="literal"``: exactly
    :func:`ast.literal_eval` semantics, with limits checked before parsing; *names* and
    *functions* must then be None.
    """
    if mode != "expression":
        if mode == "literal":
            if names is not None or functions is not None:
                raise UnsafeExpressionError("literal mode takes no names or functions")
            return literal_eval(source, limits)
        raise UnsafeExpressionError(f"unknown mode {quote(mode)}; use 'expression' or 'literal'")
    values = {} if names is None else names
    if type(values) is not dict and not isinstance(values, Mapping):
        raise UnsafeExpressionError("names must be a mapping of variable name to value")
    if functions is not None and not isinstance(functions, Mapping):
        raise UnsafeExpressionError("functions must be a mapping of name to function")
    if len(values) > (limits if isinstance(limits, ExpressionLimits) else DEFAULT_LIMITS).max_names:
        raise EvaluationLimitError(
            f"{len(values)} variables given, more than ExpressionLimits.max_names",
            limit="max_names",
        )
    # The variable names are not part of the key (building that tuple costs a third of
    # a cached call): an Expression compiled for other names refuses the call with
    # NamesMismatchError, and is then replaced by one compiled for these names.
    key: tuple[object, ...] | None = (
        source,
        None if functions is None else tuple((name, id(f)) for name, f in functions.items()),
        limits,
    )
    try:
        expression = _cache.get(key)
    except TypeError:  # an unhashable source: compile_expr explains what is wrong
        expression = None
        key = None
    if expression is not None:
        try:
            return expression(**values)
        except NamesMismatchError:
            pass
        except TypeError as error:  # only argument binding: the body wraps its own errors
            raise UnsafeExpressionError(f"names must have str keys ({error})") from None
    expression = compile_expr(source, names=tuple(values), functions=functions, limits=limits)
    if key is not None:
        with _lock:
            _cache[key] = expression
            while len(_cache) > _CACHE_SIZE:
                del _cache[next(iter(_cache))]
    try:
        return expression(**values)
    except TypeError as error:  # only argument binding: the body wraps its own errors
        raise UnsafeExpressionError(f"names must have str keys ({error})") from None

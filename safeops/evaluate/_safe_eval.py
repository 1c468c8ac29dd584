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
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal

from safeops.errors import UnsafeExpressionError, quote
from safeops.evaluate._expression import Expression, compile_expr
from safeops.evaluate._limits import ExpressionLimits
from safeops.evaluate._literal import literal_eval

__all__ = ["safe_eval"]

_CACHE_SIZE = 256
_cache: OrderedDict[Hashable, Expression] = OrderedDict()
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
    key: tuple[object, ...] | None = (
        source,
        *values,
        None if functions is None else tuple((name, id(f)) for name, f in functions.items()),
        limits,
    )
    try:
        expression = _cache.get(key)
    except TypeError:  # an unhashable source or name: compile_expr explains what is wrong
        expression = None
        key = None
    if expression is None:
        expression = compile_expr(source, names=tuple(values), functions=functions, limits=limits)
        if key is not None:
            with _lock:
                _cache[key] = expression
                if len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
    try:
        return expression(**values)
    except TypeError as error:  # only argument binding: the body wraps its own errors
        raise UnsafeExpressionError(f"names must have str keys ({error})") from None

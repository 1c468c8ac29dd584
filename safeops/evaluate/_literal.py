"""``safe_eval(source, mode="literal")``: ``ast.literal_eval`` with limits.

Semantics are exactly those of :func:`ast.literal_eval` (strings, bytes, numbers, tuples,
lists, dicts, sets, booleans, ``None``, and ``+``/``-`` on numbers). What it adds: the
text is measured before the parser runs (length, nesting depth estimated from brackets
and prefix-operator chains, length of every number), so no input can exhaust the C stack
(cpython gh-95588) or make the parser or int conversion take seconds; and every failure
is an :class:`~safeops.errors.UnsafeExpressionError` or an
:class:`~safeops.errors.EvaluationLimitError`, never a bare ``ValueError``,
``SyntaxError``, ``RecursionError`` or ``MemoryError``.
"""

from __future__ import annotations

import ast

from safeops._permits import granted
from safeops.errors import EvaluationLimitError, UnsafeExpressionError, quote
from safeops.evaluate._limits import ExpressionLimits, check_source, check_tree

__all__ = ["literal_eval"]

_DEFAULT_LIMITS = ExpressionLimits()


def literal_eval(source: str, limits: ExpressionLimits | None = None) -> object:
    """Evaluate a Python literal held in *source* within *limits*."""
    if not isinstance(source, str):
        raise UnsafeExpressionError(
            f"literal source must be str, not {type(source).__name__}; decode bytes first",
            argument="source",
        )
    limits = _DEFAULT_LIMITS if limits is None else limits
    check_source(source, limits)
    try:
        # Parsing to an AST raises the "compile" audit event: mark it as vetted (the text
        # has been measured and nothing but literal nodes will be evaluated).
        with granted("dynamic_code", reason="safe_eval literal: parse only", subject=source):
            tree = ast.parse(source.lstrip(" \t"), mode="eval")
        check_tree(tree, limits)
        return ast.literal_eval(tree)
    except (RecursionError, MemoryError) as error:
        raise EvaluationLimitError(
            f"literal refused: too deeply nested or too large ({type(error).__name__})",
            limit="max_depth",
        ) from None
    except (SyntaxError, ValueError, TypeError) as error:
        raise UnsafeExpressionError(
            f"not a Python literal: {quote(source)} ({type(error).__name__}: "
            f"{quote(str(error))[1:-1]}); literal mode accepts only strings, bytes, numbers, "
            "tuples, lists, dicts, sets, booleans and None",
            argument="source",
        ) from None


"""Limits of ``safe_eval`` / ``compile_expr`` and the checks made before the parser runs.

CPython's parser and compiler recurse on nesting, and ``ast.literal_eval`` has crashed the
interpreter on deeply nested or long unary-operator input (cpython gh-95588, bpo-32758).
So the source text is measured *before* it reaches the parser: its length, an estimate of
its nesting depth (brackets plus chains of prefix operators and ``**``), and the length of
every numeric literal. The estimate is deliberately conservative: it never under-counts
what the parser will nest for ordinary (non f-string) code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, fields

from safeops.errors import ConfigurationError, EvaluationLimitError, UnsafeExpressionError

__all__ = ["ExpressionLimits", "check_source", "check_tree"]


@dataclass(frozen=True)
class ExpressionLimits:
    """Budgets for evaluating one expression. Frozen; build once and pass explicitly.

    Source limits are checked before parsing; ``max_nodes`` after parsing; the others
    while the expression runs (only where they cannot be decided from the source).
    """

    #: Characters of source text.
    max_source_length: int = 10_000
    #: Nesting depth estimated from the text (brackets, prefix-operator and ``**`` chains);
    #: also the deepest nesting of host containers passed in as values.
    max_depth: int = 64
    #: Characters of one numeric literal.
    max_number_length: int = 1_000
    #: AST nodes of the parsed expression.
    max_nodes: int = 5_000
    #: Bits of an integer produced by ``**``, ``<<``, ``*`` or ``pow``.
    max_int_bits: int = 65_536
    #: Length of a str/bytes/list/tuple produced by a guarded operation, of a ``range``,
    #: and of a format width or precision.
    max_length: int = 1_000_000
    #: Steps of all comprehensions together, per evaluation.
    max_iterations: int = 1_000_000
    #: Items copied from host containers passed as values, per evaluation.
    max_data_items: int = 1_000_000
    #: Variables declared for one expression (compile and call cost grow with them).
    max_names: int = 1_000
    #: Seconds one evaluation may run (time.monotonic), checked in every run-time guard
    #: and comprehension step; a single C call in between is bounded by the size guards.
    max_time: float = 2.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            kinds = (int, float) if field.name == "max_time" else (int,)
            if type(value) not in kinds or not 0 < value < float("inf"):
                raise ConfigurationError(
                    f"ExpressionLimits.{field.name} must be a positive number, got {value!r}",
                    limit=field.name,
                )


_OPEN = frozenset("([{")
_CLOSE = frozenset(")]}")
_PREFIX_OPS = frozenset("-+~")
_STRING_PREFIX = frozenset("rRbBuUfF")


def _limit_error(
    what: str, maximum: int, actual: int, when: str = "before parsing"
) -> EvaluationLimitError:
    return EvaluationLimitError(
        f"source refused {when}: {what} is {actual}, the limit is {maximum}; "
        "simplify the expression or raise the limit in ExpressionLimits deliberately",
        limit=what,
        maximum=maximum,
        actual=actual,
    )


def check_source(source: str, limits: ExpressionLimits) -> None:
    """Raise :class:`EvaluationLimitError` if *source* is too long, too deeply nested or
    holds a too-long number. Linear in the length of the text; runs before the parser."""
    if len(source) > limits.max_source_length:
        raise _limit_error("source length", limits.max_source_length, len(source))
    depth = 0  # open brackets
    chain = 0  # consecutive prefix operators (and `not`) since the last operand
    powers = 0  # `**` tokens: right-associative, each one nests
    deepest = 0
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char in "'\"":
            index = _skip_string(source, index)
            chain = 0
            continue
        if char == "#":
            # a comment could hide brackets from this estimate (or unbalance its idea of
            # where strings are); a one-line formula has no use for one
            raise UnsafeExpressionError(
                "source refused before parsing: comments ('#' outside a string) are not "
                "allowed in an expression"
            )
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
        elif char in _PREFIX_OPS:
            chain += 1
        elif char == "*" and source.startswith("**", index):
            powers += 1
            chain += 1
            index += 2
            continue
        elif char.isdigit() or (char == "." and source[index + 1 : index + 2].isdigit()):
            end = _number_end(source, index)
            if end - index > limits.max_number_length:
                raise _limit_error("numeric literal length", limits.max_number_length, end - index)
            index = end
            chain = 0
            continue
        elif char.isalpha() or char == "_":
            end = index
            while end < length and (source[end].isalnum() or source[end] == "_"):
                end += 1
            word = source[index:end]
            if end < length and source[end] in "'\"" and set(word) <= _STRING_PREFIX:
                index = end  # a string prefix such as rb or f: the string follows
                continue
            chain = chain + 1 if word == "not" else 0
            index = end
            continue
        elif not char.isspace() and char not in "()[]{}":
            chain = 0
        deepest = max(deepest, depth + chain, powers)
        if deepest > limits.max_depth:
            raise _limit_error("estimated nesting depth", limits.max_depth, deepest)
        index += 1


def _skip_string(source: str, start: int) -> int:
    """Index just past the string literal opening at *start* (or the end of text)."""
    quote = source[start]
    triple = source.startswith(quote * 3, start)
    delimiter = quote * 3 if triple else quote
    index = start + len(delimiter)
    while index < len(source):
        char = source[index]
        if char == "\\":
            index += 2
            continue
        if source.startswith(delimiter, index):
            return index + len(delimiter)
        if char == "\n" and not triple:
            return index
        index += 1
    return index


def _number_end(source: str, start: int) -> int:
    index = start
    while index < len(source):
        char = source[index]
        exponent_sign = (
            char in "+-"
            and source[index - 1] in "eE"
            and not source[start:index].startswith(("0x", "0X"))
        )
        if char.isalnum() or char in "._" or exponent_sign:
            index += 1
        else:
            break
    return index


def check_tree(tree: ast.AST, limits: ExpressionLimits) -> None:
    """Raise :class:`EvaluationLimitError` if the parsed *tree* has more than ``max_nodes``
    nodes or is nested deeper than ``4 * max_depth`` (operator chains such as
    ``1+1+...+1`` nest the AST without brackets). Iterative: safe on any depth, so the
    recursive passes that follow (and CPython's compiler) never see a deep tree."""
    max_tree_depth = 4 * limits.max_depth
    nodes = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise _limit_error("number of syntax nodes", limits.max_nodes, nodes, "after parsing")
        if depth > max_tree_depth:
            raise _limit_error("syntax tree depth", max_tree_depth, depth, "after parsing")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))

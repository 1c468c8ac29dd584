"""safe_eval(..., mode="literal"): ast.literal_eval semantics with limits before parsing."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeops._permits import granted
from safeops.errors import EvaluationLimitError, SafeOpsError, UnsafeExpressionError
from safeops.evaluate import ExpressionLimits, safe_eval

_scalars = (
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text() | st.binary()
)  # fmt: skip
_literals = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@given(_literals)
def test_round_trips_reprs_like_literal_eval(value: object) -> None:
    """Any literal's repr evaluates to what ast.literal_eval gives."""
    text = repr(value)
    assert safe_eval(text, mode="literal") == ast.literal_eval(text)


@given(st.text(max_size=60))
def test_arbitrary_text_gives_literal_eval_value_or_a_safeops_error(text: str) -> None:
    """Random text gives literal_eval's value or a SafeOpsError, never another error."""
    try:
        result = safe_eval(text, mode="literal")
    except SafeOpsError:
        return
    with granted("dynamic_code", reason="test oracle: literal_eval", origin="application"):
        expected = ast.literal_eval(text.lstrip(" \t"))
    assert result == expected


def test_signed_numbers_and_complex_are_literals() -> None:
    """Unary minus and complex sums are accepted, as in literal_eval."""
    assert safe_eval("[-1, +2.5, 1+2j]", mode="literal") == [-1, 2.5, 1 + 2j]


def test_sets_and_nested_containers() -> None:
    """Sets, dicts and nesting work."""
    assert safe_eval("{'a': {1, 2}, 'b': (None, True)}", mode="literal") == {
        "a": {1, 2},
        "b": (None, True),
    }


def test_names_are_refused() -> None:
    """A bare name is not a literal: UnsafeExpressionError (also a ValueError)."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval("x", mode="literal")
    with pytest.raises(ValueError):
        safe_eval("x", mode="literal")


def test_calls_are_refused() -> None:
    """A call is not a literal."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval("__import__('os')", mode="literal")


def test_syntax_error_is_refused() -> None:
    """Invalid syntax becomes UnsafeExpressionError, not SyntaxError."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval("[1,", mode="literal")


def test_deep_brackets_refused_before_parsing() -> None:
    """Nesting beyond max_depth is refused from the text alone."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("[" * 100 + "]" * 100, mode="literal")


def test_unary_chain_refused_before_parsing() -> None:
    """A long chain of unary operators (cpython gh-95588) is refused from the text."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("-" * 100_000 + "1", mode="literal")


def test_brackets_inside_strings_do_not_count() -> None:
    """Brackets inside string literals are not nesting."""
    assert safe_eval(repr("(" * 500), mode="literal") == "(" * 500


def test_long_number_refused_before_parsing() -> None:
    """A numeric literal longer than max_number_length is refused."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("9" * 2000, mode="literal")


def test_long_source_refused() -> None:
    """Source longer than max_source_length is refused."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("1," * 10_000, mode="literal")


def test_limits_can_be_raised_deliberately() -> None:
    """A caller can raise a limit explicitly."""
    limits = ExpressionLimits(max_source_length=100_000, max_nodes=20_000)
    assert len(safe_eval("[" + "1," * 10_000 + "]", mode="literal", limits=limits)) == 10_000


def test_names_argument_is_refused_in_literal_mode() -> None:
    """Literal mode takes no names."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval("1", {"x": 1}, mode="literal")


def test_non_str_source_is_refused() -> None:
    """Bytes must be decoded by the caller."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval(b"1", mode="literal")  # type: ignore[arg-type]

"""Regression tests for the findings of the expression attack review of 2026-11-28.

Each test names its finding (F1...F20 in notes/attacks/evaluate.md). The attack inputs
themselves are in tests/vectors/eval/expression/attack_review.json.
"""

from __future__ import annotations

import os.path
import pkgutil
import pydoc
import sys

import pytest

from safeops.errors import (
    ConfigurationError,
    EvaluatedCodeError,
    EvaluationLimitError,
    EvaluationTimeoutError,
    UnsafeExpressionError,
)
from safeops.evaluate import ExpressionLimits, compile_expr, safe_eval
from safeops.evaluate._guards import deep_size


def test_f1_nested_paren_key_width_is_refused() -> None:
    """F1: a printf width behind a nested-parenthesis mapping key is still seen."""
    with pytest.raises((EvaluationLimitError, UnsafeExpressionError)):
        safe_eval("'%((a)x)999999999s' % {'(a)x': ''}")


def test_f1_nested_paren_key_is_refused_even_without_width() -> None:
    """F1: mapping keys containing '(' are refused outright."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval("'%((a)x)s' % {'(a)x': 'v'}")


def test_f1_ordinary_printf_still_works() -> None:
    """F1: plain %-formatting with widths, precision and %% keeps Python's result."""
    assert safe_eval("'%5s|%-3d|%%|%.2f' % ('x', 7, 1.5)") == "    x|7  |%|1.50"
    assert safe_eval("'%(a)s-%(b)s' % d", {"d": {"a": 1, "b": 2}}) == "1-2"


def test_f1b_container_argument_sized_by_text() -> None:
    """F1b: a container argument of % counts its items' text, not its length."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("len('%(x)s'*1000 % {'x': ['a'*900000]})")


def test_f2_modular_pow_work_is_bounded() -> None:
    """F2: a 3-argument pow whose C work is minutes is refused before it runs."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("pow(3**32000, 2**65535-1, 2**65535-1)")


def test_f2_rsa_sized_modular_pow_is_allowed() -> None:
    """F2: a 2048-bit modular exponentiation stays allowed."""
    assert safe_eval("pow(3, 2**2048 - 1, 2**2048 - 159)") == pow(3, 2**2048 - 1, 2**2048 - 159)


@pytest.mark.parametrize(
    ("number", "ndigits", "expected"),
    [(1, -10**12, 0), (12345, -10**7, 0), (7, 10**9, 7), (1.5, -10**9, 0.0),
     (1.5, 10**9, 1.5), (-2.5, -10**6, -0.0)],
)  # fmt: skip
def test_f16_round_with_huge_ndigits_is_fast_and_exact(
    number: float, ndigits: int, expected: float
) -> None:
    """F16: round(x, n) with huge |n| gives Python's result without computing 10**n."""
    result = safe_eval("round(x, n)", {"x": number, "n": ndigits})
    assert result == expected
    assert type(result) is type(expected)


def test_f16_round_with_small_ndigits_unchanged() -> None:
    """F16: ordinary round() calls are unchanged."""
    assert safe_eval("round(1234.5678, 2), round(1250, -2), round(x, -1)", {"x": 15}) == (
        1234.57, 1200, 20,
    )  # fmt: skip


def test_f3_comprehension_elements_are_charged() -> None:
    """F3: big ints kept by a comprehension are charged to max_length."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("len([-x for x in [2**65535] for _ in range(240000)])")


def test_f17_enumerate_start_is_bounded() -> None:
    """F17: enumerate() with a start beyond 64 bits is refused."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("list(enumerate(range(3), 2**65535))")
    assert safe_eval("list(enumerate('ab', 5))") == [(5, "a"), (6, "b")]


def test_f8_materialising_an_iterator_charges_each_item() -> None:
    """F8: list() of a wide zip is refused while it is being built."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("len(list(zip(*[range(999000)]*64)))")
    assert safe_eval("list(zip('ab', [1, 2]))") == [("a", 1), ("b", 2)]


def test_f12_copying_builtins_are_not_values() -> None:
    """F12: key=list (a builtin run from C with no guard) is refused at compile time."""
    with pytest.raises(UnsafeExpressionError):
        compile_expr("sorted(x, key=list)", names=["x"])


def test_f12_scalar_builtins_remain_usable_as_keys() -> None:
    """F12: key=abs / key=len still work."""
    assert safe_eval("sorted(x, key=abs), max(y, key=len)", {"x": [-3, 1], "y": ["a", "bbb"]}) == (
        [1, -3], "bbb",
    )  # fmt: skip


def test_f5_text_of_aliased_container_is_refused_before_building() -> None:
    """F5: str() of an aliased container whose text is huge is refused up front."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("len(str([[[[[0]*100]*100]*100]*100]*10))")


def test_f5_fstring_fields_are_bounded_each() -> None:
    """F5: many f-string fields over one big value are refused field by field."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("[len(f'" + "{L}" * 1000 + "') for L in [['a'*900000]]]")


def test_f5_error_message_is_truncated() -> None:
    """F5 addendum: a wrapped exception keeps a bounded message."""
    with pytest.raises(EvaluatedCodeError) as caught:
        safe_eval("[].index(x)", {"x": "a" * 5000})
    assert len(caught.value.error_message) <= 1000  # type: ignore[attr-defined]


def test_f7_hash_of_aliased_tuples_is_refused() -> None:
    """F7: hash() of exponentially aliased tuples is refused by its deep size."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("hash(((((((0,)*50,)*50,)*50,)*50,)*50,)*50)")


def test_f7_repetition_is_charged_by_logical_size() -> None:
    """F7: (T,)*n of a nested tuple is charged n times T's deep size, so a set display
    or `in` cannot hash an exponential structure."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("{((((((0,)*50,)*50,)*50,)*50,)*50,)*50}")
    assert safe_eval("len([[0] * 100] * 100)") == 100


def test_deep_size_counts_aliases_with_multiplicity() -> None:
    """deep_size counts [L]*n as n copies and stops once over its limit."""
    inner = [0] * 100
    assert deep_size([inner] * 10, 10**9) == 10 + 1000
    assert deep_size([[inner] * 100] * 100, 5000) > 5000
    assert deep_size({"ab": "cde"}, 100) == 1 + 5


def test_f6_deadline_stops_hash_collision_set() -> None:
    """F6/F18: a long-running evaluation stops with EvaluationTimeoutError at max_time."""
    limits = ExpressionLimits(max_time=0.2)
    with pytest.raises(EvaluationTimeoutError):
        safe_eval("len({x*2305843009213693951 for x in range(150000)})", limits=limits)


@pytest.mark.parametrize(
    "source",
    ["len(set(L))", "len({*L})", "len(set().union(L))", "len(dict(zip(L, L)))"],
)
def test_f6_hashing_a_colliding_list_stays_under_the_deadline(source: str) -> None:
    """F6: building a set/dict from a list of colliding ints checks the deadline."""
    limits = ExpressionLimits(max_time=0.2)
    values = {"L": [x * 2305843009213693951 for x in range(150000)]}
    with pytest.raises(EvaluationTimeoutError):
        safe_eval(source, values, limits=limits)


def test_f6_hashing_guards_keep_results() -> None:
    """F6: set()/dict()/{*x} of ordinary lists give Python's results."""
    assert safe_eval("set(L), {*L, 5}, dict(zip(L, L)), frozenset(L)", {"L": list(range(300))}) == (
        set(range(300)), {*range(300), 5}, {i: i for i in range(300)}, frozenset(range(300)),
    )  # fmt: skip


def test_max_time_must_be_positive() -> None:
    """ExpressionLimits.max_time accepts a positive int or float only."""
    assert ExpressionLimits(max_time=0.5).max_time == 0.5
    for bad in (0, -1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ConfigurationError):
            ExpressionLimits(max_time=bad)  # type: ignore[arg-type]


def test_f4_int_parse_beyond_max_int_bits_is_refused() -> None:
    """F4: int(text, 16) producing more than max_int_bits is refused before parsing."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("int('f'*999999, 16)")
    assert safe_eval("int('ff', 16) + int('10', base=2)") == 257


def test_f4_products_of_powers_are_guarded() -> None:
    """F4: a product of ** results is checked against max_int_bits."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("(9**20000 * 9**20000) * (9**20000 * 9**20000)")


def test_f10_str_with_codec_uses_decode_allow_list() -> None:
    """F10: str(bytes, codec) accepts only the preloaded codecs and imports nothing."""
    before = set(sys.modules)
    for source in ("str(b'x', 'rot13')", "str(b'x', encoding='punycode')",
                   "str(b'x', 'utf-8', 'namereplace')"):  # fmt: skip
        with pytest.raises(UnsafeExpressionError):
            safe_eval(source)
    assert set(sys.modules) == before
    assert safe_eval("str(b'caf\\xc3\\xa9', 'utf-8')") == "café"


def test_f9_set_method_with_many_arguments_is_refused_quickly() -> None:
    """F9: set().union(*many) is refused before iterating the arguments."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("set().union(*[range(10**6)]*300)")  # the repetition counts each range
    with pytest.raises(UnsafeExpressionError):
        safe_eval("set().union(*[[1]]*300)")
    assert safe_eval("set().union([1], (2,))") == {1, 2}


@pytest.mark.parametrize(
    "function",
    [pydoc.locate, pkgutil.resolve_name, os.path.exists, os.path.join],
)
def test_f19_name_resolving_and_file_functions_are_refused(function: object) -> None:
    """F19: host functions that import by name or touch files are refused."""
    with pytest.raises(UnsafeExpressionError):
        compile_expr("f('os')", functions={"f": function})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "source", ["(1 // x for x in [1, 0])", "reversed([1, 2])", "'abc'.upper", "x.keys()"]
)
def test_f11_lazy_or_callable_results_are_refused(source: str) -> None:
    """F11: generators, iterators, methods and views are not handed to the host."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval(source, {"x": {"a": 1}})


def test_f11_plain_results_pass() -> None:
    """F11: plain data results are returned unchanged."""
    assert safe_eval("[x for x in range(3)], {1: 2}, range(2)") == ([0, 1, 2], {1: 2}, range(2))


def test_f13_number_of_names_is_bounded() -> None:
    """F13: more variables than max_names are refused before compiling."""
    names = {f"v{i}": i for i in range(1001)}
    with pytest.raises(EvaluationLimitError):
        safe_eval("v0", names)
    with pytest.raises(EvaluationLimitError):
        compile_expr("v0", names=list(names))
    assert safe_eval("v0", names, limits=ExpressionLimits(max_names=2000)) == 0


@pytest.mark.parametrize("names", [5, None])
def test_f15_bad_names_type_is_refused(names: object) -> None:
    """F15: names= that is not a collection of str raises UnsafeExpressionError."""
    with pytest.raises(UnsafeExpressionError):
        compile_expr("x", names=names)  # type: ignore[arg-type]


def test_f15_bad_functions_type_is_refused() -> None:
    """F15: functions= that is not a mapping raises UnsafeExpressionError."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval("1", functions=[("a", abs)])  # type: ignore[arg-type]
    with pytest.raises(UnsafeExpressionError):
        compile_expr("1", functions=[("a", abs)])  # type: ignore[arg-type]


def test_f15_bad_limits_type_is_refused() -> None:
    """F15: limits= that is not an ExpressionLimits raises UnsafeExpressionError."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval("1", limits={"max_length": 5})  # type: ignore[arg-type]


def test_f20_starred_argument_of_builtin_in_comprehension() -> None:
    """F20: [max(*p) for p in pairs] gives Python's result."""
    assert safe_eval("[max(*p) for p in [[1, 2], [3, 4]]]") == [2, 4]
    assert safe_eval("[max(*p) for p in [[5, 1, 7]]]") == [7]


def test_f14_comment_is_refused_in_both_modes() -> None:
    """F14: a '#' comment outside strings is refused before parsing."""
    source = "(#'''\n" + "[" * 150 + "]" * 150 + "\n#'''\n)"
    with pytest.raises(UnsafeExpressionError):
        safe_eval(source)
    with pytest.raises(UnsafeExpressionError):
        safe_eval(source, mode="literal")
    assert safe_eval("'#' + x", {"x": "1"}) == "#1"

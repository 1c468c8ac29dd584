"""Differential test: random expressions over the allowed grammar agree with native eval.

For every generated expression and values, safeops either returns exactly what native
``eval`` returns, or raises a SafeOpsError (a refusal, a limit, or the code's own error
wrapped). Anything else (another exception type, a different value) is a bug.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from safeops._permits import granted
from safeops.errors import SafeOpsError
from safeops.evaluate import compile_expr
from safeops.evaluate._rewrite import SAFE_BUILTINS


def _bounded_round(number: Any, ndigits: Any = None) -> Any:
    """builtins.round, without its one unbounded case.

    ``round(int, -n)`` computes ``10**n`` in a single uninterruptible C call, so the oracle
    would hang on ``round(5, -(2**80))`` where safeops answers at once. Past the operand's
    decimal length the result is 0 by arithmetic (|x| < 10**n / 2), so this returns it
    directly; every other call is the real round().
    """
    far = isinstance(number, int) and type(ndigits) is int
    if far and ndigits < -(abs(number).bit_length() // 3 + 2):
        return 0
    return round(number, ndigits)


NATIVE_BUILTINS = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
NATIVE_BUILTINS["round"] = _bounded_round

_BINARY = ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^"]
_COMPARE = ["<", "<=", "==", "!=", ">", ">=", "in", "not in"]
_CALLS1 = ["abs", "len", "str", "int", "float", "round", "bool", "sorted", "repr", "list",
           "tuple", "sum", "min", "max", "any", "all", "hash"]  # fmt: skip
_CALLS2 = ["max", "min", "pow", "divmod", "round"]


def _literal(value: object) -> str:
    return f"({value!r})"


_leaves = st.one_of(
    st.sampled_from(["a", "b", "c", "True", "False", "None", "[]", "''"]),
    st.integers(-1000, 1000).map(_literal),
    st.integers(-(2**80), 2**80).map(_literal),
    st.floats(-1e6, 1e6, allow_nan=False).map(_literal),
    st.text(alphabet="ab 1", max_size=4).map(_literal),
)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(inner, inner)
    return st.one_of(
        st.tuples(inner, st.sampled_from(_BINARY), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, st.sampled_from(_COMPARE), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["-", "+", "~", "not "]), inner).map(lambda t: f"({t[0]}{t[1]})"),
        pair.map(lambda t: f"({t[0]} and {t[1]})"),
        pair.map(lambda t: f"({t[0]} or {t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(st.sampled_from(_CALLS1), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(_CALLS2), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        pair.map(lambda t: f"[{t[0]}, {t[1]}]"),
        pair.map(lambda t: f"({t[0]}, {t[1]})"),
        pair.map(lambda t: f"{{{t[0]}: {t[1]}}}"),
        pair.map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(inner, inner, inner).map(lambda t: f"{t[0]}[{t[1]}:{t[2]}]"),
        inner.map(lambda t: f"[q * {t} for q in range(3)]"),
        pair.map(lambda t: f"[q for q in {t[0]} if {t[1]}]"),
        inner.map(lambda t: f'f"{{{t}}}|{{{t}!r:>5}}"'),
        inner.map(lambda t: f"str({t}).upper().split()"),
        pair.map(lambda t: f"str({t[0]}).replace('1', str({t[1]}))"),
    )


_expressions = st.recursive(_leaves, _extend, max_leaves=8)
_values = st.one_of(
    st.integers(-1000, 1000),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(alphabet="ab1 ", max_size=5),
    st.lists(st.integers(-5, 5), max_size=4),
)


def _same(ours: Any, native: Any) -> bool:
    if type(ours) is not type(native):
        return False
    if isinstance(ours, float) and math.isnan(ours):
        return math.isnan(native)
    if ours == native:
        return True
    return repr(ours) == repr(native)  # NaN nested in a container


@settings(max_examples=300)
@given(source=_expressions, a=_values, b=_values, c=_values)
def test_matches_native_eval_or_raises_safeops_error(source: str, a: Any, b: Any, c: Any) -> None:
    """safeops returns native eval's value, or raises a SafeOpsError; nothing else."""
    try:
        ours = compile_expr(source, names=("a", "b", "c"))(a=a, b=b, c=c)
    except SafeOpsError:
        return  # refused, limited or the code's own error wrapped: all allowed outcomes
    # Only now run native eval: safeops accepted it, so it is known to be bounded.
    with granted("dynamic_code", reason="differential oracle", origin="application"):
        native = eval(  # the oracle of this test
            compile(source, "<oracle>", "eval"),
            {"__builtins__": NATIVE_BUILTINS, "a": a, "b": b, "c": c},
        )
    assert _same(ours, native), (source, a, b, c, ours, native)

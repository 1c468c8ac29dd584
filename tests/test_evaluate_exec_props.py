"""Property tests: safe_exec agrees with native exec on allowed programs, or refuses.

Programs are drawn from a small statement grammar (assignments, augmented assignments,
if/else, bounded for loops, arithmetic and comparisons over ints, strings and lists).
For each, safe_exec gives the same variables as native ``exec``, or raises a
SafeOpsError (a limit, or EvaluatedCodeError naming the same exception type) —
never anything else. Random text is never anything but a result or a SafeOpsError.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeops._permits import granted
from safeops.errors import EvaluatedCodeError, SafeOpsError
from safeops.evaluate import ExecLimits, _isolation, safe_exec

VARIABLES = ["a", "b", "c", "d"]
LIMITS = ExecLimits(cpu_time=0.5, wall_time=3.0)
NATIVE_BUILTINS = {"abs": abs, "min": min, "max": max, "len": len, "range": range,
                   "str": str, "int": int, "bool": bool}


@pytest.fixture(scope="module", autouse=True)
def _stop_workers() -> Iterator[None]:
    yield
    _isolation.shutdown()


_atoms = st.one_of(
    st.integers(-20, 20).map(str),
    st.sampled_from(VARIABLES),
    st.sampled_from(["'ab'", "''", "[1, 2]", "[]", "True", "None"]),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(
        ["+", "-", "*", "//", "%", "==", "<", "!=", "and", "or"]), children
    ).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    power = st.tuples(children, st.integers(0, 4)).map(lambda t: f"({t[0]} ** {t[1]})")
    calls = st.tuples(st.sampled_from(["abs", "len", "str", "bool"]), children).map(
        lambda t: f"{t[0]}({t[1]})")
    pair = st.tuples(st.sampled_from(["min", "max"]), children, children).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]})")
    ternary = st.tuples(children, children, children).map(
        lambda t: f"({t[0]} if {t[1]} else {t[2]})")
    unary = children.map(lambda c: f"(-{c})")
    return st.one_of(binary, power, calls, pair, ternary, unary)


expressions = st.recursive(_atoms, _combine, max_leaves=8)


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, set[str]]:
    lines: list[str] = []
    assigned: set[str] = set()
    for _ in range(draw(st.integers(1, 5))):
        target = draw(st.sampled_from(VARIABLES))
        kind = draw(st.sampled_from(["assign", "aug", "if", "for"]))
        value = draw(expressions)
        if kind == "assign":
            lines.append(f"{target} = {value}")
        elif kind == "aug":
            lines.append(f"{target} {draw(st.sampled_from(['+=', '-=', '*=']))} {value}")
        elif kind == "if":
            other = draw(expressions)
            lines.append(f"if {draw(expressions)}:\n    {target} = {value}\n"
                         f"else:\n    {target} = {other}")
        else:
            count = draw(st.integers(0, 5))
            lines.append(f"for i in range({count}):\n    {target} = {value}")
            assigned.add("i")
        assigned.add(target)
    return "\n".join(lines) + "\n", assigned


def _native(source: str, names: dict[str, Any]) -> dict[str, Any] | BaseException:
    namespace: dict[str, Any] = {"__builtins__": NATIVE_BUILTINS, **names}
    try:
        with granted("dynamic_code", reason="differential test oracle", origin="application"):
            code = compile(source, "<oracle>", "exec")
            exec(code, namespace)
    except Exception as error:
        return error
    return namespace


def _check(source: str, assigned: set[str], names: dict[str, Any], isolated: bool) -> None:
    expected = _native(source, names)
    try:
        result = safe_exec(source, names, limits=LIMITS, isolated=isolated)
    except EvaluatedCodeError as error:
        assert isinstance(expected, BaseException), (source, error)
        assert error.error_type == type(expected).__name__
        return
    except SafeOpsError:
        return  # a limit: allowed
    assert isinstance(expected, dict), (source, expected)
    assert result == {name: expected[name] for name in assigned if name in expected}


@settings(max_examples=150)
@given(programs(), st.lists(st.integers(-50, 50), min_size=4, max_size=4))
def test_in_process_agrees_with_native_exec(program: tuple[str, set[str]],
                                            values: list[int]) -> None:
    """In-process safe_exec returns what native exec computes, or a SafeOpsError."""
    source, assigned = program
    _check(source, assigned, dict(zip(VARIABLES, values)), isolated=False)


@settings(max_examples=60)
@given(programs(), st.lists(st.integers(-50, 50), min_size=4, max_size=4))
def test_isolated_agrees_with_native_exec(program: tuple[str, set[str]],
                                          values: list[int]) -> None:
    """Isolated safe_exec returns what native exec computes, or a SafeOpsError."""
    source, assigned = program
    _check(source, assigned, dict(zip(VARIABLES, values)), isolated=True)


@settings(max_examples=150)
@given(st.text(max_size=200))
def test_random_text_is_a_result_or_a_safeops_error(source: str) -> None:
    """Arbitrary text never raises anything but a SafeOpsError (in-process)."""
    try:
        result = safe_exec(source, limits=LIMITS, isolated=False)
    except SafeOpsError:
        return
    assert isinstance(result, dict)

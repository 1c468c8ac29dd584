"""safe_exec: results, names, errors and limits, in both isolated and in-process modes."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import pytest

from safeops.errors import (
    ConfigurationError,
    EvaluatedCodeError,
    EvaluationError,
    EvaluationLimitError,
    EvaluationTimeoutError,
    SafeOpsError,
    UnsafeExpressionError,
    UnsupportedPlatformError,
)
from safeops.evaluate import ExecLimits, _isolation, safe_exec

#: Short clocks keep the suite fast; every other budget is the default.
FAST = ExecLimits(cpu_time=0.1, wall_time=0.6)
MODES = [pytest.param(True, id="isolated"), pytest.param(False, id="in_process")]


@pytest.fixture(scope="module", autouse=True)
def _stop_workers() -> Iterator[None]:
    yield
    _isolation.shutdown()


@pytest.mark.parametrize("isolated", MODES)
def test_returns_the_variables_the_program_assigned(isolated: bool) -> None:
    """Module-level assignments come back; loop variables and helpers' locals do not leak."""
    source = (
        "total = 0\nfor i in range(4):\n    total += i\n"
        "def twice(v):\n    k = v\n    return k * 2\nresult = twice(total)\n"
    )
    assert safe_exec(source, isolated=isolated) == {"total": 6, "i": 3, "result": 12}


@pytest.mark.parametrize("isolated", MODES)
def test_names_are_visible_to_the_program(isolated: bool) -> None:
    """Values passed in names are bound as variables."""
    assert safe_exec("y = x * 2", {"x": 21}, isolated=isolated) == {"y": 42}


@pytest.mark.parametrize("isolated", MODES)
def test_names_not_rebound_are_not_returned(isolated: bool) -> None:
    """Only what the program assigned is returned, not every name it received."""
    assert safe_exec("y = 1", {"x": 5}, isolated=isolated) == {"y": 1}


@pytest.mark.parametrize("isolated", MODES)
def test_functions_the_program_defined_are_left_out(isolated: bool) -> None:
    """Callables are not data: a helper function the program defined is not returned."""
    assert safe_exec("def f():\n    return 1\nv = f()", isolated=isolated) == {"v": 1}


@pytest.mark.parametrize("isolated", MODES)
def test_printed_collects_print_output(isolated: bool) -> None:
    """print() writes to the collector the program reads back as `printed`."""
    result = safe_exec("print('a', 1)\nprint('b', end='')\nout = printed", isolated=isolated)
    assert result == {"out": "a 1\nb"}


@pytest.mark.parametrize("isolated", MODES)
def test_print_to_a_file_is_refused(isolated: bool) -> None:
    """print(file=...) is refused: the collector is the only sink."""
    with pytest.raises(EvaluatedCodeError):
        safe_exec("print('x', file=None)", isolated=isolated)


@pytest.mark.parametrize("isolated", MODES)
def test_program_exception_is_wrapped(isolated: bool) -> None:
    """The program's own exception becomes EvaluatedCodeError with its type and message."""
    with pytest.raises(EvaluatedCodeError) as info:
        safe_exec("x = {}['missing']", isolated=isolated)
    assert info.value.error_type == "KeyError"
    assert "missing" in info.value.error_message


def test_in_process_error_chains_the_original() -> None:
    """In-process, the original exception is kept as __cause__."""
    with pytest.raises(EvaluatedCodeError) as info:
        safe_exec("x = 1 / 0", isolated=False)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize("isolated", MODES)
@pytest.mark.parametrize("name", ["SystemExit", "KeyboardInterrupt", "GeneratorExit",
                                  "BaseException"])
def test_control_flow_exceptions_cannot_be_named(isolated: bool, name: str) -> None:
    """The program cannot raise SystemExit/KeyboardInterrupt/GeneratorExit into the host."""
    with pytest.raises(EvaluatedCodeError) as info:
        safe_exec(f"raise {name}", isolated=isolated)
    assert info.value.error_type == "NameError"


@pytest.mark.parametrize("isolated", MODES)
def test_stop_iteration_is_wrapped(isolated: bool) -> None:
    """StopIteration escaping the program is wrapped like any other exception."""
    with pytest.raises(EvaluatedCodeError):
        safe_exec("next(iter([]))", isolated=isolated)


@pytest.mark.parametrize("isolated", MODES)
def test_bare_except_is_refused(isolated: bool) -> None:
    """A bare except would swallow limit signals: it is refused before running."""
    with pytest.raises(UnsafeExpressionError):
        safe_exec("try:\n    x = 1\nexcept:\n    x = 2", isolated=isolated)


@pytest.mark.parametrize("isolated", MODES)
def test_limit_cannot_be_swallowed_by_except_exception(isolated: bool) -> None:
    """A tripped limit stays tripped even when the program catches Exception."""
    source = "try:\n    while True:\n        pass\nexcept Exception:\n    pass\nx = 1\n"
    with pytest.raises(EvaluationTimeoutError):
        safe_exec(source, limits=FAST, isolated=isolated)


@pytest.mark.parametrize("isolated", MODES)
def test_finally_cannot_keep_running_after_a_limit(isolated: bool) -> None:
    """A loop in a finally block after the limit tripped is stopped too."""
    source = "try:\n    while True:\n        pass\nfinally:\n    while True:\n        pass\n"
    with pytest.raises(EvaluationTimeoutError):
        safe_exec(source, limits=FAST, isolated=isolated)


@pytest.mark.parametrize("isolated", MODES)
def test_output_cap(isolated: bool) -> None:
    """Printing past max_output is a limit error."""
    limits = dataclasses.replace(FAST, max_output=100)
    with pytest.raises(EvaluationLimitError) as info:
        safe_exec("for i in range(1000):\n    print(i)", limits=limits, isolated=isolated)
    assert info.value.context["limit"] == "max_output"


@pytest.mark.parametrize("isolated", MODES)
def test_recursion_depth_limit(isolated: bool) -> None:
    """Recursion past max_depth is a limit error, not a crash."""
    limits = dataclasses.replace(FAST, max_depth=50)
    with pytest.raises(EvaluationLimitError) as info:
        safe_exec("def f(n):\n    return f(n + 1)\nf(0)", limits=limits, isolated=isolated)
    assert info.value.context["limit"] == "max_depth"


@pytest.mark.parametrize("isolated", MODES)
def test_recursion_within_the_limit_works(isolated: bool) -> None:
    """Recursion below max_depth runs normally."""
    source = "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nv = f(40)"
    assert safe_exec(source, isolated=isolated) == {"v": 40}


def test_callable_names_are_refused_in_isolated_mode() -> None:
    """Functions cannot cross into the worker; the error says so."""
    with pytest.raises(UnsafeExpressionError, match="cannot cross"):
        safe_exec("y = f(1)", {"f": abs})


def test_isolated_names_must_be_serialisable() -> None:
    """A value safeops.serialize cannot carry is refused before anything runs."""
    with pytest.raises(UnsafeExpressionError):
        safe_exec("y = 1", {"x": object()})


def test_in_process_accepts_a_plain_function() -> None:
    """In-process, a plain host function may be passed and called."""

    def double(value: int) -> int:
        return value * 2

    assert safe_exec("y = double(4)", {"double": double}, isolated=False) == {"y": 8}


@pytest.mark.parametrize("bad", [os, os.system, getattr, type, object, print, eval])
def test_in_process_refuses_modules_classes_and_reflective_builtins(bad: object) -> None:
    """Modules, classes and builtins that hand out a way out are refused."""
    with pytest.raises(UnsafeExpressionError):
        safe_exec("y = 1", {"helper": bad}, isolated=False)


@pytest.mark.parametrize("key", ["_getattr_", "__builtins__", "printed", "not an id", "for"])
@pytest.mark.parametrize("isolated", MODES)
def test_reserved_or_invalid_name_keys_are_refused(key: str, isolated: bool) -> None:
    """names keys must be plain identifiers outside the sandbox's own hooks."""
    with pytest.raises(UnsafeExpressionError):
        safe_exec("y = 1", {key: 1}, isolated=isolated)


@pytest.mark.parametrize("isolated", MODES)
def test_host_data_is_not_mutated(isolated: bool) -> None:
    """A list passed in names is copied: the program's mutation stays inside."""
    data = [1, 2]
    mapping = {"k": "v"}
    result = safe_exec("data.append(3)\nmapping['k'] = 'changed'\nout = data",
                       {"data": data, "mapping": mapping}, isolated=isolated)
    assert (data, mapping, result) == ([1, 2], {"k": "v"}, {"out": [1, 2, 3]})


@pytest.mark.parametrize("isolated", MODES)
def test_builtins_rebound_by_one_call_do_not_leak(isolated: bool) -> None:
    """Each call gets a fresh namespace: rebinding a builtin affects only that call."""
    safe_exec("abs = None", isolated=isolated)
    assert safe_exec("v = abs(-2)", isolated=isolated) == {"v": 2}


@pytest.mark.parametrize("isolated", MODES)
def test_non_data_result_is_reported(isolated: bool) -> None:
    """A variable holding a non-data object is reported, not silently dropped."""
    with pytest.raises(EvaluationError, match="'r'"):
        safe_exec("r = iter([1])", isolated=isolated)


def test_isolated_round_trips_rich_data() -> None:
    """Tuples, sets, bytes, big ints and complex numbers cross the boundary exactly."""
    source = "t = (1, 'a')\ns = {1, 2}\nb = b'x'\nn = 2 ** 200\nc = 1 + 2j"
    assert safe_exec(source) == {"t": (1, "a"), "s": {1, 2}, "b": b"x", "n": 2**200,
                                 "c": 1 + 2j}


@pytest.mark.parametrize("isolated", MODES)
def test_source_must_be_text(isolated: bool) -> None:
    """Bytes or other objects are refused as source."""
    with pytest.raises(UnsafeExpressionError):
        safe_exec(b"x = 1", isolated=isolated)  # type: ignore[arg-type]


@pytest.mark.parametrize("isolated", MODES)
def test_source_length_limit(isolated: bool) -> None:
    """Source longer than max_source_length is refused before parsing."""
    limits = dataclasses.replace(FAST, max_source_length=10)
    with pytest.raises(UnsafeExpressionError):
        safe_exec("x = 1 + 2 + 3 + 4", limits=limits, isolated=isolated)


@pytest.mark.parametrize(
    "change",
    [{"cpu_time": 0}, {"wall_time": -1}, {"max_memory": float("inf")}, {"max_size": "big"},
     {"max_depth": 1.5}, {"wall_time": 1, "cpu_time": 2}, {"max_memory": 1024},
     {"max_output": True}],
)
def test_impossible_limits_are_refused_when_built(change: dict[str, object]) -> None:
    """ExecLimits validates at construction: no zero, negative, infinite or odd values."""
    with pytest.raises(ConfigurationError):
        ExecLimits(**change)  # type: ignore[arg-type]


def test_limits_must_be_exec_limits() -> None:
    """Passing something other than ExecLimits is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        safe_exec("x = 1", limits={"cpu_time": 1})  # type: ignore[arg-type]


def test_limits_are_frozen() -> None:
    """ExecLimits cannot be modified after it is built."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        FAST.cpu_time = 100  # type: ignore[misc]


def test_isolated_mode_refuses_non_posix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without POSIX process limits, isolated mode refuses instead of pretending."""
    monkeypatch.setattr("safeops.evaluate._exec.os.name", "nt")
    with pytest.raises(UnsupportedPlatformError):
        safe_exec("x = 1")


@pytest.mark.parametrize("isolated", MODES)
def test_every_failure_is_a_safeops_error(isolated: bool) -> None:
    """A syntax error in the program is an UnsafeExpressionError (a SafeOpsError)."""
    with pytest.raises(SafeOpsError):
        safe_exec("x = (", isolated=isolated)



def test_program_function_kept_by_the_host_does_not_rearm_the_tracer() -> None:
    """In-process, calling a program function after the run leaves no tracer behind."""
    import sys

    kept: list[object] = []

    def keep(function: object) -> int:
        kept.append(function)
        return 1

    safe_exec("def g(n):\n    return n + 1\nx = keep(g)", {"keep": keep}, isolated=False)
    previous = sys.gettrace()
    assert kept[0](1) == 2  # type: ignore[operator]
    assert sys.gettrace() is previous


@pytest.mark.parametrize("isolated", MODES)
def test_walrus_in_a_comprehension_is_returned(isolated: bool) -> None:
    """`(y := i)` inside a comprehension binds y at module level, so y comes back."""
    result = safe_exec("x = [(y := i) for i in range(3)]", isolated=isolated)
    assert result == {"x": [0, 1, 2], "y": 2}


def test_oversized_names_are_refused_before_sending() -> None:
    """names too large for the worker's request limit are refused up front."""
    from safeops.evaluate._exec_transport import MAX_REQUEST_BYTES

    limits = dataclasses.replace(FAST, max_size=MAX_REQUEST_BYTES * 2)
    with pytest.raises(UnsafeExpressionError, match="more than the worker accepts"):
        safe_exec("y = 1", {"blob": b"x" * (MAX_REQUEST_BYTES + 1)}, limits=limits)


LEGITIMATE_FORMATTING = [
    ("x = '%5.2f' % 3.14159", " 3.14"),
    ("x = '%(name)s' % {'name': 'x'}", "x"),
    ("v = 'ab'\nx = f'{v:>10}'", "        ab"),
    ("x = f'{3.14159:.3f}'", "3.142"),
    ("x = b'%s' % b'x'", b"x"),
    ("x = bytearray(b'%d-%s') % (7, b'y')", bytearray(b"7-y")),
    ("x = '%*d' % (4, 1)", "   1"),
]


@pytest.mark.parametrize("isolated", MODES)
@pytest.mark.parametrize(("source", "expected"), LEGITIMATE_FORMATTING)
def test_legitimate_formatting_still_works(source: str, expected: object, isolated: bool) -> None:
    """Everyday %-formatting and format specs pass the width/precision guards."""
    assert safe_exec(source, isolated=isolated)["x"] == expected

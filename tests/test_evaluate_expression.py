"""compile_expr and safe_eval in expression mode: what works, what is refused, and how."""

from __future__ import annotations

import math
import os
import threading

import pytest

from safeops._permits import active
from safeops.errors import (
    ConfigurationError,
    EvaluatedCodeError,
    EvaluationLimitError,
    SafeOpsError,
    UnsafeExpressionError,
)
from safeops.evaluate import Expression, ExpressionLimits, compile_expr, safe_eval

BENCH = "a * 2 + b / (c - 1) if a > b else max(a, b, c)"


def test_benchmark_formula_matches_python() -> None:
    """The issue's benchmark formula gives Python's result for ints and floats."""
    expr = compile_expr(BENCH, names=["a", "b", "c"])
    assert expr(a=3, b=2.5, c=4) == 3 * 2 + 2.5 / (4 - 1)
    assert expr(a=1, b=2, c=3) == 3


def test_expression_is_reusable_with_new_values() -> None:
    """One compiled Expression evaluates many times with different values."""
    expr = compile_expr("x + y", names=("x", "y"))
    assert [expr(x=i, y=1) for i in range(3)] == [1, 2, 3]


def test_evaluate_takes_a_mapping() -> None:
    """Expression.evaluate accepts the values as a mapping."""
    assert compile_expr("x * 2", names=["x"]).evaluate({"x": 21}) == 42


def test_general_path_handles_big_ints_and_strings() -> None:
    """Values outside the fast numeric path (big ints, strings) still evaluate."""
    expr = compile_expr("x * 2", names=["x"])
    assert expr(x=2**100) == 2**101
    assert expr(x="ab") == "abab"


def test_missing_variable_is_refused() -> None:
    """A declared variable left out of the call raises UnsafeExpressionError."""
    with pytest.raises(UnsafeExpressionError, match="missing"):
        compile_expr("x + y", names=["x", "y"])(x=1)


def test_undeclared_variable_is_refused() -> None:
    """A value for a name that was never declared raises UnsafeExpressionError."""
    with pytest.raises(UnsafeExpressionError, match="not declared"):
        compile_expr("x", names=["x"])(x=1, y=2)


def test_unknown_name_in_source_is_refused_at_compile_time() -> None:
    """A name that is neither a variable nor a function is refused before running."""
    with pytest.raises(UnsafeExpressionError, match="unknown name"):
        compile_expr("x + y", names=["x"])


def test_expression_error_is_wrapped_with_cause() -> None:
    """The evaluated code's own exception becomes EvaluatedCodeError with __cause__."""
    with pytest.raises(EvaluatedCodeError) as info:
        safe_eval("1 / x", {"x": 0})
    assert info.value.error_type == "ZeroDivisionError"
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_system_exit_from_host_function_is_wrapped() -> None:
    """SystemExit raised by a host function never reaches the host as SystemExit."""

    def leave() -> None:
        raise SystemExit(3)

    with pytest.raises(EvaluatedCodeError) as info:
        safe_eval("leave()", functions={"leave": leave})
    assert info.value.error_type == "SystemExit"


def test_keyboard_interrupt_from_the_host_still_interrupts() -> None:
    """A real KeyboardInterrupt (here raised by a host function) is not swallowed."""

    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        safe_eval("interrupt()", functions={"interrupt": interrupt})


def test_host_function_is_called() -> None:
    """A vetted host function can be called by name."""
    assert safe_eval("hyp(3, 4)", functions={"hyp": math.hypot}) == 5.0


def test_builtin_function_of_dangerous_module_is_refused() -> None:
    """os.getcwd is refused as a function: the os module reaches the process."""
    with pytest.raises(UnsafeExpressionError, match="module"):
        compile_expr("f()", functions={"f": os.getcwd})


def test_unsafe_allow_any_function_opts_in() -> None:
    """unsafe_allow_any_function=True lets a vetted-by-caller function through."""
    expr = compile_expr("f()", functions={"f": os.getpid}, unsafe_allow_any_function=True)
    assert expr() == os.getpid()


def test_class_is_refused_even_with_unsafe_opt_in() -> None:
    """A class is never accepted as a function (it hands out its subclasses)."""
    with pytest.raises(UnsafeExpressionError, match="class"):
        compile_expr("f()", functions={"f": dict}, unsafe_allow_any_function=True)


def test_host_containers_are_copied_not_shared() -> None:
    """The expression gets a copy of a host list, never the list itself."""
    data = [1, 2]
    result = safe_eval("x", {"x": data})
    assert result == data
    assert result is not data


def test_value_subclass_is_refused() -> None:
    """A subclass of an allowed type (which could override methods) is refused."""

    class Text(str):
        pass

    with pytest.raises(UnsafeExpressionError):
        safe_eval("x", {"x": Text("a")})


def test_deep_host_value_is_limited() -> None:
    """Host data nested deeper than max_depth raises EvaluationLimitError."""
    value: list[object] = []
    for _ in range(100):
        value = [value]
    with pytest.raises(EvaluationLimitError):
        safe_eval("x", {"x": value})


def test_cyclic_host_value_is_refused() -> None:
    """A host container that contains itself is refused."""
    value: list[object] = []
    value.append(value)
    with pytest.raises(UnsafeExpressionError, match="cycle"):
        safe_eval("x", {"x": value})


def test_allowed_str_methods_work() -> None:
    """Allow-listed str methods are callable."""
    assert safe_eval("s.strip().upper().split(',')", {"s": " a,b "}) == ["A", "B"]


def test_dict_methods_work_without_mutation() -> None:
    """dict.get/keys/values/items work on the expression's copy."""
    assert safe_eval("sorted(d.keys()) + [d.get('z', 0)]", {"d": {"b": 1, "a": 2}}) == [
        "a", "b", 0,
    ]


def test_method_of_wrong_type_is_refused_at_run_time() -> None:
    """An attribute allowed on str but read from an int is refused when it runs."""
    with pytest.raises(UnsafeExpressionError, match="not allowed"):
        safe_eval("x.upper()", {"x": 1})


def test_format_method_is_refused() -> None:
    """str.format (attribute walks in format fields) is never allowed."""
    with pytest.raises(UnsafeExpressionError):
        compile_expr("'{0.__class__}'.format(1)")


def test_fstring_with_static_spec_works() -> None:
    """f-strings with constant format specs evaluate like Python."""
    assert safe_eval("f'{x:>6.2f}|{y!r}'", {"x": 3.14159, "y": "a"}) == "  3.14|'a'"


def test_fstring_with_dynamic_spec_is_guarded() -> None:
    """A width computed at run time is checked against max_length."""
    assert safe_eval("f'{x:>{w}}'", {"x": 1, "w": 3}) == "  1"
    with pytest.raises(EvaluationLimitError):
        safe_eval("f'{x:>{w}}'", {"x": 1, "w": 10**8})


def test_comprehensions_work() -> None:
    """List, set, dict and generator comprehensions evaluate."""
    assert safe_eval("[x * x for x in range(4) if x]") == [1, 4, 9]
    assert safe_eval("{k: v for k, v in d.items()}", {"d": {"a": 1}}) == {"a": 1}
    assert safe_eval("sum(x for x in range(5))") == 10


def test_comprehension_step_limit() -> None:
    """A comprehension over the step budget raises EvaluationLimitError."""
    limits = ExpressionLimits(max_iterations=100)
    with pytest.raises(EvaluationLimitError):
        safe_eval("[x for x in range(200)]", limits=limits)


def test_constant_over_limit_is_refused_at_compile_time() -> None:
    """A constant operation over a limit is refused before anything runs."""
    with pytest.raises(EvaluationLimitError):
        compile_expr("'a' * 10**9")


def test_repetition_of_variables_is_guarded_at_run_time() -> None:
    """s * n is checked when the values are known."""
    expr = compile_expr("s * n", names=["s", "n"])
    assert expr(s="ab", n=2) == "abab"
    with pytest.raises(EvaluationLimitError):
        expr(s="ab", n=10**9)


def test_power_of_variables_is_guarded() -> None:
    """x ** y with a huge result is refused before it is computed."""
    expr = compile_expr("x ** y", names=["x", "y"])
    assert expr(x=2, y=10) == 1024
    with pytest.raises(EvaluationLimitError):
        expr(x=10, y=10**9)


def test_pow_and_range_are_guarded() -> None:
    """pow() and range() are replaced by bounded versions."""
    assert safe_eval("pow(2, 10, 1000)") == 24
    with pytest.raises(EvaluationLimitError):
        safe_eval("range(10**12)")


def test_guarded_builtin_as_value_is_refused() -> None:
    """pow/range/sum/zip can only be called directly, never passed around."""
    with pytest.raises(UnsafeExpressionError):
        compile_expr("sorted([1], key=pow)")


def test_names_must_be_nfkc() -> None:
    """A declared name that the parser would normalise differently is refused."""
    with pytest.raises(UnsafeExpressionError, match="NFKC"):
        compile_expr("1", names=["\uff58"])


def test_underscore_names_are_refused() -> None:
    """Names starting with an underscore cannot be declared."""
    with pytest.raises(UnsafeExpressionError):
        compile_expr("1", names=["_x"])


def test_fullwidth_dunder_is_refused() -> None:
    """A fullwidth spelling of __class__ is normalised by the parser and refused."""
    with pytest.raises(UnsafeExpressionError):
        compile_expr("().__\uff43lass__")


def test_statements_are_refused() -> None:
    """Statements are not expressions: refused with a pointer to safe_exec."""
    with pytest.raises(UnsafeExpressionError, match="safe_exec"):
        compile_expr("import os")


def test_expression_attributes_only_describe_it() -> None:
    """Replacing an Expression's source attribute does not change what it runs."""
    expr = compile_expr("1")
    expr.source = "__import__('os')"
    assert expr() == 1


def test_compiled_expression_is_an_expression() -> None:
    """compile_expr returns an object satisfying the Expression protocol."""
    expr = compile_expr("x", names=["x"])
    assert isinstance(expr, Expression)
    assert (expr.source, expr.names) == ("x", ("x",))


def test_expression_cannot_be_built_directly() -> None:
    """Expression() is refused: only compile_expr validates."""
    with pytest.raises(TypeError):
        Expression()  # type: ignore[misc]


def test_expression_is_thread_safe() -> None:
    """Many threads sharing one Expression each get their own correct results."""
    expr = compile_expr("[x * i for i in range(50)]", names=["x"])
    errors: list[int] = []

    def work(value: int) -> None:
        for _ in range(200):
            if expr(x=value) != [value * i for i in range(50)]:
                errors.append(value)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_compile_runs_under_a_dynamic_code_permit() -> None:
    """The evaluator's own compile happens inside a dynamic_code permit (enforce-safe)."""
    import sys

    seen: list[bool] = []

    def hook(event: str, _args: object) -> None:
        if event == "compile" and recording:
            seen.append(active("dynamic_code") is not None)

    recording = True
    sys.addaudithook(hook)
    compile_expr("x + 1", names=["x"])
    recording = False
    assert seen
    assert all(seen)


def test_safe_eval_caches_compiled_expressions() -> None:
    """Repeated safe_eval of the same text reuses one compiled Expression."""
    from safeops.evaluate import _safe_eval

    safe_eval("q + 1", {"q": 1})
    size = len(_safe_eval._cache)
    assert safe_eval("q + 1", {"q": 2}) == 3
    assert len(_safe_eval._cache) == size


def test_limits_reject_non_positive_values() -> None:
    """ExpressionLimits refuses a zero or negative budget when built."""
    with pytest.raises(ConfigurationError):
        ExpressionLimits(max_length=0)


def test_source_over_length_limit_is_refused() -> None:
    """Source longer than max_source_length is refused before parsing."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("1+" * 6000 + "1")


def test_unknown_mode_is_refused() -> None:
    """A mode other than expression/literal raises UnsafeExpressionError."""
    with pytest.raises(UnsafeExpressionError):
        safe_eval("1", mode="exec")  # type: ignore[arg-type]


def test_every_refusal_is_a_safeops_error() -> None:
    """Refusals are SafeOpsErrors and also ValueErrors, as eval's callers expect."""
    with pytest.raises(SafeOpsError):
        safe_eval("__import__('os')")
    with pytest.raises(ValueError):
        safe_eval("__import__('os')")


def test_long_operator_chain_is_a_limit_error() -> None:
    """A long unbracketed chain (deep AST) is refused by the iterative tree check."""
    with pytest.raises(EvaluationLimitError, match="tree depth"):
        compile_expr("+".join(["x"] * 1000), names=["x"])


def test_variable_shadowing_a_builtin_is_refused() -> None:
    """A variable named like an allowed builtin (max, range) is refused."""
    with pytest.raises(UnsafeExpressionError, match="shadow"):
        compile_expr("max", names=["max"])


def test_function_shadowing_a_builtin_is_refused() -> None:
    """A host function named like an allowed builtin is refused."""
    with pytest.raises(UnsafeExpressionError, match="shadow"):
        compile_expr("range(3)", functions={"range": lambda n: n})


def test_file_opening_helper_is_refused() -> None:
    """codecs.open is refused as a host function (it opens files)."""
    import codecs

    with pytest.raises(UnsafeExpressionError, match="module"):
        compile_expr("f('x')", functions={"f": codecs.open})


def test_big_int_division_in_a_comprehension_is_charged() -> None:
    """Quadratic big-int work repeated by a comprehension runs out of budget."""
    with pytest.raises(EvaluationLimitError):
        safe_eval("[x // y for _ in range(10**5)]", {"x": 2**60000, "y": 3**20000})


def test_decode_accepts_only_preloaded_codecs() -> None:
    """bytes.decode works for utf-8 and refuses codecs that would be imported by name."""
    assert safe_eval("b.decode('utf-8')", {"b": b"hi"}) == "hi"
    with pytest.raises(UnsafeExpressionError):
        safe_eval("b.decode('idna')", {"b": b"hi"})


def test_repeated_scans_outside_comprehensions_are_charged() -> None:
    """Many C-level scans of big host data in one expression run out of steps."""
    data = list(range(10**6))
    assert safe_eval("5 in l", {"l": data}) is True
    with pytest.raises(EvaluationLimitError):
        safe_eval(" and ".join(["l == l"] * 10), {"l": data})

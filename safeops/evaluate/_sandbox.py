"""Compile and run one ``safe_exec`` program, in whichever process this is.

Used in-process by ``safe_exec(isolated=False)`` and inside the isolated worker. The
pipeline: :func:`~safeops.evaluate._sandbox_check.parse_program` and
:func:`~safeops.evaluate._sandbox_check.check_program` (our syntax check), then
RestrictedPython's ``compile_restricted_exec`` with a policy that also wraps size-prone
operations in our guards, then ``exec`` under a tracer that enforces the time, CPU,
recursion and output budgets.

What the tracer cannot do: interrupt one long C-level call (``math.factorial(10**7)``,
``sorted`` of ten million items, a huge allocation the size guards do not model).
It checks between Python lines. Only the isolated worker, with ``RLIMIT_CPU`` /
``RLIMIT_AS`` and a host that kills it on its wall-clock deadline, stops those.
"""

from __future__ import annotations

import ast
import functools
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

from safeops._permits import granted
from safeops.errors import (
    EvaluatedCodeError,
    EvaluationError,
    EvaluationLimitError,
    EvaluationMemoryError,
    UnsafeExpressionError,
    quote,
)
from safeops.evaluate._exec_limits import ExecLimits
from safeops.evaluate._sandbox_check import check_program, parse_program
from safeops.evaluate._sandbox_guards import Abort, Budget
from safeops.evaluate._sandbox_iter import check_render
from safeops.evaluate._sandbox_namespace import build_namespace

__all__ = ["FILENAME", "CompiledProgram", "compile_program", "run_program"]

#: The filename of every compiled program: the tracer follows only these frames.
FILENAME = "<safe_exec>"
_CACHE_SIZE = 256


@dataclass(frozen=True)
class CompiledProgram:
    """A checked, restricted code object and the names the program assigns."""

    code: CodeType
    assigned: frozenset[str]


_cache: OrderedDict[tuple[str, ExecLimits], CompiledProgram] = OrderedDict()
_cache_lock = threading.Lock()


def compile_program(source: object, limits: ExecLimits) -> CompiledProgram:
    """Check and compile *source*; refuse with UnsafeExpressionError. Cached (LRU)."""
    key = (source, limits) if isinstance(source, str) else None
    if key is not None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    tree = parse_program(source, limits)
    assigned = check_program(tree, limits)
    from RestrictedPython.compile import compile_restricted_exec

    try:
        with granted("dynamic_code", reason="safe_exec compiles a program it has checked",
                     subject=source):
            result = compile_restricted_exec(tree, filename=FILENAME, policy=_policy())
    except SyntaxError as error:  # the compiler's own checks (`*0`, misplaced `return`)
        raise UnsafeExpressionError(
            f"program does not compile: {error.msg} (line {error.lineno})", reason="syntax"
        ) from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as error:
        raise UnsafeExpressionError(
            f"program cannot be compiled safely ({type(error).__name__})", reason="compiler"
        ) from None
    if result.errors or result.code is None:
        details = "; ".join(quote(error, 200)[1:-1] for error in result.errors[:5])
        raise UnsafeExpressionError(f"RestrictedPython refused the program: {details}",
                                    reason="restricted")
    program = CompiledProgram(code=result.code, assigned=assigned)
    if key is not None:
        with _cache_lock:
            _cache[key] = program
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return program


@functools.lru_cache(maxsize=1)
def _policy() -> type[ast.NodeTransformer]:
    """RestrictedPython's transformer, followed by our size-guard insertion."""
    from RestrictedPython.transformer import RestrictingNodeTransformer

    class SafeOpsPolicy(RestrictingNodeTransformer):
        def visit_Module(self, node: ast.Module) -> Any:  # noqa: N802 - ast visitor name
            result = super().visit_Module(node)
            if not self.errors and isinstance(result, ast.Module):
                result = ast.fix_missing_locations(_SizeGuards().visit(result))
            return result

    return SafeOpsPolicy


class _SizeGuards(ast.NodeTransformer):
    """Route ``+ * ** << %``, f-string format specs, ``in`` and ``*unpacking`` through
    the guards, and put a tick in every loop body and comprehension.

    Runs after RestrictedPython's checks, so the hook names it inserts (which start
    with ``_``) are out of the program's own reach.
    """

    _OPS: Mapping[type[ast.operator], str] = {
        ast.Add: "+", ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%",
    }

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        symbol = self._OPS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(func=ast.Name("_safeops_binop_", ast.Load()),
                        args=[ast.Constant(symbol), node.left, node.right], keywords=[])
        return ast.copy_location(call, node)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        # The syntax check refuses chains containing `in`, so one operator is all there is.
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            call = ast.copy_location(ast.Call(
                func=ast.Name("_safeops_in_", ast.Load()),
                args=[node.left, node.comparators[0]], keywords=[],
            ), node)
            if isinstance(node.ops[0], ast.NotIn):
                return ast.copy_location(ast.UnaryOp(op=ast.Not(), operand=call), node)
            return call
        return node

    def visit_Starred(self, node: ast.Starred) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):  # f(*it), [*it]: C code unpacks it whole
            node.value = ast.copy_location(ast.Call(
                func=ast.Name("_safeops_bounded_", ast.Load()), args=[node.value],
                keywords=[],
            ), node.value)
        return node

    def visit_While(self, node: ast.While) -> ast.AST:
        self.generic_visit(node)
        node.body.insert(0, ast.copy_location(ast.Expr(_tick()), node))
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        node.body.insert(0, ast.copy_location(ast.Expr(_tick()), node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        # A tick on every call: recursion is checked even where no loop runs.
        self.generic_visit(node)
        node.body.insert(0, ast.copy_location(ast.Expr(_tick()), node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self.generic_visit(node)
        node.body = ast.copy_location(
            ast.BoolOp(op=ast.And(), values=[_tick(), node.body]), node.body
        )
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.ifs.insert(0, ast.copy_location(_tick(), node.iter))
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        if node.format_spec is None and isinstance(node.value, ast.Constant):
            return node
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        call = ast.Call(func=ast.Name("_safeops_format_", ast.Load()),
                        args=[node.value, ast.Constant(node.conversion), spec],
                        keywords=[])
        ast.copy_location(call, node)
        return ast.copy_location(
            ast.FormattedValue(value=call, conversion=-1, format_spec=None), node
        )


def _tick() -> ast.Call:
    return ast.Call(func=ast.Name("_safeops_tick_", ast.Load()), args=[], keywords=[])


class _Tracer:
    """Call tracer: call depth, plus a clock check every few hundred lines.

    Loops are checked by the tick the compiler inserts (a loop that jumps back to the
    same line produces no line events on every Python version).
    """

    __slots__ = ("budget", "depth", "lines")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.depth = 0
        self.lines = 0

    def on_call(self, frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != FILENAME:
            return None  # host functions and the sandbox's own helpers run untraced
        self.depth += 1
        if self.depth > self.budget.limits.max_depth:
            self.budget.trip(EvaluationLimitError(
                f"calls nested deeper than max_depth={self.budget.limits.max_depth}",
                limit="max_depth",
            ))
        return self.on_line

    def on_line(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            self.lines += 1
            if not self.lines & 0xFF or self.budget.tripped is not None:
                self.budget.check_clocks()
        elif event == "return":
            self.depth -= 1
        return self.on_line


def run_program(
    program: CompiledProgram,
    names: Mapping[str, Any],
    limits: ExecLimits,
    keep: Callable[[object], bool],
    *,
    watch_memory: bool = False,
) -> dict[str, Any]:
    """Run *program* with *names* bound; return the variables it assigned.

    Functions the program defined are left out; any other assigned value that *keep*
    rejects (not plain data, or not carried by the isolated transport) is an
    EvaluationError naming the variable rather than a silent loss.

    Every failure is a SafeOpsError: limit errors, or EvaluatedCodeError wrapping the
    program's own exception. A ``KeyboardInterrupt`` is re-raised: the program cannot
    name or raise one, so it is the user's real Ctrl-C.
    """
    budget = Budget(limits, watch_memory=watch_memory)
    namespace = build_namespace(budget)
    namespace.update(names)
    tracer = _Tracer(budget)
    budget.tracer = tracer.on_call
    previous = sys.gettrace()
    sys.settrace(tracer.on_call)
    try:
        with granted("dynamic_code", reason="safe_exec runs a program it has compiled",
                     subject=program.code):
            exec(program.code, namespace)  # noqa: S102 - checked, restricted, traced
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        # The limit, if one tripped, wins over whatever the program raised after it.
        if budget.tripped is not None:
            raise budget.tripped from None
        wrapped = _wrap(error, limits, budget)
        raise wrapped from (error if isinstance(wrapped, EvaluatedCodeError) else None)
    finally:
        # A program function the host kept (in-process) must not re-arm the tracer or
        # the abort signal after the run.
        budget.tracer = None
        budget.finished = True
        sys.settrace(previous)
    if budget.tripped is not None:  # tripped, then swallowed by the program's except
        raise budget.tripped
    return _results(program, namespace, keep)


def _results(
    program: CompiledProgram, namespace: Mapping[str, Any], keep: Callable[[object], bool]
) -> dict[str, Any]:
    """The assigned variables: functions left out, other values must pass *keep*."""
    variables: dict[str, Any] = {}
    for name in sorted(program.assigned):
        if name not in namespace:
            continue
        value = namespace[name]
        if callable(value):
            continue
        if not keep(value):
            raise EvaluationError(
                f"variable {quote(name)} holds a {type(value).__name__} that cannot be "
                "returned (only plain data can); delete it or convert it before the end",
                name=name, value_type=type(value).__name__,
            )
        variables[name] = value
    return variables


def _wrap(error: BaseException, limits: ExecLimits, budget: Budget) -> Exception:
    if isinstance(error, MemoryError):
        return EvaluationMemoryError("the program ran out of memory", limit="max_memory")
    if isinstance(error, RecursionError):
        return EvaluationLimitError(
            f"calls nested deeper than max_depth={limits.max_depth}", limit="max_depth"
        )
    try:
        for argument in error.args:
            check_render(budget, argument, "exception message")
        message = str(error)
    except Abort:  # its text would be huge: str() of it is one endless C call
        budget.tripped = None
        message = "<message too large to render>"
    except Exception:  # a hostile __str__ must not hide the real error
        message = "<unprintable>"
    return EvaluatedCodeError(
        f"the program raised {type(error).__name__}: {quote(message, 200)[1:-1]}",
        error_type=type(error).__name__, error_message=message,
    )

"""The run-time guards ``safe_exec`` wires into RestrictedPython's hooks.

Everything the evaluated program can reach is in the namespace
``_sandbox_namespace.build_namespace`` returns: a small set of builtins (no modules,
no ``type``/``getattr``/``open``/``eval``, no ``BaseException``/``KeyboardInterrupt``/
``SystemExit`` to name) and the hooks
RestrictedPython's transformer calls (``_getattr_``, ``_getitem_``, ``_getiter_``,
``_write_``, ``_inplacevar_``, ``_unpack_sequence_``, ``_iter_unpack_sequence_``,
``_apply_``, ``_print_``) plus two of ours that the compiler inserts around operations
that can blow up (``_safeops_binop_`` and ``_safeops_format_``; the program cannot name
them because identifiers starting with ``_`` are refused before compilation).

A :class:`Budget` is shared by the guards and the tracer of one run. When a limit trips
it is *sticky*: the limit error is recorded and an internal ``BaseException`` is raised,
again at every line the program still runs, so ``except Exception`` cannot swallow it.
"""

from __future__ import annotations

import operator
import string
import sys
import time
import types
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from safeops.errors import (
    EvaluationLimitError,
    EvaluationMemoryError,
    EvaluationTimeoutError,
    quote,
)
from safeops.evaluate._exec_limits import ExecLimits

__all__ = [
    "Abort",
    "Budget",
    "SizedMethods",
    "check_pow",
    "guarded_getattr",
    "make_binop",
    "make_format",
    "make_inplacevar",
]


#: Results at least this large (elements) trigger an immediate clock and memory check.
_LARGE = 1 << 16


class Abort(BaseException):
    """Internal: unwinds the evaluated program after a limit tripped (never escapes)."""


class Budget:
    """Limits of one run and the first limit error that tripped, if any."""

    __slots__ = ("cpu_deadline", "finished", "limits", "output", "peak_rss", "ticks",
                 "tracer", "tripped", "wall_deadline")

    def __init__(self, limits: ExecLimits, *, watch_memory: bool = False) -> None:
        self.limits = limits
        self.tripped: EvaluationLimitError | None = None
        self.output = 0
        self.ticks = 0
        self.tracer: Any = None
        self.finished = False
        self.wall_deadline = time.monotonic() + limits.wall_time
        self.cpu_deadline = time.thread_time() + limits.cpu_time
        # In-process runs have no RLIMIT_AS: the growth of the process's peak resident
        # size is checked with the clocks instead (approximate, Python-level only).
        self.peak_rss = _peak_rss() if watch_memory else None

    def tick(self) -> bool:
        """Called by every loop iteration and function call of the program (the
        compiler inserts it)."""
        if self.finished:
            return True
        if self.tripped is not None:
            raise Abort  # sticky: the program may not run on after a limit tripped
        if self.tracer is not None and sys.gettrace() is None:
            # CPython unsets a trace function that raised (our depth limit): put it back.
            sys.settrace(self.tracer)
        self.ticks += 1
        if not self.ticks & 0x1F:
            self.check_clocks()
        return True

    def check_clocks(self) -> None:
        if self.tripped is not None:
            raise Abort
        limits = self.limits
        if time.monotonic() > self.wall_deadline:
            self.trip(EvaluationTimeoutError(
                f"the program ran longer than wall_time={limits.wall_time} s",
                limit="wall_time",
            ))
        if time.thread_time() > self.cpu_deadline:
            self.trip(EvaluationTimeoutError(
                f"the program used more than cpu_time={limits.cpu_time} s of CPU",
                limit="cpu_time",
            ))
        if self.peak_rss is not None and _peak_rss() - self.peak_rss > limits.max_memory:
            self.trip(EvaluationMemoryError(
                f"the process grew by more than max_memory={limits.max_memory} bytes "
                "while the program ran", limit="max_memory",
            ))

    def trip(self, error: EvaluationLimitError) -> NoReturn:
        if self.tripped is None:
            self.tripped = error
        raise Abort

    def too_big(self, what: str, size: int) -> NoReturn:
        self.trip(EvaluationLimitError(
            f"{what} would produce {size} elements, more than max_size="
            f"{self.limits.max_size}; raise ExecLimits.max_size deliberately",
            limit="max_size", actual=size,
        ))

    def check_size(self, what: str, size: int) -> None:
        if size > self.limits.max_size:
            self.too_big(what, size)
        if size > _LARGE:
            # A large allocation is about to happen: look at the clocks and memory now
            # rather than at the next loop tick.
            self.check_clocks()

    def check_bits(self, what: str, bits: int) -> None:
        if bits > self.limits.max_int_bits:
            self.trip(EvaluationLimitError(
                f"{what} would produce an integer of about {bits} bits, more than "
                f"max_int_bits={self.limits.max_int_bits}",
                limit="max_int_bits", actual=bits,
            ))


def _peak_rss() -> int:
    """Peak resident set size of this process in bytes (0 where unknown)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# --- attribute access ---------------------------------------------------------------

#: Attributes that hand out frames, code or the objects behind them (generators,
#: coroutines, async generators, tracebacks, frames, code). Refused on every object.
FRAME_ATTRIBUTES = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "gi_suspended",
    "cr_frame", "cr_code", "cr_await", "cr_origin", "cr_running", "cr_suspended",
    "ag_frame", "ag_code", "ag_await", "ag_running",
    "tb_frame", "tb_next", "f_back", "f_builtins", "f_code", "f_generator", "f_globals",
    "f_locals", "f_trace", "co_code",
})

#: Objects that are doors out of the sandbox when reached at all.
_DOOR_TYPES = (types.FrameType, types.TracebackType, types.CodeType, types.ModuleType)
#: Objects whose every attribute is frame-related plumbing.
_FRAME_OWNERS = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType,
                 *_DOOR_TYPES)
#: ``str.format`` and friends walk attributes and items of their arguments unguarded
#: (Armin Ronacher 2016; RestrictedPython CVE-2023-41039, CVE-2024-47532).
_FORMAT_METHODS = frozenset({"format", "format_map"})
_FORMATTER_METHODS = frozenset({"format", "vformat", "get_field", "get_value", "parse",
                                "convert_field", "format_field"})
_MISSING = object()


def guarded_getattr(obj: object, name: object, default: object = _MISSING) -> Any:
    """``obj.name`` for the evaluated program, or an AttributeError saying why not."""
    if type(name) is not str:
        raise TypeError("attribute names must be str")
    normal = unicodedata.normalize("NFKC", name)
    if name.startswith("_") or normal.startswith("_"):
        raise AttributeError(f"attribute {quote(name)} starts with '_' and is refused")
    if name in FRAME_ATTRIBUTES or normal in FRAME_ATTRIBUTES or isinstance(obj, _FRAME_OWNERS):
        raise AttributeError(f"attribute {quote(name)} could expose a frame and is refused")
    if name in _FORMAT_METHODS and (
        isinstance(obj, (str, bytes)) or (isinstance(obj, type) and issubclass(obj, str))
    ):
        raise AttributeError("str.format/format_map are refused (they read attributes "
                             "unguarded); use f-strings or % formatting")
    if name in _FORMATTER_METHODS and (
        isinstance(obj, string.Formatter)
        or (isinstance(obj, type) and issubclass(obj, string.Formatter))
    ):
        raise AttributeError("string.Formatter methods are refused")
    if name == "mro":
        # type.mro() lists BaseException and object: a program that can name
        # BaseException can catch the sandbox's own abort signal.
        raise AttributeError("attribute 'mro' is refused (it hands out base classes)")
    value = getattr(obj, name) if default is _MISSING else getattr(obj, name, default)
    if isinstance(value, _DOOR_TYPES):
        raise AttributeError(f"attribute {quote(name)} is a frame, code or module and is "
                             "refused")
    if isinstance(value, type) and (value in (object, type) or (
        issubclass(value, BaseException) and not issubclass(value, Exception)
    )):
        raise AttributeError(f"attribute {quote(name)} is a base class and is refused")
    return value


class SizedMethods:
    """Wrap str/bytes/list methods whose result size the caller controls."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def wrap(self, obj: object, name: str, method: Any) -> Any:
        check = self.budget.check_size
        if name in ("ljust", "rjust", "center", "zfill"):
            def padded(width: int, *rest: Any) -> Any:
                if isinstance(width, int):
                    check(f"{name}()", width)
                return method(width, *rest)
            return padded
        if name == "expandtabs":
            def expanded(tabsize: int = 8) -> Any:
                tabs = obj.count("\t" if isinstance(obj, str) else b"\t")  # type: ignore[attr-defined]
                if isinstance(tabsize, int):
                    check("expandtabs()", len(obj) + tabs * max(tabsize, 0))  # type: ignore[arg-type]
                return method(tabsize)
            return expanded
        if name == "replace":
            def replaced(old: Any, new: Any, count: int = -1) -> Any:
                if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)):
                    hits = len(obj) + 1 if not old else obj.count(old)  # type: ignore[attr-defined, arg-type]
                    if count >= 0:
                        hits = min(hits, count)
                    check("replace()", len(obj) + hits * max(len(new) - len(old), 0))  # type: ignore[arg-type]
                return method(old, new, count)
            return replaced
        if name == "join":
            def joined(items: Iterable[Any]) -> Any:
                parts = list(items) if type(items) in (list, tuple) else list(
                    _ticking_items(self.budget, items))
                check("join()", len(parts))
                total = sum(len(p) for p in parts if isinstance(p, (str, bytes, bytearray)))
                check("join()", total + len(obj) * len(parts))  # type: ignore[arg-type]
                return method(parts)
            return joined
        if name == "translate" and isinstance(obj, str):
            def translated(table: Any) -> Any:
                if isinstance(table, dict):
                    longest = max((len(v) for v in table.values() if isinstance(v, str)),
                                  default=1)
                    check("translate()", len(obj) * longest)
                return method(table)
            return translated
        if name == "to_bytes":
            def to_bytes(length: int = 1, *rest: Any, **kwargs: Any) -> Any:
                if isinstance(length, int):
                    check("to_bytes()", length)
                return method(length, *rest, **kwargs)
            return to_bytes
        if name == "extend":
            def extended(items: Any) -> Any:
                if hasattr(items, "__len__"):
                    check("extend()", len(obj) + len(items))  # type: ignore[arg-type]
                return method(items)
            return extended
        return method


def _ticking_items(budget: Budget, items: Iterable[Any]) -> Iterable[Any]:
    limit = budget.limits.max_size
    for count, item in enumerate(items):
        budget.tick()
        if count >= limit:
            budget.too_big("join()", count + 1)
        yield item


SIZED_NAMES = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "replace",
                         "join", "translate", "extend", "to_bytes"})
SIZED_OWNERS = (str, bytes, bytearray, list, int)


# --- operators ----------------------------------------------------------------------

_SEQUENCES = (str, bytes, bytearray, list, tuple)


def _length(value: object) -> int:
    return len(value) if isinstance(value, _SEQUENCES) else 0


def _size(value: Any, budget: Budget) -> int:
    try:
        return len(value)
    except OverflowError:  # len(range(10**30))
        return budget.limits.max_size + 1


def _check_operation(budget: Budget, op: str, left: Any, right: Any) -> None:
    """Refuse ``left op right`` (or its in-place form) when the result would be huge."""
    if op == "+":
        if isinstance(left, _SEQUENCES) and hasattr(right, "__len__"):
            budget.check_size("+", len(left) + _size(right, budget))
    elif op == "*":
        if isinstance(left, int) and isinstance(right, _SEQUENCES):
            budget.check_size("*", left * len(right))
        elif isinstance(right, int) and isinstance(left, _SEQUENCES):
            budget.check_size("*", right * len(left))
        elif isinstance(left, int) and isinstance(right, int):
            budget.check_bits("*", left.bit_length() + right.bit_length())
    elif op == "**":
        check_pow(budget, left, right)
    elif op == "<<":
        if isinstance(left, int) and isinstance(right, int) and left and right > 0:
            budget.check_bits("<<", left.bit_length() + right)
    elif op == "%" and isinstance(left, (str, bytes, bytearray)):
        _check_percent(budget, left, right)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "*": operator.mul, "**": operator.pow, "<<": operator.lshift,
    "%": operator.mod,
}
_IN_PLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "*=": operator.imul, "**=": operator.ipow,
    "<<=": operator.ilshift, "%=": operator.imod, "-=": operator.isub,
    "/=": operator.itruediv, "//=": operator.ifloordiv, ">>=": operator.irshift,
    "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor, "@=": operator.imatmul,
}


def make_binop(budget: Budget) -> Callable[[str, Any, Any], Any]:
    """The guard the compiler puts around ``+ * ** << %``: sizes are checked first."""

    def binop(op: str, left: Any, right: Any) -> Any:
        _check_operation(budget, op, left, right)
        return _BINARY[op](left, right)

    return binop


def make_inplacevar(budget: Budget) -> Callable[[str, Any, Any], Any]:
    """RestrictedPython's ``_inplacevar_``: ``x op= y`` with the same size checks."""

    def inplacevar(op: str, target: Any, value: Any) -> Any:
        function = _IN_PLACE.get(op)
        if function is None:
            raise TypeError(f"augmented assignment {quote(op)} is not supported")
        _check_operation(budget, op[:-1], target, value)
        return function(target, value)

    return inplacevar


def check_pow(budget: Budget, base: Any, exponent: Any, modulus: Any = None) -> None:
    """Refuse ``**``/``pow`` whose result (or, with a modulus, whose work) is huge."""
    if not (isinstance(base, int) and isinstance(exponent, int) and exponent > 0):
        return
    if isinstance(modulus, int):
        # Modular exponentiation is one C call of about bits(exp) * bits(mod)**2 work.
        work = exponent.bit_length() * max(modulus.bit_length(), 64) ** 2
        if work > _MAX_MODPOW_WORK:
            budget.trip(EvaluationLimitError(
                "pow() with a modulus this large is seconds of uninterruptible work; "
                "refused", limit="max_int_bits",
            ))
        return
    if base not in (0, 1, -1):
        budget.check_bits("**", base.bit_length() * exponent)


#: About a second of C-level modular exponentiation on a slow machine.
_MAX_MODPOW_WORK = 2**36


def _bounded(budget: Budget, what: str, measure: Callable[[], int]) -> None:
    """Run the expression evaluator's shared size bound; a limit it trips is sticky."""
    try:
        size = measure()
    except EvaluationLimitError:
        budget.trip(EvaluationLimitError(
            f"{what}: a width or precision exceeds max_size={budget.limits.max_size}; "
            "raise ExecLimits.max_size deliberately", limit="max_size",
        ))
    budget.check_size(what, size)


def _check_percent(budget: Budget, template: str | bytes | bytearray, args: Any) -> None:
    from safeops.evaluate._guards import printf_size
    from safeops.evaluate._sandbox_iter import check_render

    for value in args if isinstance(args, tuple) else (args,):
        check_render(budget, value, "%-format argument")
    # Over-approximated, not re-parsed (attack review 2026-11-28, E3): every digit run
    # is a width, every '%' a field as large as the largest argument.
    _bounded(budget, "%-formatting", lambda: printf_size(
        template, args, budget.limits.max_size, bound_stars=True))


def make_format(budget: Budget) -> Callable[[Any, int, str], str]:
    """f-string fields with a format spec: the width/precision are checked first."""

    def formatted(value: Any, conversion: int, spec: str) -> str:
        from safeops.evaluate._guards import check_format_spec
        from safeops.evaluate._sandbox_iter import check_render

        check_render(budget, value, "f-string field")
        # Every digit run counts whole (leading zeros included: '{1:0001000000000}').
        _bounded(budget, "format spec width",
                 lambda: check_format_spec(spec, budget.limits.max_size))
        if conversion == ord("r"):
            value = repr(value)
        elif conversion == ord("s"):
            value = str(value)
        elif conversion == ord("a"):
            value = ascii(value)
        return format(value, spec)

    return formatted

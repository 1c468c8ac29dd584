"""The namespace a ``safe_exec`` program runs in, and the vetting of host values.

The builtins are an allow-list, smaller than RestrictedPython's ``safe_builtins``:
no ``id``/``hash`` (address leaks), no ``setattr``/``delattr``, no ``__build_class__``,
and none of ``BaseException``, ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit``
(a program that cannot name them cannot raise or catch them, so a ``KeyboardInterrupt``
seen by the host is always the user's real Ctrl-C). Constructors that allocate from a
size the program chooses (``list(range(10**10))``, ``bytes(10**10)``) check it first.
"""

from __future__ import annotations

import builtins
import inspect
import keyword
import math
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from safeops.errors import EvaluationLimitError, UnsafeExpressionError, quote
from safeops.evaluate._sandbox_guards import (
    SIZED_NAMES,
    SIZED_OWNERS,
    Budget,
    SizedMethods,
    check_pow,
    guarded_getattr,
    make_binop,
    make_format,
    make_inplacevar,
)
from safeops.evaluate._sandbox_iter import (
    CONSUMING_METHODS,
    bounded,
    check_render,
    is_material,
    make_contains,
    make_getiter,
    ticking,
    wrap_consuming_method,
)

__all__ = ["build_namespace", "copy_data", "is_data", "vet_in_process_names"]

_PLAIN = ("abs", "ascii", "bin", "bool", "callable", "chr", "complex",
          "divmod", "float", "hex", "isinstance",
          "issubclass", "len", "next", "oct", "ord", "range",
          "repr", "round", "slice", "str")
_SIZED_CONSTRUCTORS = ("list", "tuple", "set", "frozenset", "dict", "sorted", "bytes",
                       "bytearray")
_EXCEPTIONS = ("ArithmeticError", "AssertionError", "AttributeError", "Exception",
               "IndexError", "KeyError", "LookupError", "NameError", "NotImplementedError",
               "OverflowError", "RuntimeError", "StopIteration", "TypeError",
               "UnicodeError", "ValueError", "ZeroDivisionError")


#: The builtins that need no per-call budget, looked up once.
#: Builtin types whose iterable-consuming methods are wrapped (values and the types).
_METHOD_OWNERS = frozenset({list, tuple, set, frozenset, dict, bytearray, str, bytes, type})

_STATIC_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name) for name in (*_PLAIN, *_EXCEPTIONS)
}


def _sized_constructor(budget: Budget, name: str, make: Callable[..., Any]) -> Any:
    def construct(*args: Any, **kwargs: Any) -> Any:
        if args:
            first = args[0]
            if isinstance(first, int) and not isinstance(first, bool) and name in (
                "bytes", "bytearray"
            ):
                budget.check_size(f"{name}()", first)
            elif hasattr(first, "__len__"):
                try:
                    size = len(first)
                except OverflowError:  # len(range(10**30))
                    size = budget.limits.max_size + 1
                budget.check_size(f"{name}()", size)
            else:
                args = (bounded(budget, first, f"{name}()"), *args[1:])
        return make(*args, **kwargs)

    construct.__name__ = name
    return construct


class PrintCollector:
    """``_print_`` for RestrictedPython: collects text up to ``max_output`` characters.

    Printing to a ``file=`` is refused: the only sink is the collector, read back
    through the ``printed`` name.
    """

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        budget = self.budget
        budget.output += len(text)
        if budget.output > budget.limits.max_output:
            budget.trip(EvaluationLimitError(
                f"the program printed more than max_output={budget.limits.max_output} "
                "characters", limit="max_output",
            ))
        self.parts.append(text)

    def __call__(self) -> str:
        return "".join(self.parts)

    def _call_print(self, *objects: object, sep: object = " ", end: object = "\n") -> None:
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        if not isinstance(sep, str) or not isinstance(end, str):
            raise TypeError("print() sep and end must be str")
        for item in objects:
            check_render(self.budget, item, "print()")
        self.write(sep.join(str(item) for item in objects) + end)


def build_namespace(budget: Budget) -> dict[str, Any]:
    """A fresh namespace: allow-listed builtins and every guard hook, wired to *budget*."""
    from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

    safe = dict(_STATIC_BUILTINS)
    for name in _SIZED_CONSTRUCTORS:
        safe[name] = _sized_constructor(budget, name, getattr(builtins, name))
    safe["sum"] = _numeric_sum(budget)
    for name in ("max", "min", "any", "all"):
        safe[name] = _ticking_reducer(budget, getattr(builtins, name))
    safe["iter"] = _guarded_iter(budget)
    for name in ("map", "filter", "zip", "enumerate", "reversed"):
        safe[name] = _lazy(budget, getattr(builtins, name))
    for name in ("str", "repr", "ascii"):
        safe[name] = _rendering(budget, name, getattr(builtins, name))
    safe["int"] = _guarded_int(budget)
    safe["pow"] = _guarded_pow(budget)
    safe["round"] = _guarded_round(budget)
    # The checked constructors stand in for their types: isinstance(x, list), str.upper
    # and friends still see the real type.
    stand_ins = {id(safe[name]): (safe[name], getattr(builtins, name))
                 for name in (*_SIZED_CONSTRUCTORS, "str", "int")}

    def real_type(obj: Any) -> Any:
        entry = stand_ins.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        if type(obj) is tuple:
            return tuple(real_type(item) for item in obj)
        return obj

    safe["isinstance"] = lambda obj, kinds: isinstance(obj, real_type(kinds))
    safe["issubclass"] = lambda cls, kinds: issubclass(real_type(cls), real_type(kinds))
    sized = SizedMethods(budget)
    binop = make_binop(budget)
    collectors: list[PrintCollector] = []

    def getattr_hook(obj: object, name: str, default: object = None) -> Any:
        obj = real_type(obj) if callable(obj) else obj
        value = guarded_getattr(obj, name)
        if name in SIZED_NAMES:
            if isinstance(obj, SIZED_OWNERS):
                value = sized.wrap(obj, name, value)
            elif isinstance(obj, type) and issubclass(obj, SIZED_OWNERS):
                # str.ljust('a', 10**9) would skip the size check of 'a'.ljust(...).
                raise AttributeError(f"{obj.__name__}.{name} is only available on values")
        if name == "from_bytes" and obj is int:
            value = _checked_from_bytes(budget, value)
        if name in CONSUMING_METHODS and type(obj) in _METHOD_OWNERS:
            value = wrap_consuming_method(budget, name, value)
        return value

    def print_hook(_getattr: object = None) -> PrintCollector:
        collector = PrintCollector(budget)
        collectors.append(collector)
        return collector

    return {
        "__builtins__": safe,
        "__name__": "<safe_exec>",
        "_getattr_": getattr_hook,
        "_getitem_": _getitem,
        "_getiter_": make_getiter(budget),
        "_write_": _write,
        "_apply_": _apply,
        "_inplacevar_": make_inplacevar(budget),
        "_unpack_sequence_": guarded_unpack_sequence,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_print_": print_hook,
        "_safeops_binop_": binop,
        "_safeops_format_": make_format(budget),
        "_safeops_tick_": budget.tick,
        "_safeops_in_": make_contains(budget),
        "_safeops_bounded_": lambda value: bounded(budget, value, "unpacking"),
    }


def _getitem(obj: Any, key: Any) -> Any:
    value = obj[key]
    if isinstance(value, (types.FrameType, types.TracebackType, types.CodeType,
                          types.ModuleType)):
        raise TypeError("item is a frame, code or module and is refused")
    return value


def _write(obj: Any) -> Any:
    # Item assignment is allowed on the program's own containers; nothing else is
    # writable (attribute assignment on any object is refused).
    if type(obj) in (dict, list, bytearray):
        return obj
    raise TypeError(f"objects of type {type(obj).__name__} cannot be modified here")


def _apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def _numeric_sum(budget: Budget) -> Callable[..., Any]:
    def numeric_sum(items: Iterable[Any], start: Any = 0) -> Any:
        # sum() of lists or strings is quadratic C-level work no tracer can interrupt.
        if not isinstance(start, (int, float, complex)):
            raise TypeError("sum() is for numbers; build lists with comprehensions")
        total = start
        for item in ticking(budget, items):
            if not isinstance(item, (int, float, complex)):
                raise TypeError("sum() is for numbers; build lists with comprehensions")
            total = total + item
        return total

    return numeric_sum


def _ticking_reducer(budget: Budget, reduce: Callable[..., Any]) -> Callable[..., Any]:
    """max/min/any/all: one iterable argument is consumed with ticks (short-circuit kept)."""

    def reducer(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not is_material(args[0], budget):
            return reduce(ticking(budget, args[0]), **kwargs)
        return reduce(*args, **kwargs)

    reducer.__name__ = reduce.__name__
    return reducer


def _rendering(budget: Budget, name: str, render: Callable[..., Any]) -> Callable[..., Any]:
    """str/repr/ascii refuse values whose text would expand past ``max_size``."""

    def rendered(*args: Any, **kwargs: Any) -> Any:
        if args:
            check_render(budget, args[0], f"{name}()")
        return render(*args, **kwargs)

    rendered.__name__ = name
    return rendered


def _lazy(budget: Budget, make: Callable[..., Any]) -> Callable[..., Any]:
    """map/filter/zip/enumerate/reversed as ticking generators.

    Nesting the C iterators 300,000 deep (``x = map(abs, x)`` in a loop) makes
    ``next(x)`` or their deallocation recurse in C until the stack overflows. A Python
    generator per level keeps the nesting under the interpreter's recursion limit.
    """

    def lazy(*args: Any, **kwargs: Any) -> Any:
        return ticking(budget, make(*args, **kwargs))

    lazy.__name__ = make.__name__
    return lazy


def _guarded_int(budget: Budget) -> Callable[..., Any]:
    """int(text, base): the digits are checked against ``max_int_bits`` first (base 2,
    4, 8, 16 and 32 are exempt from CPython's own 4300-digit limit)."""

    def guarded_int(*args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], (str, bytes, bytearray)):
            base = args[1] if len(args) > 1 else kwargs.get("base", 10)
            bits_per_digit = math.log2(base) if isinstance(base, int) and base >= 2 else 6
            budget.check_bits("int()", int(len(args[0]) * bits_per_digit))
        return int(*args, **kwargs)

    guarded_int.__name__ = "int"
    return guarded_int


def _checked_from_bytes(budget: Budget, method: Callable[..., Any]) -> Callable[..., Any]:
    def from_bytes(data: Any, *args: Any, **kwargs: Any) -> Any:
        if hasattr(data, "__len__"):
            budget.check_bits("int.from_bytes()", len(data) * 8)
        return method(data, *args, **kwargs)

    return from_bytes


def _guarded_iter(budget: Budget) -> Callable[..., Any]:
    def guarded_iter(*args: Any) -> Any:
        # iter(callable, sentinel) is an endless C-level iterator (iter(int, 1)).
        return ticking(budget, iter(*args)) if len(args) == 2 else iter(*args)

    return guarded_iter


def _guarded_pow(budget: Budget) -> Callable[..., Any]:
    def guarded_pow(base: Any, exponent: Any, modulus: Any = None) -> Any:
        check_pow(budget, base, exponent, modulus)
        return pow(base, exponent) if modulus is None else pow(base, exponent, modulus)

    return guarded_pow


def _guarded_round(budget: Budget) -> Callable[..., Any]:
    def guarded_round(number: Any, ndigits: Any = None) -> Any:
        # round(n, -10**9) computes 10**(10**9) in one C call.
        if isinstance(ndigits, int):
            budget.check_bits("round() ndigits", abs(ndigits) * 4)
        return round(number) if ndigits is None else round(number, ndigits)

    return guarded_round


# --- data crossing the boundary -----------------------------------------------------

_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_SCALAR_SET = frozenset({*_SCALARS, bytearray})
_MAX_DATA_DEPTH = 100


def is_data(value: object, *, max_items: int = 10_000_000) -> bool:
    """Plain data only: scalars and (nested) lists, tuples, sets, dicts, bytearrays."""
    count = 0
    seen: set[int] = set()
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > max_items or depth > _MAX_DATA_DEPTH:
            return False
        kind = type(item)
        if kind in _SCALARS or kind is bytearray:
            continue
        if id(item) in seen:  # shared references: check each container once
            continue
        seen.add(id(item))
        if kind is dict:
            elements: Any = [*item.keys(), *item.values()]  # type: ignore[attr-defined]
        elif kind in (list, tuple, set, frozenset):
            elements = item
        else:
            return False
        count += len(elements)
        if count > max_items:
            return False
        kinds = set(map(type, elements))  # in C: flat containers need no Python loop
        if not kinds <= _SCALAR_SET:
            unique = dict(zip(map(id, elements), elements, strict=True))  # once each, in C
            stack.extend((element, depth + 1) for element in unique.values()
                         if type(element) not in _SCALAR_SET)
    return True


def copy_data(value: Any) -> Any:
    """A deep copy of plain data, so the program never mutates the host's objects."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {copy_data(k): copy_data(v) for k, v in value.items()}
    if kind in (list, tuple, set, frozenset, bytearray):
        return kind(copy_data(item) for item in value) if kind is not bytearray else (
            bytearray(value))
    raise TypeError(kind.__name__)  # pragma: no cover - callers check is_data first


#: Modules whose functions hand out reflection, imports, processes or attribute walks.
_REFUSED_MODULES = ("builtins", "operator", "functools", "inspect", "importlib", "os",
                    "sys", "subprocess", "types", "gc", "ctypes", "pickle", "marshal",
                    "code", "codeop", "runpy", "pdb", "shutil", "pathlib", "io", "socket",
                    "string", "posix", "nt", "_operator", "_functools", "_io", "_imp")
_PURE_MODULES = (math,)


def vet_in_process_names(names: Mapping[str, object] | None) -> dict[str, Any]:
    """Check and copy the values an in-process program receives.

    Plain data is deep-copied. Functions are allowed when they are plain Python
    functions (not generator or coroutine functions, not from reflective or
    process-starting stdlib modules) or functions of :mod:`math`; modules, classes,
    bound methods and other objects are refused.
    """
    prepared: dict[str, Any] = {}
    for key, value in (names or {}).items():
        check_name_key(key)
        if is_data(value):
            prepared[key] = copy_data(value)
        elif _is_vetted_function(value):
            prepared[key] = value
        else:
            raise UnsafeExpressionError(
                f"names[{quote(key)}] is a {type(value).__name__}: only plain data and "
                "plain functions may be passed (modules, classes, methods and objects "
                "can hand the program a way out)",
                name=key, value_type=type(value).__name__,
            )
    return prepared


def check_name_key(key: object) -> None:
    """Keys of ``names`` must be identifiers the program could bind itself."""
    if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
        raise UnsafeExpressionError(f"names key {quote(key)} is not an identifier")
    if key.startswith("_") or key == "printed":
        raise UnsafeExpressionError(
            f"names key {quote(key)} is reserved (names starting with '_' are the "
            "sandbox's hooks)", name=key,
        )


def _is_vetted_function(value: object) -> bool:
    if isinstance(value, types.FunctionType):
        if inspect.isgeneratorfunction(value) or inspect.iscoroutinefunction(value) or (
            inspect.isasyncgenfunction(value)
        ):
            return False
        module = getattr(value, "__module__", None) or ""
        return module.split(".")[0] not in _REFUSED_MODULES
    if isinstance(value, types.BuiltinFunctionType):
        return any(value.__self__ is module for module in _PURE_MODULES)
    return False

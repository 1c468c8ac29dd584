"""Run-time guards injected into an expression where safety depends on values.

The rewriter (``_rewrite``) replaces an operation by a call to one of these only where
the operands' types or sizes cannot be decided from the source, so a formula over
numbers runs as plain bytecode. Each guard checks the *size of the result before
computing it* (CPython does the expensive work in C, where it cannot be interrupted) and
charges it to the evaluation's budget, a two-item list ``[length, steps]`` created fresh
for every evaluation (so one Expression is safe to share between threads).
"""

from __future__ import annotations

import math
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from safeops.errors import EvaluationLimitError, EvaluationTimeoutError, UnsafeExpressionError
from safeops.evaluate._limits import ExpressionLimits
from safeops.evaluate._policy import ALLOWED_ATTRIBUTES

__all__ = ["GUARD_NAMES", "OTHER_OPERATORS", "Budget", "check_format_spec", "make_guards",
           "printf_size"]

Budget = list[Any]  # [remaining length units, remaining steps, monotonic deadline]

_SEQUENCES = (str, bytes, list, tuple)
#: Operators routed through the "other" guard, by index (see _rewrite).
OTHER_OPERATORS = (operator.sub, operator.truediv, operator.floordiv, operator.rshift,
                    operator.and_)  # fmt: skip
_INTS = (int, bool)
_NUMBERS = (int, bool, float, complex)
_COPYING_BUILTINS = ("str", "repr", "ascii", "list", "tuple", "set", "frozenset", "dict",
                     "sorted", "bin", "hex", "oct")  # fmt: skip
#: Names of the guards in an expression's scope. They start with "_", which no
#: expression can name, so only the rewriter can call them.
GUARD_NAMES = {
    "mul": "_g_mul", "add": "_g_add", "mod": "_g_mod", "pow": "_g_pow",
    "lshift": "_g_lshift", "attr": "_g_attr", "iter": "_g_iter", "fmt": "_g_fmt",
    "charge": "_g_charge", "range": "_g_range", "sum": "_g_sum", "zip": "_g_zip",
    "budget": "_g_budget", "or": "_g_or", "xor": "_g_xor", "steps": "_g_steps",
    "other": "_g_other", "text": "_g_text", "copy": "_g_copy", "round": "_g_round",
    "enumerate": "_g_enumerate", "str": "_g_to_str", "int": "_g_to_int", "result": "_g_result",
    "hashed": "_g_hashed",
}  # fmt: skip
# Every run of (Unicode) digits: format widths are over-approximated by all of them.
_DIGITS = re.compile(r"\d+")
_PRINTF_FLAGS = frozenset("-#0 +0123456789.*hlL")
_CONTAINERS = (list, tuple, set, frozenset, dict)
_FLAT_SCALARS = frozenset({float, bool, type(None), complex})
#: Types an evaluation may hand back to the host (lazy iterators, callables and views
#: would run evaluated code or charge a dead budget after the call returned).
_RESULT_TYPES = frozenset({type(None), bool, int, float, complex, str, bytes, list, tuple,
                           dict, set, frozenset, range})  # fmt: skip
#: Work of a 3-argument pow (exponent bits x modulus bits^2); 2**36 is ~0.3 s in C and
#: covers a 4096-bit modular exponentiation.
_MODPOW_WORK = 2**36
#: round(x, n) with |n| beyond this is the same as at this bound for floats.
_ROUND_DIGITS = 400


def _too_big(what: str, limit: str, maximum: int) -> EvaluationLimitError:
    return EvaluationLimitError(
        f"{what} would exceed the {limit} budget of {maximum}; raise ExpressionLimits."
        f"{limit} deliberately if this is legitimate",
        limit=limit,
        maximum=maximum,
    )


def check_format_spec(spec: str, max_length: int) -> int:
    """Return the widest width/precision in a format spec; refuse one over *max_length*."""
    widest = max((len(run) for run in _DIGITS.findall(spec)), default=0)
    if widest > len(str(max_length)):
        raise _too_big("format width or precision", "max_length", max_length)
    value = max((int(run) for run in _DIGITS.findall(spec)), default=0)
    if value > max_length:
        raise _too_big("format width or precision", "max_length", max_length)
    return value


def _size(value: object) -> int:
    if isinstance(value, int):
        return value.bit_length() // 64
    if isinstance(value, (float, complex)) or value is None:
        return 1
    try:
        return len(value)  # type: ignore[arg-type]
    except TypeError:
        return 1


def deep_size(value: object, limit: int) -> int:
    """Size of *value* counting nested items with multiplicity (an aliased ``[L] * n``
    counts ``n`` times), as str/repr/hash/== would traverse it; stops once over *limit*.
    Flat containers of scalars are measured at C speed."""
    total = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _CONTAINERS:
            total += len(item)
            members: Any = item
            if kind is dict:
                members = [*item, *item.values()]
            kinds = set(map(type, members))
            if kinds <= _FLAT_SCALARS:
                pass
            elif kinds <= {int, bool}:
                total += sum(map(int.bit_length, members)) // 64
            elif len(kinds) == 1 and kinds <= {str, bytes}:
                total += sum(map(len, members))
            else:
                stack.extend(members)
        else:
            total += _size(item)
        if total > limit:
            return total
    return total


def _logical(sequence: Any, limit: int) -> int:
    """Length of a str/bytes; alias-counting size of a list/tuple (``[L] * n`` repeats L)."""
    if type(sequence) in (list, tuple):
        return max(deep_size(sequence, limit), 1)
    return len(sequence)


def _int_work(left: object, right: object) -> int:
    """Steps charged for a product or division of two big ints (quadratic in C)."""
    if type(left) in _INTS and type(right) in _INTS:
        # ~1 step per 512x512-bit block: a 65,536-bit // 32,768-bit division is ~8,000
        return int((left.bit_length() // 512 + 1) * (right.bit_length() // 512 + 1))  # type: ignore[attr-defined]
    return 0


def make_guards(limits: ExpressionLimits) -> dict[str, Callable[..., Any]]:
    """Build the guard functions for *limits*; keys are the names in :data:`GUARD_NAMES`."""
    max_bits = limits.max_int_bits
    max_length = limits.max_length
    max_time = limits.max_time
    clock = time.monotonic

    def tick(budget: Budget) -> None:
        if clock() > budget[2]:
            raise EvaluationTimeoutError(
                f"the evaluation ran longer than max_time={max_time} s; raise "
                "ExpressionLimits.max_time deliberately if this is legitimate",
                limit="max_time",
                maximum=max_time,
            )

    def charge(value: Any, budget: Budget) -> Any:
        # containers by their logical (alias-counting) size, so nothing built here can
        # later make hash/==/str traverse more than the budget
        if type(value) in _CONTAINERS:
            budget[0] -= deep_size(value, max(budget[0], 0))
        elif type(value) is int:
            budget[0] -= value.bit_length() >> 6
        else:
            budget[0] -= _size(value)
        if budget[0] < 0:
            raise _too_big("data produced by this evaluation", "max_length", max_length)
        if clock() > budget[2]:
            tick(budget)
        return value

    def int_bits(bits: int, budget: Budget) -> None:
        tick(budget)
        if bits > max_bits:
            raise _too_big(f"an integer of {bits} bits", "max_int_bits", max_bits)
        budget[0] -= bits // 64
        if budget[0] < 0:
            raise _too_big("data produced by this evaluation", "max_length", max_length)

    def sized(length: int, budget: Budget) -> None:
        tick(budget)
        if length > max_length:
            raise _too_big(f"a result of length {length}", "max_length", max_length)
        budget[0] -= length
        if budget[0] < 0:
            raise _too_big("data produced by this evaluation", "max_length", max_length)

    def work(amount: int, budget: Budget) -> None:
        tick(budget)
        budget[1] -= amount
        if budget[1] < 0:
            raise _too_big("big-integer work", "max_iterations", limits.max_iterations)

    def mul(left: Any, right: Any, budget: Budget) -> Any:
        if type(left) in _INTS and type(right) in _INTS:
            int_bits(left.bit_length() + right.bit_length(), budget)
            work(_int_work(left, right), budget)
        elif type(left) in _INTS and type(right) in _SEQUENCES:
            sized(_logical(right, max_length) * max(left, 0), budget)
        elif type(right) in _INTS and type(left) in _SEQUENCES:
            sized(_logical(left, max_length) * max(right, 0), budget)
        return left * right

    def add(left: Any, right: Any, budget: Budget) -> Any:
        if type(left) not in _NUMBERS:
            sized(_size(left) + _size(right), budget)
        return left + right

    def bitor(left: Any, right: Any, budget: Budget) -> Any:
        if type(left) not in _NUMBERS:
            sized(_size(left) + _size(right), budget)
        return left | right

    def power(base: Any, exponent: Any, modulus: Any, budget: Budget) -> Any:
        if type(base) in _INTS and type(exponent) in _INTS:
            if modulus is not None:
                if type(modulus) in _INTS:
                    bits = max(base.bit_length(), exponent.bit_length(), modulus.bit_length())
                    int_bits(bits, budget)
                    # one uninterruptible C call: bound its work, not only its sizes
                    cost = abs(exponent).bit_length() * modulus.bit_length() ** 2
                    if cost > _MODPOW_WORK:
                        raise _too_big("a 3-argument pow (exponent bits x modulus bits^2 = "
                                       f"{cost})", "modular pow work", _MODPOW_WORK)  # fmt: skip
                return pow(base, exponent, modulus)
            if exponent > 0 and abs(base) > 1:
                # log2 of the result, computed without computing it
                bits = int(min(exponent, max_bits + 1) * math.log2(abs(base))) + 1
                int_bits(bits, budget)
        if modulus is not None:
            return pow(base, exponent, modulus)
        return base**exponent

    def xor(left: Any, right: Any, budget: Budget) -> Any:
        if type(left) not in _NUMBERS:
            sized(_size(left) + _size(right), budget)
        return left ^ right

    def steps(value: Any, budget: Budget) -> Any:
        # A C-level scan of n items costs about n/8 of a comprehension step. Containers
        # are measured deeply (hash, ==, in and str walk nested items, aliases included).
        tick(budget)
        if type(value) in _CONTAINERS:
            budget[1] -= deep_size(value, 8 * max(budget[1], 0) + 8) // 8 + 1
        else:
            budget[1] -= _size(value) // 8 + 1
        if budget[1] < 0:
            raise _too_big("steps (comprehension steps and C-level scans)", "max_iterations",
                           limits.max_iterations)  # fmt: skip
        return value

    def mod(left: Any, right: Any, budget: Budget) -> Any:
        tick(budget)
        if type(left) in (str, bytes):
            sized(printf_size(left, right, max_length), budget)
        else:
            work(_int_work(left, right), budget)
        return left % right

    def other(left: Any, right: Any, operator_index: int, budget: Budget) -> Any:
        # -, /, //, >>, & on values of unknown type: charge big-int work and copies
        work(_int_work(left, right), budget)
        return charge(OTHER_OPERATORS[operator_index](left, right), budget)

    def lshift(left: Any, right: Any, budget: Budget) -> Any:
        if type(left) in _INTS and type(right) in _INTS and left and right > 0:
            int_bits(left.bit_length() + min(right, max_bits + 1), budget)
        return left << right

    def iterate(iterable: Iterable[Any], cost: int, budget: Budget) -> Iterator[Any]:
        # Each step of a comprehension costs the size of its body, so nesting and big
        # bodies run out of budget together (memory and time both scale with it). The
        # deadline bounds steps whose C-level work is not visible here (hash collisions).
        for count, item in enumerate(iterable, 1):
            budget[1] -= cost
            if budget[1] < 0:
                raise _too_big("comprehension steps", "max_iterations", limits.max_iterations)
            if not count & 7 and clock() > budget[2]:
                tick(budget)
            yield item

    def text(value: Any, budget: Budget) -> Any:
        # str/repr/format of a container: bound the text before C builds it.
        if type(value) in _CONTAINERS:
            size = deep_size(value, max(budget[0], 0))
            if size > budget[0]:
                raise _too_big("the text of this container", "max_length", max_length)
        return steps(value, budget)

    def copy(value: Any, budget: Budget) -> Any:
        # list()/tuple()/sorted()... of an iterator: charge each item as it is produced,
        # so a zip or enumerate of big items is refused before it is materialised.
        steps(value, budget)
        if type(value) in _RESULT_TYPES:
            return value
        return (charge(item, budget) for item in value)

    def ticking(values: Iterable[Any], budget: Budget) -> Iterator[Any]:
        for index, item in enumerate(values):
            if not index & 63:
                tick(budget)
            yield item

    def hashed(value: Any, budget: Budget) -> Any:
        # set()/frozenset()/dict() and {*x} of a list insert item by item in one C call:
        # colliding hashes make that quadratic, so feed it through the deadline check
        steps(value, budget)
        if type(value) in (list, tuple) and len(value) > 256:
            return ticking(value, budget)
        return copy(value, budget)

    def safe_round(number: Any, ndigits: Any = None) -> Any:
        # int.__round__(-n) computes 10**n in C: clamp to a bound with the same result
        if type(ndigits) in _INTS and abs(ndigits) > _ROUND_DIGITS:
            if type(number) in _INTS:
                if ndigits > 0:
                    return round(number, 0)
                ndigits = max(ndigits, -(number.bit_length() // 3 + 2))
                if abs(ndigits) > _ROUND_DIGITS + max_bits // 3:
                    raise _too_big("round() digits", "max_int_bits", max_bits)
            else:
                ndigits = _ROUND_DIGITS if ndigits > 0 else -_ROUND_DIGITS
        return round(number, ndigits)

    def safe_enumerate(iterable: Iterable[Any], start: Any = 0) -> Iterator[tuple[int, Any]]:
        if type(start) in _INTS and start.bit_length() > 64:
            raise _too_big("enumerate() start", "max_int_bits", 64)
        return enumerate(iterable, start)

    def safe_str(*args: Any, **kwargs: Any) -> str:
        if len(args) > 1 or kwargs:
            # str(b, codec) looks the codec up by name (imports encodings.*)
            _check_codec(*args[1:], **{k: v for k, v in kwargs.items() if k != "object"})
        return str(*args, **kwargs)

    def safe_int(*args: Any, **kwargs: Any) -> int:
        if len(args) > 1 or "base" in kwargs:
            value = args[0] if args else kwargs.get("x")
            base = args[1] if len(args) > 1 else kwargs["base"]
            if isinstance(value, (str, bytes)) and type(base) in _INTS:
                bits = len(value) * math.log2(max(base, 2)) if base else len(value) * 4
                if bits > max_bits:
                    raise _too_big(f"an integer of ~{int(bits)} bits", "max_int_bits",
                                   max_bits)  # fmt: skip
        return int(*args, **kwargs)

    def result(value: Any) -> Any:
        if type(value) in _RESULT_TYPES:
            return value
        raise UnsafeExpressionError(
            f"the expression returned a {type(value).__name__}; only plain data is "
            "returned (wrap an iterator or generator in list())",
            value_type=type(value).__name__,
        )

    def fmt(value: Any, conversion: int, spec: str, budget: Budget) -> str:
        check_format_spec(spec, max_length)
        text(value, budget)
        if conversion == ord("r"):
            value = repr(value)
        elif conversion == ord("s"):
            value = str(value)
        elif conversion == ord("a"):
            value = ascii(value)
        return charge(format(value, spec), budget)  # type: ignore[no-any-return]

    def bounded_range(*args: int) -> range:
        result = range(*args)
        try:
            length = len(result)
        except OverflowError:
            length = max_length + 1
        if length > max_length:
            raise _too_big(f"a range of {length} items", "max_length", max_length)
        return result

    def safe_sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
        if type(start) not in _NUMBERS:
            raise UnsafeExpressionError(
                "sum() with a non-numeric start is refused (concatenating sequences with "
                "sum is quadratic); use a comprehension or str.join",
                function="sum",
            )
        return sum(iterable, start)

    def safe_zip(*iterables: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
        if len(iterables) > 64:
            raise _too_big(f"zip() of {len(iterables)} iterables", "zip arguments", 64)
        return zip(*iterables)  # noqa: B905 (zip's own semantics)

    def attribute(obj: Any, name: str, budget: Budget) -> Any:
        allowed = ALLOWED_ATTRIBUTES.get(type(obj))
        if allowed is None or name not in allowed:
            raise UnsafeExpressionError(
                f"attribute {name!r} of a {type(obj).__name__} value is not allowed; only "
                "listed public attributes of plain data types can be read",
                attribute=name,
                value_type=type(obj).__name__,
            )
        value = getattr(obj, name)
        if not callable(value):
            return value
        return _method(obj, name, value, sized, charge, steps, budget, ticking)

    return {
        GUARD_NAMES["mul"]: mul, GUARD_NAMES["add"]: add, GUARD_NAMES["or"]: bitor,
        GUARD_NAMES["xor"]: xor, GUARD_NAMES["steps"]: steps, GUARD_NAMES["other"]: other,
        GUARD_NAMES["pow"]: power, GUARD_NAMES["mod"]: mod,
        GUARD_NAMES["lshift"]: lshift, GUARD_NAMES["iter"]: iterate,
        GUARD_NAMES["fmt"]: fmt, GUARD_NAMES["charge"]: charge,
        GUARD_NAMES["range"]: bounded_range, GUARD_NAMES["sum"]: safe_sum,
        GUARD_NAMES["zip"]: safe_zip, GUARD_NAMES["attr"]: attribute,
        GUARD_NAMES["text"]: text, GUARD_NAMES["copy"]: copy,
        GUARD_NAMES["round"]: safe_round, GUARD_NAMES["enumerate"]: safe_enumerate,
        GUARD_NAMES["str"]: safe_str, GUARD_NAMES["int"]: safe_int,
        GUARD_NAMES["result"]: result, GUARD_NAMES["hashed"]: hashed,
    }  # fmt: skip


_SIZED_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "split",
     "rsplit", "splitlines", "upper", "lower", "title", "capitalize", "swapcase",
     "casefold", "strip", "lstrip", "rstrip", "hex", "decode", "items", "keys", "values",
     "union", "symmetric_difference", "difference", "intersection", "partition",
     "rpartition", "removeprefix", "removesuffix"}
)  # fmt: skip


def _method(  # noqa: PLR0917
    obj: Any, name: str, method: Callable[..., Any], sized: Callable[[int, Budget], None],
    charge: Callable[[Any, Budget], Any], steps: Callable[[Any, Budget], Any],
    budget: Budget, ticking: Callable[[Iterable[Any], Budget], Iterator[Any]],
) -> Callable[..., Any]:  # fmt: skip
    """Wrap a method: its work (linear in the object) is charged as steps; where the result
    can grow beyond the input its size is checked before the call, and every sequence it
    returns is charged to the length budget."""

    def call(*args: Any, **kwargs: Any) -> Any:
        steps(obj, budget)
        if len(args) > 64:
            raise UnsafeExpressionError(f"{name}() with {len(args)} arguments is refused")
        for argument in args:
            if type(argument) is range or type(argument) in _CONTAINERS:
                steps(argument, budget)  # set methods iterate every argument
        if type(obj) in (set, frozenset):
            # inserting/looking up colliding hashes is quadratic: keep the deadline checked
            args = tuple(ticking(argument, budget) if type(argument) in (list, tuple)
                         else argument for argument in args)  # fmt: skip
        if name == "decode":
            _check_codec(*args, **kwargs)
        if name not in _SIZED_METHODS:
            return method(*args, **kwargs)
        if name in ("center", "ljust", "rjust", "zfill") and args and type(args[0]) in _INTS:
            sized(int(args[0]), budget)
        elif name == "expandtabs":
            tabsize = args[0] if args else kwargs.get("tabsize", 8)
            if type(tabsize) in _INTS:
                sized(len(obj) + obj.count("\t" if type(obj) is str else b"\t") * tabsize,
                      budget)  # fmt: skip
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if type(old) is type(obj) and type(new) is type(obj):
                hits = obj.count(old) if old else len(obj) + 1
                count = args[2] if len(args) > 2 else kwargs.get("count", -1)
                if type(count) in _INTS and count >= 0:
                    hits = min(hits, count)
                sized(len(obj) + hits * max(len(new) - len(old), 0), budget)
        elif name == "join" and args:
            parts = list(args[0])
            sized(sum(_size(part) for part in parts) + len(obj) * len(parts), budget)
            return method(parts)
        return charge(method(*args, **kwargs), budget)

    return call


# Codec and error-handler names are looked up in a registry that imports modules on
# demand (encodings.*): only these, already loaded at start-up, are accepted.
_CODECS = frozenset({"utf-8", "utf8", "utf_8", "ascii", "latin-1", "latin1", "latin_1",
                     "iso-8859-1", "iso8859-1"})  # fmt: skip
_ERROR_HANDLERS = frozenset({"strict", "replace", "ignore", "backslashreplace"})


def _check_codec(encoding: Any = "utf-8", errors: Any = "strict") -> None:
    if (not isinstance(encoding, str) or encoding.lower() not in _CODECS
            or errors not in _ERROR_HANDLERS):  # fmt: skip
        raise UnsafeExpressionError(
            f"decode() and str(bytes, ...) accept the encodings {sorted(_CODECS)} and the "
            f"error handlers {sorted(_ERROR_HANDLERS)} only (codec lookup imports modules "
            "by name)",
            attribute="decode",
        )


def printf_size(template: str | bytes | bytearray, values: Any, max_length: int, *,
                bound_stars: bool = False) -> int:
    """Upper bound of ``template % values``. Not a re-parse of printf syntax (which can be
    desynchronised): every digit run counts as a width, every ``%`` as a field, each
    field as large as the largest argument's text (containers measured deeply).
    Refuses (UnsafeExpressionError) mapping keys containing '(' and, unless
    *bound_stars*, '*' widths; with *bound_stars* each '*' counts as the largest int
    argument. Raises EvaluationLimitError for a width or precision over *max_length*."""
    text = template if isinstance(template, str) else template.decode("latin-1")
    items = values.values() if isinstance(values, dict) else (
        values if isinstance(values, tuple) else (values,)
    )  # fmt: skip
    widths = 0
    for run in _DIGITS.findall(text):
        widths += check_format_spec(run, max_length)
    star = -1
    index = text.find("%")
    while index >= 0:
        index += 1
        if text.startswith("(", index):
            end = text.find(")", index)
            if end < 0 or "(" in text[index + 1 : end]:
                raise UnsafeExpressionError(
                    "%-formatting mapping keys containing '(' are refused", operator="%"
                )
            index = end + 1
        while index < len(text) and text[index] in _PRINTF_FLAGS:
            if text[index] == "*":
                if not bound_stars:
                    raise UnsafeExpressionError(
                        "'*' widths in %-formatting are refused", operator="%"
                    )
                if star < 0:
                    star = max((abs(item) for item in items if type(item) in _INTS),
                               default=0)  # fmt: skip
                    if star > max_length:
                        raise _too_big("'*' width or precision", "max_length", max_length)
                widths += star
            index += 1
        index = text.find("%", index + 1)
    largest = max((deep_size(item, max_length + 1) * (64 if isinstance(item, int) else 1) + 32
                   for item in items), default=0)  # fmt: skip
    return len(template) + widths + text.count("%") * largest

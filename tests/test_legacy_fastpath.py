"""The C fast path of the legacy reader may only ever say "accept", and only when the
Python walk would accept too.

``_fastpath.fast_walk`` returns an end offset or None ("undecided": the Python walk then
runs and produces the error). Its one safety property, checked here on generated
pickles, their mutations, raw opcode programs and tight budgets: whenever it returns an
int, ``walk(data, _StrictVisitor(policy), same budgets)`` returns the same int without
raising. The other tests pin that it is really used (common data is accepted), that it
never accepts an attack vector or an over-budget pickle, and that ``legacy.loads`` gives
the same values and the same errors with and without it.
"""

from __future__ import annotations

import collections
import decimal
import importlib.util
import json
import os
import pickle
import pickletools
import struct
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

# The raw opcode-program generators of the legacy reader's own property tests.
from test_legacy_differential import _GLUE, _LEAVES, _PRELUDE, _VALUES
from test_legacy_fuzz import _values as _FUZZ_VALUES

from safeops.errors import DecodeError, DecodeLimitError
from safeops.serialize import Limits, legacy
from safeops.serialize._limits import DEFAULT_LIMITS
from safeops.serialize.legacy import _unpickler
from safeops.serialize.legacy._policy import Policy, parse_allow
from safeops.serialize.legacy._scan import walk
from safeops.serialize.legacy._symbolic import Malformed, OverLimit
from safeops.serialize.legacy._unpickler import _StrictVisitor

try:
    from safeops.serialize.legacy import _fastpath
except ImportError:  # the wrapper module itself is missing: nothing to test but CI's flag
    _fastpath = None  # type: ignore[assignment]

AVAILABLE = bool(_fastpath is not None and _fastpath.AVAILABLE)
needs_extension = pytest.mark.skipif(not AVAILABLE, reason="the _fastscan C extension is not built")

HERE = Path(__file__).parent
VECTORS = HERE / "vectors" / "pickle"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))
# Example counts scale with the active hypothesis profile (conftest.py: 200 by default).
EXAMPLES = settings().max_examples


# --- caller classes (allowed by the second policy) ---------------------------------------


class Point:
    """A caller class whose instances carry ``__dict__`` state."""

    def __init__(self, x: Any = None, y: Any = None) -> None:
        self.x = x
        self.y = y

    def __eq__(self, other: object) -> bool:
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


class Empty:
    """A caller class whose instances have no state (pickle writes no BUILD)."""


class Slotted:
    """A caller class with ``__slots__`` (pickle writes a ``(None, slots)`` state)."""

    __slots__ = ("a", "b")

    def __init__(self, a: Any = None, b: Any = None) -> None:
        self.a = a
        self.b = b


class Reduced:
    """A caller class pickled by ``__reduce__`` as a call with arguments."""

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (Reduced, self.args)


DEFAULT_POLICY = Policy()
_CALLER_CLASSES = frozenset({Point, Empty, Slotted, Reduced})
CALLER_POLICY = Policy(parse_allow(_CALLER_CLASSES))


# --- helpers -----------------------------------------------------------------------------


def _budgets(data: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, int]:
    """The budgets ``legacy.loads`` hands the walks for *data* under *limits*."""
    return {
        "max_elements": limits.max_elements,
        "max_depth": limits.max_depth,
        "max_memo": min(limits.max_elements, len(data)),
        "max_str_len": limits.max_str_len,
        "max_int_digits": limits.max_int_digits,
    }


def _fast(data: bytes, policy: Policy, budgets: dict[str, int]) -> int | None:
    assert _fastpath is not None
    result = _fastpath.fast_walk(data, policy, **budgets)
    assert result is None or type(result) is int, f"fast_walk returned {result!r}"
    return result


def _agree(data: bytes, policy: Policy, budgets: dict[str, int]) -> int | None:
    """The differential property: an int from fast_walk is the Python walk's verdict too."""
    fast = _fast(data, policy, budgets)
    if currently_in_test_context():  # hypothesis statistics: how often the C scan decides
        event("fast path accepted" if fast is not None else "fast path undecided")
    if fast is None:
        return None
    try:
        end = walk(data, _StrictVisitor(policy), **budgets)
    except (Malformed, OverLimit, DecodeError) as error:
        pytest.fail(
            f"fast_walk accepted {data!r} (end {fast}) with {budgets} and "
            f"{sorted(policy.caller_pairs)}, but walk refused it: {error!r}"
        )
    assert end == fast, f"fast_walk ended at {fast}, walk at {end}, for {data!r} with {budgets}"
    return fast


def _dumps(value: Any, protocol: int) -> bytes:
    try:
        return pickle.dumps(value, protocol)
    except (TypeError, ValueError, pickle.PicklingError, RecursionError):
        assume(False)  # a value this protocol cannot write (slots at protocol 0/1, ...)
        raise AssertionError("unreachable") from None


def _load_both(data: bytes, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> tuple[Any, Any]:
    """``legacy.loads`` with the fast path on, then off: each a value or the error raised."""
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_fastpath, "ENABLED", enabled)
        try:
            results.append(legacy.loads(data, **kwargs))
        except DecodeError as error:
            results.append(error)
    return results[0], results[1]


# --- strategy (a): pickles of allowed values ---------------------------------------------

_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_TEXT = st.text(st.one_of(st.characters(), _SURROGATES), max_size=12)
_INTS = st.one_of(
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.integers(-(10**120), 10**120),
    st.sampled_from(
        [
            0,
            1,
            -1,
            255,
            256,
            -256,
            65535,
            65536,
            2**31 - 1,
            -(2**31),
            2**31,
            -(2**31) - 1,
            2**63 - 1,
            2**63,
            -(2**63) - 1,
            2**64,
        ]
    ),
    st.integers(0, 80).map(lambda k: k * (2**61 - 1)),  # all hash to 0
    st.integers(4290, 4310).map(lambda digits: -(10**digits)),  # near the digit budget
)
_TZ = st.one_of(
    st.just(timezone.utc),
    st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(timezone),
    st.builds(timezone, st.just(timedelta(hours=2)), st.text(max_size=4)),
)
_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)
_UUIDS = st.one_of(
    st.uuids(),
    st.builds(
        uuid.UUID,
        int=st.integers(0, 2**128 - 1),
        is_safe=st.sampled_from(list(uuid.SafeUUID)),
    ),
)
_HASHABLE_LEAVES = st.one_of(
    st.none(), st.booleans(), _INTS, st.floats(allow_nan=False), _TEXT, st.binary(max_size=12),
    st.datetimes(timezones=st.none() | _TZ), st.dates(), st.times(timezones=st.none() | _TZ),
    st.timedeltas(), _TZ, _DECIMALS, _UUIDS,
)  # fmt: skip
_HASHABLE = st.recursive(
    _HASHABLE_LEAVES,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4),
    max_leaves=6,
)
_LEAVES_A = st.one_of(
    _HASHABLE,
    st.floats(),  # NaN and infinities
    st.decimals(),  # NaN, sNaN and infinities
    st.binary(max_size=40).map(bytearray),
    st.complex_numbers(),
    st.sampled_from([Ellipsis, NotImplemented, slice(1, None, 2)]),
)


def _self_list(value: Any) -> list[Any]:
    cycle = [value]
    cycle.append(cycle)
    return cycle


def _self_dict(value: Any) -> dict[str, Any]:
    cycle = {"value": value}
    cycle["self"] = cycle
    return cycle


def _containers_a(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    factories = st.sampled_from([None, int, list, dict, set, str, float])
    return st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(_HASHABLE, inner, max_size=4),
        st.tuples(inner, inner),
        st.lists(inner, max_size=3).map(tuple),
        st.sets(_HASHABLE, max_size=5),
        st.frozensets(_HASHABLE, max_size=5),
        st.dictionaries(_TEXT, inner, max_size=4).map(collections.OrderedDict),
        st.dictionaries(_HASHABLE, st.integers(-5, 5), max_size=4).map(collections.Counter),
        st.lists(inner, max_size=4).map(collections.deque),
        st.builds(collections.deque, st.lists(inner, max_size=4), st.integers(0, 5)),
        st.builds(collections.defaultdict, factories, st.dictionaries(_TEXT, inner, max_size=3)),
        st.builds(
            collections.ChainMap,
            st.dictionaries(_TEXT, inner, max_size=2),
            st.dictionaries(_TEXT, inner, max_size=2),
        ),
        inner.map(lambda value: [value, value]),  # a shared sub-object: memo GETs
        inner.map(lambda value: (value, {"again": value})),
    )


_ACYCLIC_A = st.recursive(_LEAVES_A, _containers_a, max_leaves=14)
# Cycles, and a caller class only CALLER_POLICY allows, once per value at most: anywhere
# in the tree they would make nearly every value one the Python walk refuses.
_RARE_A = st.one_of(
    _ACYCLIC_A.map(_self_list),  # reference cycles: the Python walk refuses them
    st.tuples(_ACYCLIC_A, _ACYCLIC_A.map(_self_dict)),
    st.builds(Point, _ACYCLIC_A, _ACYCLIC_A).map(lambda point: [point, {"p": point}]),
)
_VALUES_A = st.sampled_from([_ACYCLIC_A] * 3 + [_RARE_A]).flatmap(lambda values: values)
_PROTOCOLS = st.integers(0, pickle.HIGHEST_PROTOCOL)
_POLICIES = st.sampled_from([DEFAULT_POLICY, CALLER_POLICY])
_SMALL_BUDGETS = st.fixed_dictionaries(
    {
        "max_elements": st.integers(1, 60),
        "max_depth": st.integers(1, 8),
        "max_memo": st.integers(0, 24),
        "max_str_len": st.integers(1, 24),
        "max_int_digits": st.integers(1, 40),
    }
)


# Values whose protocol 4/5 pickles lie wholly inside the C scan's subset: plain
# containers and scalars, datetime types, Decimal and UUID (no bytes, no collections types).
_FRIENDLY_KEYS = st.one_of(_TEXT, st.integers(), st.tuples(_TEXT, st.integers()))
_FRIENDLY = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**200), 2**200),
        st.floats(),
        _TEXT,
        st.datetimes(timezones=st.none() | _TZ),
        st.dates(),
        st.times(),
        st.timedeltas(),
        _DECIMALS,
        _UUIDS,
        st.binary(max_size=300),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(_FRIENDLY_KEYS, inner, max_size=4),
        st.tuples(inner, inner),
        st.sets(_FRIENDLY_KEYS, max_size=4),
        st.frozensets(_FRIENDLY_KEYS, max_size=4),
        inner.map(lambda value: [value, value]),
        inner.map(lambda value: (value, {"again": value})),
    ),
    max_leaves=16,
)


@needs_extension
@settings(max_examples=2 * EXAMPLES)
@given(_FRIENDLY, st.sampled_from([4, 5]), _POLICIES)
def test_fast_path_accepts_every_pickle_of_plain_typed_data(
    value: Any, protocol: int, policy: Policy
) -> None:
    """Plain and datetime/Decimal/UUID data at protocol 4/5 is always decided by the C scan."""
    data = pickle.dumps(value, protocol)
    assert _agree(data, policy, _budgets(data)) == len(data)


# At protocols 2 and 3 sets and frozensets are calls of builtins.set/frozenset, and at
# protocol 2 b"" is __builtin__.bytes(): the C scan leaves those to the walk. Everything
# else above is still decided in C (other bytes values are _codecs.encode calls).
_FRIENDLY_2 = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**200), 2**200),
        st.floats(),
        _TEXT,
        st.binary(min_size=1, max_size=300),
        st.datetimes(timezones=st.none() | _TZ),
        st.dates(),
        st.times(),
        st.timedeltas(),
        _DECIMALS,
        _UUIDS,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(_FRIENDLY_KEYS, inner, max_size=4),
        st.tuples(inner, inner),
        inner.map(lambda value: [value, value]),
    ),
    max_leaves=16,
)


@needs_extension
@settings(max_examples=EXAMPLES)
@given(_FRIENDLY_2, st.sampled_from([2, 3]), _POLICIES)
def test_fast_path_accepts_every_protocol_2_and_3_pickle_of_plain_typed_data(
    value: Any, protocol: int, policy: Policy
) -> None:
    """Plain and typed data without sets at protocol 2/3 (bytes by _codecs.encode) is decided."""
    data = pickle.dumps(value, protocol)
    assert _agree(data, policy, _budgets(data)) == len(data)


@needs_extension
@settings(max_examples=EXAMPLES)
@given(_FRIENDLY, st.integers(2, 5), _SMALL_BUDGETS)
def test_small_budgets_on_plain_typed_data_accepted_only_as_walk_accepts(
    value: Any, protocol: int, budgets: dict[str, int]
) -> None:
    """Plain and typed data under tiny budgets: every budget edge agrees with walk."""
    _agree(_dumps(value, protocol), DEFAULT_POLICY, budgets)


@needs_extension
@settings(max_examples=3 * EXAMPLES)
@given(_VALUES_A, _PROTOCOLS, _POLICIES)
def test_pickles_of_allowed_values_accepted_only_as_walk_accepts(
    value: Any, protocol: int, policy: Policy
) -> None:
    """pickle.dumps of generated values at protocols 0-5: the fast path agrees with walk."""
    data = _dumps(value, protocol)
    _agree(data, policy, _budgets(data))


@needs_extension
@settings(max_examples=EXAMPLES)
@given(_FUZZ_VALUES, _PROTOCOLS)
def test_pickles_of_plain_values_accepted_only_as_walk_accepts(value: Any, protocol: int) -> None:
    """The fuzz suite's plain values at protocols 0-5: the fast path agrees with walk."""
    data = _dumps(value, protocol)
    _agree(data, DEFAULT_POLICY, _budgets(data))


# --- strategy (b): byte-level mutations --------------------------------------------------
#: What gets mutated: mostly pickles the C scan accepts as written, so edits land near it.
_MUTABLE = st.one_of(_FRIENDLY, _FRIENDLY, _VALUES_A)


def _mutate(raw: bytearray, other: bytes, draw: st.DataObject) -> bytes:
    for _ in range(draw.draw(st.integers(1, 4), label="edits")):
        position = draw.draw(st.integers(0, max(len(raw) - 1, 0)))
        action = draw.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if action == "flip" and raw:
            raw[position] = draw.draw(st.integers(0, 255))
        elif action == "insert":
            raw[position:position] = draw.draw(st.binary(min_size=1, max_size=3))
        elif action == "delete" and len(raw) > 1:
            del raw[position : position + draw.draw(st.integers(1, 3))]
        elif action == "truncate":
            del raw[position:]
        elif action == "splice" and other:
            start = draw.draw(st.integers(0, len(other) - 1))
            raw[position:position] = other[start : start + draw.draw(st.integers(1, 12))]
    return bytes(raw)


@needs_extension
@settings(max_examples=4 * EXAMPLES)
@given(_MUTABLE, _MUTABLE, _PROTOCOLS, _POLICIES, st.data())
def test_mutated_pickles_accepted_only_as_walk_accepts(
    value: Any, donor: Any, protocol: int, policy: Policy, draw: st.DataObject
) -> None:
    """Flipped, inserted, deleted, truncated and spliced bytes: the fast path agrees."""
    data = _mutate(bytearray(_dumps(value, protocol)), _dumps(donor, protocol), draw)
    _agree(data, policy, _budgets(data))


# --- strategy (c): raw opcode programs ---------------------------------------------------
# The differential suite's prelude memoises 5 and [] and POPs them (POP is outside the C
# subset); the second prelude keeps them in an outer tuple instead, so memo slots 0 and 1
# hold the same values and the C scan can decide the program.
_FRAMES = st.sampled_from([(_PRELUDE, b"."), (b"\x80\x04(K\x05\x94]\x94", b"t.")])


@needs_extension
@settings(max_examples=2 * EXAMPLES)
@given(_VALUES, _FRAMES, _POLICIES)
def test_opcode_programs_accepted_only_as_walk_accepts(
    program: bytes, frame: tuple[bytes, bytes], policy: Policy
) -> None:
    """The differential suite's structured opcode programs: the fast path agrees."""
    data = frame[0] + program + frame[1]
    _agree(data, policy, _budgets(data))


@needs_extension
@settings(max_examples=2 * EXAMPLES)
@given(_VALUES, st.lists(st.tuples(st.integers(0, 200), _GLUE), max_size=4))
def test_spliced_opcode_programs_accepted_only_as_walk_accepts(
    program: bytes, edits: list[tuple[int, bytes]]
) -> None:
    """Opcode programs with stray opcodes spliced in: the fast path agrees."""
    for position, glue in edits:
        at = position % (len(program) + 1)
        program = program[:at] + glue + program[at:]
    data = _PRELUDE + program + b"."
    _agree(data, DEFAULT_POLICY, _budgets(data))


@needs_extension
@settings(max_examples=2 * EXAMPLES)
@given(st.lists(st.one_of(_LEAVES, _GLUE), min_size=1, max_size=40), st.sampled_from([2, 3, 4, 5]))
def test_opcode_soup_accepted_only_as_walk_accepts(parts: list[bytes], protocol: int) -> None:
    """Unstructured opcode sequences behind any PROTO header: the fast path agrees."""
    data = b"\x80" + bytes([protocol]) + b"".join(parts) + b"."
    _agree(data, DEFAULT_POLICY, _budgets(data))


@needs_extension
@settings(max_examples=EXAMPLES)
@given(st.binary(max_size=64), st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"]))
def test_arbitrary_bytes_accepted_only_as_walk_accepts(body: bytes, header: bytes) -> None:
    """Random bytes (with or without a PROTO header): the fast path agrees."""
    data = header + body
    _agree(data, DEFAULT_POLICY, _budgets(data))


# --- strategy (c'): opcode programs inside the C scan's subset ---------------------------
# The differential suite's programs use POP/DUP/LIST, which the C scan leaves to the walk.
# These use only what it decides itself (memo PUT/GET/MEMOIZE, MARK, the EMPTY_* and
# batch opcodes, TUPLE*, FROZENSET, STACK_GLOBAL/GLOBAL, REDUCE/NEWOBJ/BUILD), plus the
# patterns its policy cases are about: UUID state, caller-class state, cycles, collisions.


def _global(module: str, name: str) -> bytes:
    return _short_text(module) + _short_text(name) + b"\x93"


def _short_text(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    return b"\x8c" + bytes([len(raw)]) + raw


def _long1(number: int) -> bytes:
    raw = pickle.encode_long(number)
    return b"\x8a" + bytes([len(raw)]) + raw


_NAMES = [
    ("datetime", "date"), ("datetime", "timedelta"), ("decimal", "Decimal"),
    ("builtins", "object"), ("builtins", "slice"), ("builtins", "set"), ("builtins", "str"),
    ("builtins", "bytearray"), ("builtins", "list"), ("collections", "OrderedDict"),
    ("uuid", "UUID"), ("uuid", "SafeUUID"), ("__builtin__", "set"), ("copyreg", "_reconstructor"),
    ("copy_reg", "_reconstructor"), ("_codecs", "encode"), ("builtins", "Ellipsis"),
    (Point.__module__, "Point"), (Point.__module__, "Empty"), ("os", "system"),
    ("builtins", "eval"), ("datetime", "date\x00"),
]  # fmt: skip
_INT_LEAVES = st.one_of(
    st.integers(0, 255).map(lambda v: b"K" + bytes([v])),
    st.integers(0, 65535).map(lambda v: b"M" + v.to_bytes(2, "little")),
    st.one_of(st.sampled_from([-1, 0, 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1)).map(
        lambda v: b"J" + v.to_bytes(4, "little", signed=True)
    ),
    st.sampled_from([0, -1, 1, 2**127, 2**128 - 1, 2**128, -(2**127), 2**200]).map(_long1),
    st.integers(-(2**140), 2**140).map(_long1),
    st.sampled_from([b"\x8a\x01\x00", b"\x8a\x02\xff\xff", b"\x8a\x11" + b"\x01" * 16 + b"\x00"]),
)  # fmt: skip
_TEXT_LEAVES = st.one_of(
    st.sampled_from(["int", "is_safe", "x", "", "ünï", "\ud800", "a" * 30]).map(_short_text),
    st.text(max_size=6).map(_short_text),
    st.binary(max_size=6).map(lambda v: b"\x8c" + bytes([len(v)]) + v),  # maybe not UTF-8
    st.text(max_size=40).map(
        lambda v: (
            b"X"
            + len(v.encode("utf-8", "surrogatepass")).to_bytes(4, "little")
            + v.encode("utf-8", "surrogatepass")
        )
    ),
    st.binary(max_size=40).map(lambda v: b"C" + bytes([len(v)]) + v),
    st.binary(max_size=40).map(lambda v: b"B" + len(v).to_bytes(4, "little") + v),
)
_FAST_LEAVES = st.one_of(
    _INT_LEAVES,
    _TEXT_LEAVES,
    st.floats().map(lambda v: b"G" + struct.pack(">d", v)),
    st.sampled_from([b"N", b"\x88", b"\x89", b")", b"]", b"}", b"\x8f"]),
    st.sampled_from(_NAMES).map(lambda pair: _global(*pair)),
    st.sampled_from(_NAMES[:8]).map(lambda pair: f"c{pair[0]}\n{pair[1]}\n".encode()),
)
_FAST_GLUE = st.sampled_from(
    [b"(", b"t", b"e", b"u", b"a", b"s", b"\x90", b"\x91", b"\x85", b"\x86", b"\x87",
     b"\x94", b"h\x00", b"h\x01", b"h\x02", b"h\x05", b"q\x00", b"q\x01", b"q\x03",
     b"j\x01\x00\x00\x00", b"r\x02\x00\x00\x00", b"R", b"\x81", b"b", b"\x93", b"0", b"2"]
)  # fmt: skip
_FAST_KEYS = st.one_of(_INT_LEAVES, _TEXT_LEAVES, st.just(b"N"), st.just(b"h\x00"))


def _uuid_state(number: bytes, flag: bytes | None) -> bytes:
    body = _short_text("int") + number + (b"" if flag is None else _short_text("is_safe") + flag)
    return b"}(" + body + b"u"


_UUID_PROGRAMS = st.builds(
    lambda number, flag, tail: _global("uuid", "UUID") + b")\x81" + _uuid_state(number, flag)
    + tail,
    _INT_LEAVES,
    st.one_of(st.none(), st.sampled_from([b"N", b"K\x00", b"J\xff\xff\xff\xff", b"\x8a\x00",
                                          b"\x8a\x01\xff", b"K\x01", b"\x88"])),
    st.sampled_from([b"b", b"b", b"", b"bb", b"\x94b", b"\x85", b"b\x94"]),
)  # fmt: skip


def _as_text_or_bytes(text: str, as_bytes: bool) -> bytes:
    if as_bytes:
        raw = text.encode("utf-8", "surrogatepass")
        return b"C" + bytes([len(raw)]) + raw
    return _short_text(text)


# _codecs.encode as protocols 0-2 write bytes, and the spellings vet_call refuses.
_CODEC_NAMES = st.sampled_from(
    ["latin1", "LATIN-1", "Latin1", "utf-8", "UTF8", "ascii", "utf-16", "latin_1", "",
     "\u017ftrict", "latin1\x00", "u\u0307tf8", "ASCII"]
)  # fmt: skip
_ERROR_NAMES = st.sampled_from(["strict", "STRICT", "Strict", "ignore", "strict ", "\u017ftrict"])
_ENCODE_CALLS = st.builds(
    lambda text, codec, errors, extra, opcode: (
        _global("_codecs", "encode") + b"(" + text + codec + errors + extra + b"t" + opcode
    ),
    st.one_of(_TEXT_LEAVES, st.just(b"K\x05"), st.just(b"N")),
    st.one_of(
        st.just(b""),
        st.builds(_as_text_or_bytes, _CODEC_NAMES, st.booleans()),
        st.sampled_from([b"N", b"K\x01"]),
    ),
    st.one_of(
        st.just(b""),
        st.builds(_as_text_or_bytes, _ERROR_NAMES, st.booleans()),
        st.sampled_from([b"N", b"K\x00"]),
    ),
    st.sampled_from([b"", b"", b"", b"N"]),
    st.sampled_from([b"R", b"R", b"R", b"\x81"]),
)


def _fast_containers(inner: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    items = st.lists(inner, max_size=4).map(b"".join)
    pairs = st.lists(st.tuples(_FAST_KEYS, inner), max_size=3).map(
        lambda kv: b"".join(key + value for key, value in kv)
    )
    return st.one_of(
        items.map(lambda body: b"](" + body + b"e"),
        items.map(lambda body: b"]\x94(" + body + b"e"),
        items.map(lambda body: b"(" + body + b"t"),
        pairs.map(lambda body: b"}(" + body + b"u"),
        pairs.map(lambda body: b"}\x94(" + body + b"u"),
        st.lists(_FAST_KEYS, max_size=3).map(lambda keys: b"\x8f(" + b"".join(keys) + b"\x90"),
        st.lists(_FAST_KEYS, max_size=3).map(lambda keys: b"(" + b"".join(keys) + b"\x91"),
        st.tuples(inner, inner).map(lambda two: b"]" + two[0] + b"a" + b"]" + two[1] + b"a"),
        st.tuples(_FAST_KEYS, inner).map(lambda kv: b"}" + kv[0] + kv[1] + b"s"),
        inner.map(lambda body: body + b"\x85"),
        st.tuples(inner, inner).map(lambda two: two[0] + two[1] + b"\x86"),
        inner.map(lambda body: body + b"\x94"),
        inner.map(lambda body: body + b"\x94h\x00\x86"),  # shared through the memo
        inner.map(lambda body: b"]\x94(" + body + b"h\x00e"),  # maybe a cycle
        st.tuples(st.sampled_from(_NAMES), items).map(
            lambda call: _global(*call[0]) + b"(" + call[1] + b"tR"
        ),
        st.tuples(st.sampled_from(_NAMES), items).map(
            lambda call: _global(*call[0]) + b"(" + call[1] + b"t\x81"
        ),
        st.tuples(st.sampled_from(_NAMES[-6:-2]), inner).map(
            lambda build: _global(*build[0]) + b")\x81}(\x8c\x01x" + build[1] + b"ub"
        ),
        _UUID_PROGRAMS,
        _ENCODE_CALLS,
        st.tuples(_ENCODE_CALLS, st.sampled_from(_NAMES[:4])).map(  # bytes inside a call
            lambda call: _global(*call[1]) + call[0] + b"\x85R"
        ),
    )


_FAST_PROGRAMS = st.recursive(_FAST_LEAVES, _fast_containers, max_leaves=12)
_FAST_HEADERS = st.sampled_from(
    [b"\x80\x04", b"\x80\x05", b"\x80\x02", b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00", b""]
)


@needs_extension
@settings(max_examples=4 * EXAMPLES)
@given(_FAST_HEADERS, _FAST_PROGRAMS, _POLICIES)
def test_fast_subset_programs_accepted_only_as_walk_accepts(
    header: bytes, program: bytes, policy: Policy
) -> None:
    """Opcode programs made of the C scan's own subset: the fast path agrees."""
    data = header + program + b"."
    _agree(data, policy, _budgets(data))


@needs_extension
@settings(max_examples=3 * EXAMPLES)
@given(_FAST_PROGRAMS, st.lists(st.tuples(st.integers(0, 300), _FAST_GLUE), max_size=4), _POLICIES)
def test_spliced_fast_subset_programs_accepted_only_as_walk_accepts(
    program: bytes, edits: list[tuple[int, bytes]], policy: Policy
) -> None:
    """Subset programs with stray subset opcodes spliced in: the fast path agrees."""
    for position, glue in edits:
        at = position % (len(program) + 1)
        program = program[:at] + glue + program[at:]
    data = b"\x80\x04" + program + b"."
    _agree(data, policy, _budgets(data))


def _opcodes(data: bytes) -> list[bytes]:
    """The pickle's opcodes with their arguments, one bytes each (FRAMEs dropped)."""
    starts = [(opcode.name, position) for opcode, _, position in pickletools.genops(data)]
    ends = [position for _, position in starts[1:]] + [len(data)]
    return [data[at:end] for (name, at), end in zip(starts, ends) if name != "FRAME"]


@needs_extension
@settings(max_examples=4 * EXAMPLES)
@given(_MUTABLE, _MUTABLE, st.integers(2, 5), _POLICIES, st.data())
def test_opcode_level_mutations_accepted_only_as_walk_accepts(
    value: Any, donor: Any, protocol: int, policy: Policy, draw: st.DataObject
) -> None:
    """Whole opcodes deleted, duplicated, moved, borrowed or re-indexed: the fast path agrees."""
    ops = _opcodes(_dumps(value, protocol))
    donor_ops = _opcodes(_dumps(donor, protocol))
    for _ in range(draw.draw(st.integers(1, 3), label="edits")):
        at = draw.draw(st.integers(0, len(ops) - 1))
        to = draw.draw(st.integers(0, len(ops)))
        action = draw.draw(
            st.sampled_from(["delete", "duplicate", "move", "borrow", "glue", "memo"])
        )
        if action == "delete" and len(ops) > 1:
            del ops[at]
        elif action == "duplicate":
            ops.insert(to, ops[at])
        elif action == "move":
            ops.insert(to, ops.pop(at))
        elif action == "borrow":
            ops.insert(to, draw.draw(st.sampled_from(donor_ops)))
        elif action == "glue":
            ops.insert(to, draw.draw(_FAST_GLUE))
        elif action == "memo" and ops[at][:1] in (b"h", b"q"):
            ops[at] = ops[at][:1] + bytes([draw.draw(st.integers(0, 8))])
    data = b"".join(ops)
    _agree(data, policy, _budgets(data))


# --- hand-written refusals: one per rule the C scan mirrors -------------------------------


def _state(body: bytes) -> bytes:
    return b"}(" + body + b"u"


_UUID = _global("uuid", "UUID")
_POINT = _global(Point.__module__, "Point")
_INT5 = _short_text("int") + b"K\x05"
_REFUSED = {
    "uuid without build": _UUID + b")\x81",
    "uuid newobj with args": _UUID + b"K\x05\x85\x81" + _state(_INT5) + b"b",
    "uuid int 2**128": _UUID + b")\x81" + _state(_short_text("int") + _long1(2**128)) + b"b",
    "uuid int -1": _UUID + b")\x81" + _state(_short_text("int") + b"J\xff\xff\xff\xff") + b"b",
    "uuid int True": _UUID + b")\x81" + _state(_short_text("int") + b"\x88") + b"b",
    "uuid int list": _UUID + b")\x81" + _state(_short_text("int") + b"]") + b"b",
    "uuid is_safe 1": _UUID + b")\x81" + _state(_INT5 + _short_text("is_safe") + b"K\x01") + b"b",
    "uuid is_safe True": _UUID + b")\x81" + _state(_INT5 + _short_text("is_safe") + b"\x88") + b"b",
    "uuid extra key": _UUID + b")\x81" + _state(_INT5 + _short_text("x") + b"K\x01") + b"b",
    "uuid int twice": _UUID + b")\x81" + _state(_INT5 + _short_text("int") + b"K\x06") + b"b",
    "uuid two builds": _UUID + b")\x81" + _state(_INT5) + b"b" + _state(_INT5) + b"b",
    "uuid state grown": _UUID + b")\x81}(" + _INT5 + b"u(" + _short_text("x") + b"K\x01ub",
    "uuid built once placed": _UUID + b")\x81\x94\x85h\x00" + _state(_INT5) + b"b0",
    "build on a date": _global("datetime", "date") + b"C\x04\x07\xe8\x02\x1d\x85R}b",
    "build on a list": b"]}b",
    "caller class two builds": _POINT + b")\x81}b}b",
    "caller class built once placed": _POINT + b")\x81\x94\x85h\x00}bt",
    "caller class own state": _POINT + b")\x81\x94h\x00b",
    "append once placed": b"]\x94\x85h\x00K\x01a\x86",
    "appends once placed": b"]\x94\x85h\x00(K\x01e\x86",
    "setitems once placed": b"}\x94\x85h\x00(K\x01K\x02u\x86",
    "additems once placed": b"\x8f\x94\x85h\x00(K\x01\x90\x86",
    "append to itself": b"]\x94h\x00a",
    "setitem of itself": b"}\x94K\x01h\x00s",
    "append once an argument": _global("builtins", "object") + b"]\x94\x85Rh\x00K\x01a\x86",
    "encode utf-16": _global("_codecs", "encode")
    + _short_text("a")
    + _short_text("utf-16")
    + b"\x86R",
    "encode errors ignore": _global("_codecs", "encode")
    + b"("
    + _short_text("a")
    + _short_text("latin1")
    + _short_text("ignore")
    + b"tR",
    "encode of an int": _global("_codecs", "encode") + b"K\x05\x85R",
    "encode by newobj": _global("_codecs", "encode") + _short_text("a") + b"\x85\x81",
    "encode with four arguments": _global("_codecs", "encode")
    + b"("
    + _short_text("a")
    + _short_text("latin1")
    + _short_text("strict")
    + b"Nt"
    + b"R",
    "build on encoded bytes": _global("_codecs", "encode") + _short_text("a") + b"\x85R}b",
    "global not allowed": _global("os", "system") + b"\x85",
    "call not allowed": _global("os", "system") + _short_text("id") + b"\x85R",
    "container of text": _global("builtins", "list") + _short_text("abc") + b"\x85R",
    "call of a list": b"])R",
    "newobj without a tuple": _global("builtins", "object") + b"]\x81",
    "memo key undefined": b"Nh\x00\x86",
    "two values at stop": b"NN",
    "open mark at stop": b"(N",
    "tuple below the mark": b"N(\x85",
    "appends without mark": b"]K\x01e",
    "invalid utf-8": b"\x8c\x02\xff\xfe",
    "frame past the end": b"\x95\xff\x00\x00\x00\x00\x00\x00\x00N",
    "truncated text": b"X\x05\x00\x00\x00ab",
}


@needs_extension
@pytest.mark.parametrize("name", sorted(_REFUSED))
@pytest.mark.parametrize("policy", [DEFAULT_POLICY, CALLER_POLICY], ids=["default", "caller"])
def test_fast_path_leaves_each_refused_pattern_to_the_walk(name: str, policy: Policy) -> None:
    """Each pattern the Python walk refuses (cycles, UUID/BUILD rules...) is undecided in C."""
    data = b"\x80\x04" + _REFUSED[name] + b"."
    with pytest.raises((Malformed, OverLimit, DecodeError)):
        walk(data, _StrictVisitor(policy), **_budgets(data))
    assert _fast(data, policy, _budgets(data)) is None


# --- strategy (d): small budgets ---------------------------------------------------------


@needs_extension
@settings(max_examples=3 * EXAMPLES)
@given(_VALUES_A, _PROTOCOLS, _SMALL_BUDGETS, _POLICIES)
def test_small_budgets_on_pickles_accepted_only_as_walk_accepts(
    value: Any, protocol: int, budgets: dict[str, int], policy: Policy
) -> None:
    """Generated pickles under tiny budgets: every budget edge agrees with walk."""
    _agree(_dumps(value, protocol), policy, budgets)


@needs_extension
@settings(max_examples=2 * EXAMPLES)
@given(st.one_of(_FAST_PROGRAMS, _VALUES), _SMALL_BUDGETS)
def test_small_budgets_on_opcode_programs_accepted_only_as_walk_accepts(
    program: bytes, budgets: dict[str, int]
) -> None:
    """Opcode programs under tiny budgets (memo, depth, elements): the fast path agrees."""
    _agree(b"\x80\x04(K\x05\x94]\x94" + program + b"t.", DEFAULT_POLICY, budgets)


@needs_extension
@settings(max_examples=EXAMPLES)
@given(
    st.lists(_INTS, min_size=1, max_size=90),
    st.sampled_from([set, frozenset, dict.fromkeys, list]),
    _PROTOCOLS,
    st.integers(1, 200),
)
def test_colliding_numbers_accepted_only_as_walk_accepts(
    numbers: list[int], make: Callable[[list[int]], Any], protocol: int, max_elements: int
) -> None:
    """Sets, frozensets and dict keys of numbers that may share hash 0: the fast path agrees."""
    data = _dumps(make(numbers), protocol)
    _agree(data, DEFAULT_POLICY, {**_budgets(data), "max_elements": max_elements})


_HUGE = st.sampled_from([2**31 - 1, 2**32, 2**62, 2**62 + 1, 2**63 - 1, 2**63, 2**64, 10**30])
_HUGE_BUDGETS = st.fixed_dictionaries(
    {
        "max_elements": st.one_of(st.integers(1, 60), _HUGE),
        "max_depth": st.integers(1, 126),
        "max_memo": st.one_of(st.integers(0, 24), _HUGE),
        "max_str_len": st.one_of(st.integers(1, 24), _HUGE),
        "max_int_digits": st.one_of(st.integers(1, 40), _HUGE),
    }
)


@needs_extension
@settings(max_examples=EXAMPLES)
@given(_FRIENDLY, st.integers(2, 5), _HUGE_BUDGETS)
def test_large_budgets_accepted_only_as_walk_accepts(
    value: Any, protocol: int, budgets: dict[str, int]
) -> None:
    """Budgets up to 10**30 (no overflow in the C scan's arithmetic): the fast path agrees."""
    _agree(_dumps(value, protocol), DEFAULT_POLICY, budgets)


# Budgets of 2**63 and more (any positive int is a valid Limits field) once made the C
# scan raise OverflowError; it now lowers them to 2**62, which can only make it stricter.
_BEYOND_63_BITS = [
    (field, size)
    for field in ("max_elements", "max_str_len", "max_int_digits")
    for size in (2**63, 10**30)
]


@needs_extension
@pytest.mark.parametrize(("field", "size"), _BEYOND_63_BITS)
def test_budgets_beyond_63_bits_are_answered(field: str, size: int) -> None:
    """A budget of 2**63 or more is answered (here: accepted), never an exception."""
    data = pickle.dumps(_api_records(3), 5)
    assert _agree(data, DEFAULT_POLICY, {**_budgets(data), field: size}) == len(data)


@needs_extension
@pytest.mark.parametrize(("field", "size"), _BEYOND_63_BITS)
def test_loads_with_a_budget_beyond_63_bits_gives_the_same_value(
    field: str, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Limits field of 2**63 or more loads the same value with the fast path on and off."""
    value = _api_records(3)
    fast, slow = _load_both(pickle.dumps(value, 5), monkeypatch, limits=Limits(**{field: size}))
    assert fast == slow == value


# --- strategy (e): caller-allowed classes ------------------------------------------------

_CALLER_LEAVES = st.one_of(st.builds(Empty), st.builds(Reduced, _FRIENDLY), st.builds(Point))
_ATTRIBUTES = st.one_of(_FRIENDLY, _VALUES_A)
_CALLER_VALUES = st.one_of(
    st.builds(Point, _ATTRIBUTES, _ATTRIBUTES),
    st.builds(Empty),
    st.builds(Slotted, _ATTRIBUTES, _ATTRIBUTES),
    st.builds(Reduced, _ATTRIBUTES, _ATTRIBUTES),
    st.lists(st.builds(Point, _FRIENDLY, _FRIENDLY), max_size=4),
    st.builds(Point, _CALLER_LEAVES, _CALLER_LEAVES).map(lambda point: [point, (point,)]),
)


@needs_extension
@settings(max_examples=2 * EXAMPLES)
@given(_CALLER_VALUES, _PROTOCOLS, _POLICIES)
def test_caller_class_pickles_accepted_only_as_walk_accepts(
    value: Any, protocol: int, policy: Policy
) -> None:
    """Instances of allowed caller classes (with, without, slot state): the fast path agrees."""
    data = _dumps(value, protocol)
    _agree(data, policy, _budgets(data))


# --- coverage: the fast path is really used ----------------------------------------------


def _api_records(count: int) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location(
        "_bench_payload", HERE.parent / "benchmarks" / "_payload.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    records: list[dict[str, Any]] = module.api_records(count)
    return records


_PLAIN = {
    "plain": [{"a": 1, "b": [1.5, -2, None, True, False]}, "text", "ünïcode ✓", 2**40, -7, 0.0],
    "nested": {"k": {"l": [[1, 2], [3, {"m": "n"}]], "o": ""}},
    "scalars": [None, True, False, 0, 1, -1, 255, 65535, 2**31, -(2**63), 1e300, "x" * 300],
}
_TYPED = {
    "datetime": [
        datetime(2024, 1, 1, 12, 30, tzinfo=timezone.utc),
        datetime(2024, 5, 6, 7, 8, 9, 123456),
        date(1999, 12, 31),
        time(23, 59, 59, 1),
        timedelta(days=3, seconds=4, microseconds=5),
        datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
    ],
    "uuid": [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.uuid4(), uuid.uuid1()],
}


@needs_extension
@pytest.mark.parametrize("protocol", [4, 5])
def test_fast_path_accepts_the_benchmark_api_records(protocol: int) -> None:
    """The benchmark payload (ints, floats, str, lists, dicts, datetime, UUID) is accepted."""
    data = pickle.dumps(_api_records(200), protocol)
    assert _agree(data, DEFAULT_POLICY, _budgets(data)) == len(data)


@needs_extension
@pytest.mark.parametrize("protocol", [4, 5])
@pytest.mark.parametrize("name", sorted({**_PLAIN, **_TYPED}))
def test_fast_path_accepts_plain_and_typed_data(name: str, protocol: int) -> None:
    """Plain containers and scalars, datetime and UUID values are accepted at protocol 4/5."""
    value = {**_PLAIN, **_TYPED}[name]
    data = pickle.dumps(value, protocol)
    assert _agree(data, DEFAULT_POLICY, _budgets(data)) == len(data)


@needs_extension
@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(_PLAIN))
def test_fast_path_accepts_plain_data_at_protocols_2_and_3(name: str, protocol: int) -> None:
    """Plain str/int/float/list/dict data (no bytes) is accepted at protocol 2/3."""
    data = pickle.dumps(_PLAIN[name], protocol)
    assert _agree(data, DEFAULT_POLICY, _budgets(data)) == len(data)


@needs_extension
@pytest.mark.parametrize("protocol", [4, 5])
def test_fast_path_accepts_an_allowed_class_with_dict_state(protocol: int) -> None:
    """Instances of an allowed caller class with __dict__ state are accepted."""
    data = pickle.dumps([Point(1, "a"), Point([2.5], {"k": None})], protocol)
    assert _agree(data, CALLER_POLICY, _budgets(data)) == len(data)


@needs_extension
def test_fast_path_stops_at_the_first_stop_opcode() -> None:
    """Bytes after STOP are not read: the end offset is just after the first pickle."""
    first = pickle.dumps({"a": [1, 2]}, 4)
    data = first + pickle.dumps("second", 4)
    assert _agree(data, DEFAULT_POLICY, _budgets(data)) == len(first)


@needs_extension
def test_disabled_fast_path_is_undecided(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ENABLED = False, fast_walk returns None even for a pickle it accepts."""
    data = pickle.dumps(_PLAIN["plain"], 4)
    assert _fast(data, DEFAULT_POLICY, _budgets(data)) == len(data)
    monkeypatch.setattr(_fastpath, "ENABLED", False)
    assert _fast(data, DEFAULT_POLICY, _budgets(data)) is None


@needs_extension
def test_loads_skips_the_python_walk_when_the_fast_path_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """legacy.loads uses the fast path: the Python walk does not run for accepted data."""
    calls: list[bytes] = []

    def spy(data: bytes, *args: Any, **kwargs: Any) -> int:
        calls.append(bytes(data))
        return walk(data, *args, **kwargs)

    monkeypatch.setattr(_unpickler, "walk", spy)
    value = _api_records(5)
    assert legacy.loads(pickle.dumps(value, 5)) == value
    assert calls == []
    monkeypatch.setattr(_fastpath, "ENABLED", False)
    assert legacy.loads(pickle.dumps(value, 5)) == value
    assert calls == [pickle.dumps(value, 5)]


# --- malicious vectors -------------------------------------------------------------------


@needs_extension
@pytest.mark.parametrize("name", [entry["file"] for entry in MANIFEST])
@pytest.mark.parametrize("policy", [DEFAULT_POLICY, CALLER_POLICY], ids=["default", "caller"])
def test_fast_path_never_accepts_an_attack_vector(name: str, policy: Policy) -> None:
    """Every malicious vector is left to the Python walk, and loads still refuses it."""
    data = (VECTORS / name).read_bytes()
    assert _fast(data, policy, _budgets(data)) is None
    with pytest.raises(DecodeError):
        legacy.loads(data, allow=_CALLER_CLASSES if policy.caller_pairs else frozenset())


# --- equality with the fast path on and off ----------------------------------------------


def _same_outcome(fast: Any, slow: Any) -> None:
    if isinstance(slow, DecodeError):
        assert type(fast) is type(slow)
        assert str(fast) == str(slow)
        assert fast.context == slow.context
    else:
        assert not isinstance(fast, DecodeError), fast
        # Byte-equal re-pickles: same types, values, sharing, NaNs and defaultdict factories.
        assert pickle.dumps(fast, 5) == pickle.dumps(slow, 5)


@needs_extension
@settings(max_examples=EXAMPLES)
@given(_VALUES_A, _PROTOCOLS)
def test_loads_gives_the_same_result_with_and_without_the_fast_path(
    value: Any, protocol: int
) -> None:
    """Generated pickles load to equal values (or the same error) with the fast path on/off."""
    data = _dumps(value, protocol)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _same_outcome(*_load_both(data, monkeypatch, allow={Point}))


@needs_extension
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_loads_gives_equal_api_records_with_and_without_the_fast_path(
    protocol: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark payload loads to the same value with the fast path on and off."""
    value = _api_records(50)
    fast, slow = _load_both(pickle.dumps(value, protocol), monkeypatch)
    assert fast == slow == value


# --- budgets -----------------------------------------------------------------------------


def _copy_bomb(copies: int, func: bytes = b"", opcode: bytes = b"C\x64") -> bytes:
    # func(c) of one memoised 100-byte constant c, again and again (bytearray by default).
    func = func or _global("builtins", "bytearray")
    head = b"\x80\x04" + func + b"\x94" + opcode + b"1" * 100 + b"\x94("
    return head + b"h\x00h\x01\x85R" * copies + b"t."


_ZEROS = [k * (2**61 - 1) for k in range(1, 101)]  # a hundred distinct ints, all hash 0
_OVER_BUDGET = {
    "max_elements": (pickle.dumps(list(range(100)), 4), Limits(max_elements=50)),
    "max_depth": (pickle.dumps([[[[[[["deep"]]]]]]], 4), Limits(max_depth=5)),
    "max_str_len": (pickle.dumps(["x" * 100], 4), Limits(max_str_len=10)),
    "max_str_len_bytes": (pickle.dumps([b"y" * 100], 4), Limits(max_str_len=10)),
    "max_int_digits": (pickle.dumps([10**200], 4), Limits(max_int_digits=50)),
    "memo_index": (b"\x80\x04Nr\x00\x00\x00\x10.", DEFAULT_LIMITS),
    "memo_count": (pickle.dumps([[i] for i in range(40)], 4), Limits(max_elements=30)),
    "copy": (_copy_bomb(10), DEFAULT_LIMITS),
    "copy_decimal": (_copy_bomb(12, _global("decimal", "Decimal"), b"X\x64\x00\x00\x00"),
                     DEFAULT_LIMITS),
    "copy_date": (_copy_bomb(12, _global("datetime", "date"), b"C\x64"), DEFAULT_LIMITS),
    "marks": (b"\x80\x04" + b"(" * 30 + b"N" + b"t" * 30 + b".", Limits(max_depth=5)),
    "waiting_containers": (b"\x80\x04(" + b"]" * 30 + b"t.", Limits(max_elements=10)),
    "opcodes": (b"\x80\x04" + b"N0" * 3000 + b"N.", Limits(max_elements=10)),
    "set_collisions": (pickle.dumps(set(_ZEROS), 4), DEFAULT_LIMITS),
    "frozenset_collisions": (pickle.dumps(frozenset(_ZEROS), 4), DEFAULT_LIMITS),
    "dict_collisions": (pickle.dumps(dict.fromkeys(_ZEROS), 4), DEFAULT_LIMITS),
    "tuple_collisions": (pickle.dumps({(zero,) for zero in _ZEROS}, 4), DEFAULT_LIMITS),
    "decimal_collisions": (pickle.dumps({decimal.Decimal(zero) for zero in _ZEROS}, 4),
                           DEFAULT_LIMITS),
}  # fmt: skip
#: The walk's name for the budget each case breaks.
_BREACHED = {
    "max_elements": "max_elements", "max_depth": "max_depth", "max_str_len": "max_str_len",
    "max_str_len_bytes": "max_str_len", "max_int_digits": "max_int_digits",
    "memo_index": "max_memo", "memo_count": "max_memo", "copy": "max_copy",
    "copy_decimal": "max_copy", "copy_date": "max_copy", "marks": "max_depth",
    "waiting_containers": "max_elements",
    "opcodes": "max_opcodes", "set_collisions": "hash_collisions",
    "frozenset_collisions": "hash_collisions", "dict_collisions": "hash_collisions",
    "tuple_collisions": "hash_collisions", "decimal_collisions": "hash_collisions",
}  # fmt: skip


@needs_extension
@pytest.mark.parametrize("name", sorted(_OVER_BUDGET))
def test_over_budget_pickles_are_left_to_the_python_walk(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each budget breach gets None from fast_walk and the same DecodeLimitError from loads."""
    data, limits = _OVER_BUDGET[name]
    assert _fast(data, DEFAULT_POLICY, _budgets(data, limits)) is None
    fast, slow = _load_both(data, monkeypatch, limits=limits)
    assert isinstance(slow, DecodeLimitError), slow
    _same_outcome(fast, slow)


@needs_extension
@pytest.mark.parametrize("name", sorted(_OVER_BUDGET))
def test_the_python_walk_refuses_each_budget_case_for_its_budget(name: str) -> None:
    """Each budget case breaks the budget it is named for (so the case tests that budget)."""
    data, limits = _OVER_BUDGET[name]
    with pytest.raises(OverLimit) as caught:
        walk(data, _StrictVisitor(DEFAULT_POLICY), **_budgets(data, limits))
    assert caught.value.limit == _BREACHED[name]


# --- the build itself --------------------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("SAFEOPS_REQUIRE_EXTENSION") != "1",
    reason="SAFEOPS_REQUIRE_EXTENSION=1 is not set (only CI requires the C extension)",
)
def test_the_extension_is_built_when_required() -> None:
    """With SAFEOPS_REQUIRE_EXTENSION=1 a missing or broken C extension fails the suite."""
    assert _fastpath is not None, "safeops.serialize.legacy._fastpath is missing"
    assert _fastpath.AVAILABLE, "the _fastscan C extension did not build or import"

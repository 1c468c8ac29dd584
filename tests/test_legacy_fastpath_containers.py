"""The C fast path on what older pickles are made of: Python 2 strings and names, sets
and other containers built by calls, and values filled after their call.

Same property as tests/test_legacy_fastpath.py: whatever the fast path accepts, the
Python walk with the strict visitor accepts too, with the same end offset. These
generators write the opcodes CPython 3 never emits (``SHORT_BINSTRING``, ``BINSTRING``,
``__builtin__`` names) and probe the hash-collision count around its limit.
"""

from __future__ import annotations

import collections
import pickle
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeops.serialize.legacy import _fastpath
from safeops.serialize.legacy._policy import Policy
from safeops.serialize.legacy._scan import walk
from safeops.serialize.legacy._symbolic import MAX_HASH_COLLISIONS, Malformed, OverLimit
from safeops.serialize.legacy._unpickler import _StrictVisitor

pytestmark = pytest.mark.skipif(not _fastpath.AVAILABLE, reason="the C extension is not built")

_POLICY = Policy()
_COLLIDING = 2**61 - 1  # k * this hashes to 0 for every k


def _budgets(data: bytes) -> dict[str, int]:
    return {
        "max_elements": 100_000,
        "max_depth": 40,
        "max_memo": len(data),
        "max_str_len": 1000,
        "max_int_digits": 4300,
    }


def _agree(data: bytes) -> int | None:
    """fast_walk's answer, after checking that the walk accepts whatever it accepts."""
    budgets = _budgets(data)
    fast = _fastpath.fast_walk(data, _POLICY, **budgets)
    if fast is not None:
        try:
            end = walk(data, _StrictVisitor(_POLICY), **budgets)
        except (Malformed, OverLimit, ValueError) as error:
            pytest.fail(f"fast path accepted what the walk refuses: {error!r} for {data!r}")
        assert end == fast, data
    return fast


def _long1(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def _short_binstring(raw: bytes) -> bytes:
    return b"U" + bytes([len(raw)]) + raw


def _binstring(raw: bytes, size: int | None = None) -> bytes:
    return b"T" + struct.pack("<i", len(raw) if size is None else size) + raw


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


_TEXT = st.binary(max_size=6) | st.text(max_size=6).map(lambda t: t.encode("utf-8"))
_MEMBER = st.one_of(
    _TEXT.map(_short_binstring),
    _TEXT.map(_binstring),
    st.integers(0, 255).map(lambda k: b"K" + bytes([k])),
    st.integers(1, 200).map(lambda k: _long1(k * _COLLIDING)),
    st.just(b"N"),
)
_CALLABLES = st.sampled_from(
    [
        ("__builtin__", "set"), ("__builtin__", "frozenset"), ("builtins", "set"),
        ("__builtin__", "dict"), ("__builtin__", "list"), ("__builtin__", "tuple"),
        ("collections", "Counter"), ("collections", "deque"), ("collections", "OrderedDict"),
        ("UserDict", "Counter"), ("collections", "defaultdict"), ("__builtin__", "object"),
        ("__builtin__", "str"), ("datetime", "date"),
    ]
)  # fmt: skip


@st.composite
def _container_call(draw: st.DrawFn) -> bytes:
    """callable(list-or-tuple of members) [then APPENDS/SETITEMS/ADDITEMS/BUILD on it]."""
    module, name = draw(_CALLABLES)
    members = draw(st.lists(_MEMBER, max_size=MAX_HASH_COLLISIONS + 4))
    as_tuple = draw(st.booleans())
    body = b"".join(members)
    argument = b"(" + body + b"t" if as_tuple else b"](" + body + b"e"
    args = draw(st.sampled_from([b"\x85", b")" if not members else b"\x85", b"N\x86"]))
    if args == b")":
        program = _global(module, name) + b")R"
    else:
        program = _global(module, name) + argument + args + b"R"
    after = draw(st.lists(_MEMBER, max_size=MAX_HASH_COLLISIONS + 4))
    tail = draw(st.sampled_from([b"", b"e", b"u", b"\x90", b"build"]))
    if tail == b"build":
        program += b"}b"
    elif tail == b"u":
        if len(after) % 2:
            after = after[:-1]
        program += b"(" + b"".join(after) + b"u"
    elif tail:
        program += b"(" + b"".join(after) + tail
    return program


@given(st.lists(_container_call(), min_size=1, max_size=3), st.sampled_from([b"\x80\x02", b""]))
def test_container_calls_accepted_only_as_walk_accepts(parts: list[bytes], proto: bytes) -> None:
    body = b"".join(parts)
    data = proto + (body if len(parts) == 1 else b"(" + body + b"t") + b"."
    _agree(data)


_SOUP_OPCODES = [
    b"(", b"t", b"\x85", b"\x86", b"e", b"a", b"u", b"s", b"\x90", b"R", b"b", b"]", b"}",
    b")", b"\x8f", b"\x91", b"q\x00", b"h\x00", b"\x94",
]  # fmt: skip


@given(
    st.lists(
        st.one_of(
            _MEMBER,
            st.sampled_from(_SOUP_OPCODES),
            _CALLABLES.map(lambda pair: _global(*pair)),
            st.integers(-3, 300).map(lambda size: _binstring(b"ab", size)),
        ),
        max_size=30,
    )
)
def test_opcode_soup_with_python2_opcodes_accepted_only_as_walk_accepts(
    parts: list[bytes],
) -> None:
    _agree(b"\x80\x02" + b"".join(parts) + b".")


@pytest.mark.parametrize(
    "size", [MAX_HASH_COLLISIONS - 1, MAX_HASH_COLLISIONS, MAX_HASH_COLLISIONS + 1]
)
@pytest.mark.parametrize("name", ["set", "frozenset"])
def test_colliding_members_at_the_limit(size: int, name: str) -> None:
    """Up to the limit the fast path may accept; above it, it must leave it to the walk
    (which refuses)."""
    members = b"".join(_long1(k * _COLLIDING) for k in range(1, size + 1))
    data = b"\x80\x02" + _global("__builtin__", name) + b"](" + members + b"e\x85R."
    fast = _agree(data)
    if size > MAX_HASH_COLLISIONS:
        assert fast is None


@pytest.mark.parametrize("extra", [0, 1, 2])
def test_ordereddict_keys_after_a_counted_call_stay_within_the_limit(extra: int) -> None:
    """Counter(list of colliding ints) then SETITEMS of more colliding keys: the call's
    members and the later keys add up (the walk keeps one count per object)."""
    first = b"".join(_long1(k * _COLLIDING) for k in range(1, MAX_HASH_COLLISIONS - 1))
    more = b"".join(_long1(k * _COLLIDING) + b"K\x01" for k in range(500, 500 + 1 + extra))
    data = (
        b"\x80\x02" + _global("collections", "Counter") + b"](" + first + b"e\x85R"
        + b"(" + more + b"u."
    )  # fmt: skip
    fast = _agree(data)
    if MAX_HASH_COLLISIONS - 2 + 1 + extra > MAX_HASH_COLLISIONS:
        assert fast is None


# --- the fast path is used for what older Pythons wrote ---------------------------------

#: What Python 2.7 writes for {'name': 'abc', 'tags': set(['x']), 'n': 1} at protocol 2.
_PY2_DICT = (
    b"\x80\x02}q\x00(U\x04nameq\x01U\x03abcq\x02U\x04tagsq\x03c__builtin__\nset\nq\x04]"
    b"q\x05U\x01xq\x06a\x85q\x07Rq\x08U\x01nq\tK\x01u."
)


def test_a_python2_pickle_takes_the_fast_path() -> None:
    assert _agree(_PY2_DICT) == len(_PY2_DICT)
    from safeops.serialize import legacy

    assert legacy.loads(_PY2_DICT) == {"name": "abc", "tags": {"x"}, "n": 1}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_sets_deques_ordereddicts_and_counters_take_the_fast_path(protocol: int) -> None:
    """Int sets of any size at protocols 4-5 (counted exactly); protocols 2-3 write a set
    as set([...]), whose list the fast path does not keep: up to 64 int members there."""
    big = 200 if protocol >= 4 else 64
    value = [
        {
            "tags": {"a", "b", f"c{i}"},
            "ids": set(range(i % big)),
            "names": {f"n{k}" for k in range(i)},
            "by_id": {k: str(k) for k in range(i * 3)},
            "frozen": frozenset({i, -i}),
            "queue": collections.deque([i, i + 1]),
            "ordered": collections.OrderedDict(a=i, b=2),
            "counts": collections.Counter("abca"),
        }
        for i in range(100)
    ]
    data = pickle.dumps(value, protocol=protocol)
    assert _agree(data) == len(data)


# --- int keys and members are counted exactly (protocols 4-5 fill them by opcode) -------

_INT = st.one_of(
    st.sampled_from([-2, -1, 0, 1, 2, 255, 256, 65535, 65536, 2**31 - 1, -(2**31)]),
    st.integers(1, 4).map(lambda k: k * _COLLIDING),  # LONG1, hash 0
    st.integers(1, 4).map(lambda k: -k * _COLLIDING),
    st.just(2**63 - 1),
    st.just(-(2**63)),
    st.just(2**64),  # nine bytes: no hash known, left to the walk once counted
    st.integers(-(2**40), 2**40),
)


def _int_opcode(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + value.to_bytes(2, "little")
    if -(2**31) <= value < 2**31:
        return b"J" + value.to_bytes(4, "little", signed=True)
    return _long1(value)


@given(
    st.lists(st.lists(_INT, max_size=80), min_size=1, max_size=4),
    st.sampled_from(["dict", "set", "frozenset"]),
)
def test_int_keys_are_counted_as_the_walk_counts_them(
    batches: list[list[int]], kind: str
) -> None:
    """Duplicates, -1/-2 (both hash to -2) and k*(2**61-1) (all hash to 0) in batches
    across the count's threshold: the fast path accepts only what the walk accepts."""
    if kind == "frozenset":
        members = b"".join(_int_opcode(v) for batch in batches for v in batch)
        data = b"\x80\x04(" + members + b"\x91."
    elif kind == "set":
        data = b"\x80\x04\x8f" + b"".join(
            b"(" + b"".join(_int_opcode(v) for v in batch) + b"\x90" for batch in batches
        ) + b"."
    else:
        data = b"\x80\x04}" + b"".join(
            b"(" + b"".join(_int_opcode(v) + b"N" for v in batch) + b"u" for batch in batches
        ) + b"."
    _agree(data)


@pytest.mark.parametrize("protocol", [4, 5])
def test_large_int_keyed_dicts_and_sets_take_the_fast_path(protocol: int) -> None:
    value = {
        "by_id": {k * 7919: str(k) for k in range(5000)},
        "ids": set(range(-2500, 2500)),
        "big": {2**40 + k for k in range(300)},
        "frozen": frozenset(range(1000)),
    }
    data = pickle.dumps(value, protocol=protocol)
    assert _agree(data) == len(data)


@pytest.mark.parametrize("value", [1, -1, 3 * _COLLIDING, 70000])
@pytest.mark.parametrize("copies", [MAX_HASH_COLLISIONS + 70, MAX_HASH_COLLISIONS + 130])
def test_repeated_int_members_over_the_count_are_left_to_the_walk(value: int, copies: int) -> None:
    """The walk counts every member past the threshold, equal ones too."""
    members = _int_opcode(value) * copies
    for data in (b"\x80\x04\x8f(" + members + b"\x90.", b"\x80\x04(" + members + b"\x91."):
        assert _agree(data) is None
    pairs = (_int_opcode(value) + b"N") * copies
    assert _agree(b"\x80\x04}(" + pairs + b"u.") is None


# --- Decimal text: the walk vets its size; the fast path accepts what surely passes ------

_EXPONENTS = ["", "e5", "E-7", "e+4299", "e4300", "E-4300", "e-4301", "e0", "e1234567890", "E"]
_DECIMAL_TEXT = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.builds(
        lambda sign, whole, frac, exp: f"{sign}{whole}{frac}{exp}",
        st.sampled_from(["", "-", "+"]),
        st.sampled_from(["", "0", "000", "1", "9" * 40, "1" * 4299, "1" * 4300]),
        st.sampled_from(["", ".", ".5", ".000", "." + "0" * 4300, "." + "1" * 4301]),
        st.sampled_from(_EXPONENTS),
    ),
    st.sampled_from(["NaN", "sNaN12", "-Infinity", " 1", "1_000", "1e", "0E-100000", "٣"]),
)


@given(_DECIMAL_TEXT, st.sampled_from([4300, 20, 3]))
def test_decimal_text_accepted_only_as_the_walk_accepts(text: str, digits: int) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    data = (
        b"\x80\x04" + _global("decimal", "Decimal")
        + b"X" + struct.pack("<I", len(raw)) + raw + b"\x85R."
    )  # fmt: skip
    budgets = _budgets(data) | {"max_int_digits": digits, "max_str_len": 20000}
    fast = _fastpath.fast_walk(data, _POLICY, **budgets)
    if fast is None:
        return
    visitor = _StrictVisitor(_POLICY, max_int_digits=digits)
    try:
        assert walk(data, visitor, **budgets) == fast
    except Exception as error:  # a DecodeError from vet_decimal, Malformed, OverLimit
        pytest.fail(f"fast path accepted Decimal({text[:60]!r}), the walk refused: {error!r}")


@pytest.mark.parametrize("text", ["1.25", "-0", "9.9999900E-7", "1E+3", "0.000", "123456789.5"])
def test_ordinary_decimal_text_takes_the_fast_path(text: str) -> None:
    data = pickle.dumps(__import__("decimal").Decimal(text), protocol=4)
    assert _agree(data) == len(data)


@pytest.mark.parametrize("protocol", [4, 5])
def test_dicts_keyed_by_dates_take_the_fast_path(protocol: int) -> None:
    """The datetime types hash randomized bytes (or bounded fields): no count needed."""
    import datetime

    start = datetime.date(2024, 1, 1)
    moment = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    value = {
        "daily": {start + datetime.timedelta(days=k): k for k in range(400)},
        "stamps": {moment + datetime.timedelta(seconds=k) for k in range(300)},
        "gaps": {datetime.timedelta(minutes=k) for k in range(200)},
    }
    data = pickle.dumps(value, protocol=protocol)
    assert _agree(data) == len(data)

"""Differential: whatever legacy.loads accepts, CPython's own unpickler reads the same.

Hypothesis writes small opcode programs (constants, containers, memo puts and gets, DUP,
POP, MARK games, allowed globals and calls) and mutates them. When ``legacy.loads``
accepts one, ``pickle.loads`` of the same bytes must give an equal value: the walk and
the C unpickler agree on every accepted pickle. ``pickle.loads`` only ever sees bytes
the legacy reader accepted (so no global outside the allow-list and every budget held).
"""

from __future__ import annotations

import math
import pickle
import struct
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from safeops._permits import granted
from safeops.errors import DecodeError
from safeops.serialize import Limits, legacy

_SMALL = Limits(max_bytes=4096, max_elements=5000, max_depth=30, max_str_len=256)


def _short_unicode(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    return b"\x8c" + bytes([len(raw)]) + raw


_LEAVES = st.one_of(
    st.integers(0, 255).map(lambda v: b"K" + bytes([v])),
    st.integers(-(2**31), 2**31 - 1).map(lambda v: b"J" + struct.pack("<i", v)),
    st.floats(allow_nan=False).map(lambda v: b"G" + struct.pack(">d", v)),
    st.text(max_size=8).map(_short_unicode),
    st.binary(max_size=8).map(lambda v: b"C" + bytes([len(v)]) + v),
    st.sampled_from([b"N", b"\x88", b"\x89", b")", b"]", b"}", b"\x8f"]),
    st.sampled_from(
        [
            b"\x8c\x08builtins\x8c\x03set\x93",
            b"\x8c\x08datetime\x8c\x04date\x93C\x04\x07\xe8\x02\x1d\x85R",
            b"\x8c\x08builtins\x8c\tfrozenset\x93]K\x01a\x85R",
            b"\x8c\x04uuid\x8c\x04UUID\x93)\x81}\x8c\x03int\x8a\x01\x05sb",
            b"\x8c\x0bcollections\x8c\x07Counter\x93}(\x8c\x01aK\x02u\x85R",
            b"\x8c\x0bcollections\x8c\x0bOrderedDict\x93)R(\x8c\x01bK\x01u",
            b"\x8c\x0bcollections\x8c\x05deque\x93](K\x01K\x02eK\x05\x86R",
        ]
    ),
)
_GLUE = st.sampled_from(
    [b"(", b"t", b"l", b"d", b"e", b"u", b"a", b"s", b"\x90", b"\x91", b"\x85", b"\x86",
     b"\x87", b"\x94", b"2", b"0", b"1", b"h\x00", b"h\x01", b"h\x02", b"q\x00", b"q\x03"]
)  # fmt: skip
# Memo slot 0 holds the int 5 and slot 1 a list, so "h\x00"/"h\x01" are always valid.
_PRELUDE = b"\x80\x04K\x05\x940]\x940"
_KEYS = st.one_of(
    st.integers(0, 255).map(lambda v: b"K" + bytes([v])),
    st.text(max_size=6).map(_short_unicode),
    st.just(b"h\x00"),
    st.just(b"N"),
)


def _containers(inner: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    items = st.lists(inner, max_size=4).map(b"".join)
    pairs = st.lists(st.tuples(_KEYS, inner), max_size=3).map(
        lambda kv: b"".join(key + value for key, value in kv)
    )
    return st.one_of(
        items.map(lambda body: b"](" + body + b"e"),
        items.map(lambda body: b"(" + body + b"t"),
        items.map(lambda body: b"(" + body + b"l"),
        pairs.map(lambda body: b"}(" + body + b"u"),
        st.lists(_KEYS, max_size=3).map(lambda keys: b"(" + b"".join(keys) + b"\x91"),
        inner.map(lambda body: body + b"\x94"),
        inner.map(lambda body: body + b"20"),
        st.just(b"h\x01"),
    )


_VALUES = st.recursive(_LEAVES, _containers, max_leaves=12)


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    return bool(type(left) is type(right) and left == right)


def _check(data: bytes) -> None:
    try:
        mine = legacy.loads(data, limits=_SMALL)
    except DecodeError:
        return
    with granted("pickle", reason="test: bytes the legacy reader already accepted",
                 origin="application"):  # fmt: skip
        theirs = pickle.loads(data)
    assert _same(mine, theirs) or repr(mine) == repr(theirs)


@given(_VALUES)
def test_well_formed_programs_load_the_same_in_cpython(program: bytes) -> None:
    """Structured programs (containers, memo puts and gets, DUP/POP) agree with CPython."""
    _check(_PRELUDE + program + b".")


@given(_VALUES, st.lists(st.tuples(st.integers(0, 200), _GLUE), max_size=3))
def test_mutated_programs_that_are_accepted_load_the_same(
    program: bytes, edits: list[tuple[int, bytes]]
) -> None:
    """Programs with stray opcodes spliced in: whenever accepted, CPython agrees."""
    for position, glue in edits:
        at = position % (len(program) + 1)
        program = program[:at] + glue + program[at:]
    _check(_PRELUDE + program + b".")


@given(st.lists(st.one_of(_LEAVES, _GLUE), min_size=1, max_size=40))
def test_random_opcode_soup_that_is_accepted_loads_the_same(parts: list[bytes]) -> None:
    """Unstructured opcode sequences: whenever accepted, CPython agrees."""
    _check(b"\x80\x04" + b"".join(parts) + b".")

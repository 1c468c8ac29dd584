"""Property tests: exact round trips of the whole universe; hostile bytes only raise DecodeError."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeops import serialize
from safeops.errors import DecodeError

KEY = b"property-test-key-of-32-bytes!!!"
FORMATS = st.sampled_from(["json", "msgpack"])
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


def exact(left: Any, right: Any) -> bool:
    """Same type and value all the way down (NaN equals NaN, -0.0 differs from 0.0)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        if math.isnan(left):
            return math.isnan(right)
        return left == right and math.copysign(1, left) == math.copysign(1, right)
    if isinstance(left, complex):
        return exact(left.real, right.real) and exact(left.imag, right.imag)
    if isinstance(left, Decimal):
        return str(left) == str(right)
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(map(exact, left, right))
    if isinstance(left, dict):
        if len(left) != len(right):
            return False
        pairs = list(right.items())
        return all(any(exact(k, k2) and exact(v, v2) for k2, v2 in pairs) for k, v in left.items())
    if isinstance(left, (set, frozenset)):
        return left == right
    if isinstance(left, (datetime, time)):
        return left == right and left.fold == right.fold and left.tzinfo == right.tzinfo
    return bool(left == right)


timezones = st.one_of(
    st.none(),
    st.just(timezone.utc),
    st.builds(
        timezone,
        st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
            lambda delta: timedelta(minutes=delta // timedelta(minutes=1))
        ),
    ),
    st.sampled_from(ZONES).map(ZoneInfo),
)
hashable_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
    st.datetimes(timezones=timezones, allow_imaginary=False),
    st.dates(),
    st.times(timezones=st.one_of(st.none(), st.just(timezone.utc))),
    st.timedeltas(),
    st.uuids(),
    st.decimals(allow_nan=False),
    st.complex_numbers(allow_nan=False),
)
scalars = st.one_of(
    hashable_scalars,
    st.floats(),
    st.decimals(),
    st.binary().map(bytearray),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.complex_numbers(),
)
hashables = st.recursive(
    hashable_scalars,
    lambda inner: st.one_of(st.tuples(inner, inner), st.frozensets(inner, max_size=3)),
    max_leaves=6,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
        st.dictionaries(hashables, inner, max_size=3),
        st.sets(hashables, max_size=3),
        st.frozensets(hashables, max_size=3),
    ),
    max_leaves=20,
)


@pytest.mark.slow
@given(values, FORMATS)
def test_every_value_round_trips_exactly(value: Any, fmt: str) -> None:
    """Any value of the supported universe decodes to the same types and values."""
    assert exact(serialize.loads(serialize.dumps(value, format=fmt), format=fmt), value)


@given(values, FORMATS)
def test_every_value_round_trips_exactly_when_signed(value: Any, fmt: str) -> None:
    """The same holds through a signed envelope."""
    data = serialize.dumps(value, format=fmt, key=KEY)
    assert exact(serialize.loads(data, format=fmt, key=KEY), value)


@given(st.binary(max_size=300), FORMATS)
def test_arbitrary_bytes_give_a_value_or_a_decode_error(data: bytes, fmt: str) -> None:
    """Random bytes raise DecodeError or decode to a value that encodes again."""
    try:
        value = serialize.loads(data, format=fmt)
    except DecodeError:
        return
    # Anything that decodes is inside the supported universe (no marker or foreign object).
    serialize.loads(serialize.dumps(value, format=fmt), format=fmt)


@pytest.mark.slow
@given(values, FORMATS, st.data())
def test_mutated_documents_give_a_value_or_a_decode_error(value: Any, fmt: str, data: Any) -> None:
    """Valid documents with bytes flipped, cut or inserted only raise DecodeError."""
    document = bytearray(serialize.dumps(value, format=fmt))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        position = data.draw(st.integers(min_value=0, max_value=max(len(document) - 1, 0)))
        if action == "flip" and document:
            document[position] ^= data.draw(st.integers(min_value=1, max_value=255))
        elif action == "cut":
            del document[position:]
        else:
            document[position:position] = data.draw(st.binary(min_size=1, max_size=4))
    try:
        decoded = serialize.loads(bytes(document), format=fmt)
    except DecodeError:
        return
    serialize.loads(serialize.dumps(decoded, format=fmt), format=fmt)


@given(
    st.recursive(
        st.integers() | st.text(max_size=3),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=30,
    )
)
def test_plain_json_decodes_like_orjson(value: Any) -> None:
    """A tagless JSON document decodes to what orjson alone returns."""
    import orjson

    try:
        data = orjson.dumps(value)
    except TypeError:  # an int beyond 64 bits: not plain JSON orjson can write
        return
    if b"$" not in data:
        assert serialize.loads(data) == orjson.loads(data)


@pytest.mark.slow
@given(st.lists(values, max_size=3), FORMATS)
def test_dumped_records_read_back_in_order(records: list[Any], fmt: str) -> None:
    """Any sequence of dump calls reads back, in order, with iter_load."""
    import io

    buffer = io.BytesIO()
    for record in records:
        serialize.dump(record, buffer, format=fmt)
    buffer.seek(0)
    back = list(serialize.iter_load(buffer, format=fmt))
    assert len(back) == len(records)
    assert all(map(exact, back, records))


@given(st.binary(max_size=200), FORMATS)
def test_arbitrary_bytes_with_a_key_only_raise_decode_errors(data: bytes, fmt: str) -> None:
    """Random bytes given with a key are refused with a DecodeError (SignatureError)."""
    try:
        serialize.loads(data, format=fmt, key=KEY)
    except DecodeError:
        return
    raise AssertionError("random bytes verified as a signed envelope")

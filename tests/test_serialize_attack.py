"""Regression tests for the attack review of 2026-11-28 (findings S1-S7 and the minor ones)."""

from __future__ import annotations

import enum
import io
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgpack
import pydantic
import pytest

from safeops import errors, serialize

DECIMAL_EXT = 23
BIGINT_EXT = 16
OBJECT_MARK = msgpack.ExtType(5, b"")


class Model(pydantic.BaseModel):
    """A model with one int field (finding S1)."""

    n: int


class Color(enum.Enum):
    """A plain enum."""

    RED = 1


class Perm(enum.IntFlag):
    """An int flag with three bits."""

    R = 4
    W = 2
    X = 1


class Mode(enum.Flag):
    """A plain flag with two bits."""

    A = enum.auto()
    B = enum.auto()


class Picky(pydantic.BaseModel):
    """A model whose validator raises an exception pydantic does not wrap."""

    name: str

    @pydantic.field_validator("name")
    @classmethod
    def _refuse(cls, value: str) -> str:
        raise KeyError(value)


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    for cls in (Color, Perm, Mode):
        serialize.register(cls, cls.__name__)
    yield
    for cls in (Color, Perm, Mode):
        serialize.unregister(cls)


# --- S1: decimal exponents -------------------------------------------------------------


@pytest.mark.parametrize("text", ["1e30000000", "1e-30000000", "0e30000000", "1e4300", "1e-4301"])
def test_json_decimal_with_huge_exponent_is_refused(text: str) -> None:
    """A $decimal whose exponent exceeds max_int_digits is a DecodeLimitError."""
    with pytest.raises(errors.DecodeLimitError, match="exponent"):
        serialize.loads(b'{"$decimal":"%s"}' % text.encode())


def test_typed_json_decimal_with_huge_exponent_is_refused() -> None:
    """Typed decoding of a huge-exponent decimal into an int field is refused at once."""
    with pytest.raises(errors.DecodeLimitError):
        serialize.loads(b'{"n":{"$decimal":"1e30000000"}}', type=Model)


def test_typed_msgpack_decimal_with_huge_exponent_is_refused() -> None:
    """The msgpack decimal ext is bounded the same way."""
    data = msgpack.packb({"n": msgpack.ExtType(DECIMAL_EXT, b"1e30000000")})
    with pytest.raises(errors.DecodeLimitError):
        serialize.loads(data, format="msgpack", type=Model)


def test_decimal_exponent_bound_follows_max_int_digits() -> None:
    """Limits.max_int_digits also bounds decimal exponents, both ways."""
    limits = serialize.Limits(max_int_digits=10)
    assert serialize.loads(b'{"$decimal":"1.5e-9"}', limits=limits) == Decimal("1.5e-9")
    assert serialize.loads(b'{"$decimal":"9e9"}', limits=limits) == Decimal("9e9")
    for text in (b"1.5e-10", b"1e10"):
        with pytest.raises(errors.DecodeLimitError):
            serialize.loads(b'{"$decimal":"%s"}' % text, limits=limits)


def test_decimal_at_the_exponent_bound_round_trips() -> None:
    """The largest admitted magnitude still round-trips exactly in both formats."""
    value = Decimal("9." + "9" * 20 + "e4299")
    for fmt in ("json", "msgpack"):
        assert serialize.loads(serialize.dumps(value, format=fmt), format=fmt) == value


def test_typed_decoding_wraps_exceptions_pydantic_lets_through() -> None:
    """A non-ValidationError from pydantic becomes a DecodeValidationError."""
    with pytest.raises(errors.DecodeValidationError, match="KeyError"):
        serialize.loads(b'{"name":"x"}', type=Picky)


def test_typed_python_validation_wraps_exceptions_pydantic_lets_through() -> None:
    """The same holds on the tagged/msgpack path (validate_python)."""
    with pytest.raises(errors.DecodeValidationError, match="KeyError"):
        serialize.loads(msgpack.packb({"name": "x"}), format="msgpack", type=Picky)


# --- S2: exceptions from building registered values ------------------------------------


def test_enum_with_signalling_nan_json_is_a_decode_error() -> None:
    """Enum lookup of a Decimal sNaN raises DecodeError, not InvalidOperation."""
    with pytest.raises(errors.DecodeError, match="Color"):
        serialize.loads(b'{"$obj:Color": {"$decimal":"sNaN"}}')


def test_enum_with_signalling_nan_msgpack_is_a_decode_error() -> None:
    """The same in msgpack."""
    data = msgpack.packb([OBJECT_MARK, "Color", msgpack.ExtType(DECIMAL_EXT, b"sNaN")])
    with pytest.raises(errors.DecodeError, match="Color"):
        serialize.loads(data, format="msgpack")


@pytest.mark.parametrize(
    "data", [b'{"$set":[{"$decimal":"sNaN"}]}', b'{"$map":[{"$decimal":"sNaN"},1]}']
)
def test_signalling_nan_as_set_item_or_key_is_a_decode_error(data: bytes) -> None:
    """An unhashable sNaN in a set or as a map key is refused cleanly."""
    with pytest.raises(errors.DecodeError, match="unhashable"):
        serialize.loads(data)


def test_signalling_nan_as_msgpack_set_item_is_a_decode_error() -> None:
    """The same for the msgpack set marker."""
    data = msgpack.packb([msgpack.ExtType(2, b""), msgpack.ExtType(DECIMAL_EXT, b"sNaN")])
    with pytest.raises(errors.DecodeError, match="unhashable"):
        serialize.loads(data, format="msgpack")


def test_signalling_nan_alone_still_round_trips() -> None:
    """A lone sNaN keeps its exact round trip (it is only refused where it must hash)."""
    value = serialize.loads(serialize.dumps(Decimal("-sNaN7")))
    assert value.is_snan() and str(value) == "-sNaN7"


class _Boom:
    """A custom-registered class whose decode hook raises an arithmetic error."""


def test_custom_hook_arithmetic_error_is_a_decode_error() -> None:
    """Any exception from a user decode hook becomes a DecodeError naming the type."""

    def decode(data: object) -> _Boom:
        raise ZeroDivisionError("no")

    serialize.register(_Boom, "Boom", encode=lambda obj: 0, decode=decode)
    try:
        with pytest.raises(errors.DecodeError, match="Boom"):
            serialize.loads(b'{"$obj:Boom": 0}')
    finally:
        serialize.unregister(_Boom)


# --- S3: flags ------------------------------------------------------------------------


def test_int_flag_with_undefined_bits_is_refused() -> None:
    """A value with bits no member defines is refused, and creates no pseudo-member."""
    before = len(Perm._value2member_map_)
    for value in range(8, 200, 8):
        with pytest.raises(errors.DecodeError, match="combination"):
            serialize.loads(b'{"$obj:Perm": %d}' % value)
    assert len(Perm._value2member_map_) == before


def test_int_flag_combination_of_members_decodes() -> None:
    """A combination of defined bits decodes to the flag value."""
    assert serialize.loads(serialize.dumps(Perm.R | Perm.X)) is Perm.R | Perm.X


@pytest.mark.parametrize("payload", [b"-1", b"true", b'"1"', b'{"$int":"%s"}' % (b"9" * 4000)])
def test_flag_refuses_negative_and_non_int_values(payload: bytes) -> None:
    """Negative, bool, str and huge values are not flag values."""
    with pytest.raises(errors.DecodeError):
        serialize.loads(b'{"$obj:Mode": %s}' % payload)


def test_plain_flag_round_trips_in_msgpack() -> None:
    """Flag (not IntFlag) members and combinations round-trip."""
    value = Mode.A | Mode.B
    assert serialize.loads(serialize.dumps(value, format="msgpack"), format="msgpack") == value


# --- minor: msgpack big ints ------------------------------------------------------------


def test_msgpack_bigint_beyond_max_int_digits_is_refused() -> None:
    """A BIGINT ext whose value has more than max_int_digits digits is refused."""
    data = msgpack.packb(msgpack.ExtType(BIGINT_EXT, b"\x01" + b"\0" * 1790))
    with pytest.raises(errors.DecodeLimitError, match="max_int_digits"):
        serialize.loads(data, format="msgpack")


def test_msgpack_bigint_at_max_int_digits_round_trips() -> None:
    """The largest admitted int (max_int_digits nines) still round-trips."""
    value = -(10**4300 - 1)
    assert serialize.loads(serialize.dumps(value, format="msgpack"), format="msgpack") == value


# --- S4: memory expansion --------------------------------------------------------------


def test_small_documents_of_empty_containers_still_decode() -> None:
    """The 64 KiB slack lets small documents of any shape through."""
    data = b"[" + b"[]," * 500 + b"[]]"
    assert serialize.loads(data) == [[]] * 501


def test_json_expansion_refusal_names_max_expansion() -> None:
    """A JSON document of one-key objects is refused as a container bomb."""
    data = b"[" + b'{"a":1},' * 200_000 + b"1]"
    with pytest.raises(errors.DecodeLimitError, match="max_expansion") as caught:
        serialize.loads(data)
    assert caught.value.context["limit"] == "max_expansion"


def test_msgpack_expansion_refusal_names_max_expansion() -> None:
    """A msgpack document of empty arrays within max_elements is refused while unpacking."""
    count = 200_000
    data = b"\xdd" + count.to_bytes(4, "big") + b"\x90" * count
    with pytest.raises(errors.DecodeLimitError, match="max_expansion"):
        serialize.loads(data, format="msgpack")


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_raising_max_expansion_admits_a_container_heavy_document(fmt: str) -> None:
    """max_expansion is a budget the caller can raise."""
    value = [[i] for i in range(100_000)]
    data = serialize.dumps(value, format=fmt)
    with pytest.raises(errors.DecodeLimitError):
        serialize.loads(data, format=fmt)
    limits = serialize.Limits(max_expansion=100)
    assert serialize.loads(data, format=fmt, limits=limits) == value


def test_msgpack_element_budget_is_enforced_while_unpacking() -> None:
    """More values than max_elements in msgpack is refused (no Python header walk)."""
    data = msgpack.packb([[1, 2, 3]] * 400)
    with pytest.raises(errors.DecodeLimitError, match="max_elements"):
        serialize.loads(data, format="msgpack", limits=serialize.Limits(max_elements=1000))


def test_max_expansion_must_be_positive() -> None:
    """Limits(max_expansion=0) is a ConfigurationError."""
    with pytest.raises(errors.ConfigurationError):
        serialize.Limits(max_expansion=0)


# --- S5: depth scan -----------------------------------------------------------------------


def _zigzag(depth: int) -> bytes:
    # Every level also holds an empty list, so no run of "[" is longer than 2.
    return b"[[]," * depth + b"1" + b"]" * depth


def test_depth_left_to_the_walk_is_counted_exactly() -> None:
    """A shape the byte scan cannot decide still decodes when within max_depth."""
    value = serialize.loads(_zigzag(60))
    depth = 0
    while isinstance(value, list):
        value, depth = value[1], depth + 1
    assert depth == 60


def test_depth_left_to_the_walk_is_refused_past_max_depth() -> None:
    """The same shape one level too deep is a DecodeLimitError, also with type=."""
    data = _zigzag(65)
    with pytest.raises(errors.DecodeLimitError, match="max_depth"):
        serialize.loads(data)
    with pytest.raises(errors.DecodeLimitError, match="max_depth"):
        serialize.loads(data, type=list)


def test_very_deep_zigzag_is_a_decode_limit_error() -> None:
    """A zig-zag shape thousands of levels deep is refused as too deep."""
    with pytest.raises(errors.DecodeLimitError):
        serialize.loads(_zigzag(2000))


def test_one_stray_dollar_does_not_double_the_depth_allowance() -> None:
    """A document with one '$' string is refused on the bytes at 65 levels."""
    data = b'["$x",' + b"[" * 66 + b"]" * 66 + b"]"
    with pytest.raises(errors.DecodeLimitError, match="max_depth"):
        serialize.loads(data)


# --- S7: streams --------------------------------------------------------------------------


class _ShortReads(io.RawIOBase):
    """A raw stream that returns at most 1000 bytes per read, like a pipe or socket."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), 1000, len(self._data) - self._pos)
        buffer[:size] = self._data[self._pos : self._pos + size]
        self._pos += size
        return size


def test_iter_load_retries_short_reads() -> None:
    """A valid record delivered in short reads is read whole, not reported truncated."""
    out = io.BytesIO()
    serialize.dump(list(range(5000)), out)
    serialize.dump("next", out)
    assert list(serialize.iter_load(_ShortReads(out.getvalue()))) == [list(range(5000)), "next"]


def test_iter_load_does_not_allocate_the_declared_length() -> None:
    """An 8-byte header declaring 16 MB costs little memory before it is found truncated."""
    header = b"SOj\x01" + (16 * 1024 * 1024 + 65).to_bytes(4, "big")
    tracemalloc.start()
    try:
        with pytest.raises(errors.DecodeError, match="truncated"):
            list(serialize.iter_load(io.BufferedReader(io.BytesIO(header))))  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_truncated_body_is_still_reported() -> None:
    """A body shorter than declared, at end of file, is reported truncated."""
    out = io.BytesIO()
    serialize.dump([1, 2, 3], out)
    with pytest.raises(errors.DecodeError, match="truncated"):
        serialize.load(_ShortReads(out.getvalue()[:-2]))


# --- minor: big JSON ints and max_age -----------------------------------------------------


@pytest.mark.parametrize("number", [2**64 + 1, -(2**63) - 1, 10**30, 2**64 - 1, -(2**63)])
def test_plain_json_ints_beyond_64_bits_decode_exactly(number: int) -> None:
    """orjson would return a float; the value comes back as the exact int."""
    value = serialize.loads(b'{"id": %d, "f": 1.5}' % number)
    assert value == {"id": number, "f": 1.5}
    assert type(value["id"]) is int


def test_plain_json_digit_strings_are_untouched() -> None:
    """A long digit run inside a string does not change the decoded value."""
    assert serialize.loads(b'["12345678901234567890123", 7]') == ["12345678901234567890123", 7]


def test_plain_json_int_beyond_max_int_digits_is_refused() -> None:
    """The exact path still applies max_int_digits."""
    limits = serialize.Limits(max_int_digits=25)
    with pytest.raises(errors.DecodeLimitError):
        serialize.loads(b"[" + b"9" * 30 + b"]", limits=limits)


@pytest.mark.parametrize("max_age", [float("nan"), float("inf"), -1, "60", True, 10**400])
def test_invalid_max_age_is_a_configuration_error(max_age: Any) -> None:
    """max_age must be a finite number of seconds >= 0."""
    key = b"k" * 32
    data = serialize.dumps(1, key=key)
    with pytest.raises(errors.ConfigurationError, match="max_age"):
        serialize.loads(data, key=key, max_age=max_age)


# --- own research: msgpack preallocation ---------------------------------------------------


def test_msgpack_many_array16_headers_in_a_valid_document_decode() -> None:
    """The structure check before unpacking lets valid documents through."""
    value = [list(range(20))] * 2000
    assert serialize.loads(serialize.dumps(value, format="msgpack"), format="msgpack") == value


def test_msgpack_nested_declared_arrays_are_refused_before_preallocation() -> None:
    """A short document of nested array32 headers costs little memory to refuse."""
    data = b"\xdd\x00\x00\x27\x10" * 1000
    serialize.loads(b"\x90", format="msgpack")  # codec imported before measuring
    tracemalloc.start()
    try:
        with pytest.raises(errors.DecodeError):
            serialize.loads(data, format="msgpack")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


# --- S2: the path of a refusal ---------------------------------------------------------------


def test_json_refusal_inside_the_document_carries_its_path() -> None:
    """A registered type failing deep in a JSON document is reported with its path."""
    data = b'{"a":[1,{"b":{"$obj:Color":{"$decimal":"sNaN"}}}]}'
    with pytest.raises(errors.DecodeError, match=r"at \['a'\]\[1\]\['b'\]") as caught:
        serialize.loads(data)
    assert caught.value.context["path"] == ("a", 1, "b")


def test_msgpack_refusal_inside_the_document_carries_its_path() -> None:
    """The same in msgpack."""
    inner = [OBJECT_MARK, "Color", msgpack.ExtType(DECIMAL_EXT, b"sNaN")]
    with pytest.raises(errors.DecodeError) as caught:
        serialize.loads(msgpack.packb({"k": [1, inner]}), format="msgpack")
    assert caught.value.context["path"] == ("k", 1)

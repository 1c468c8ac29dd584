"""Regression tests for the attack review of 2026-11-28 (findings S1-S7 and the minor ones)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from decimal import Decimal

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

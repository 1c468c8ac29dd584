"""Conversions of the built-in non-native types to plain data and back.

Both codecs share these: JSON wraps the result in a ``{"$tag": ...}`` object, msgpack in
an ext type. Every ``*_from`` function validates the shape and bounds of its input first
and raises :class:`~safeops.errors.DecodeError` (never anything else) on bad data. None
of them imports or looks up anything named by the data; zone names are checked against
the set of zones the system has before :class:`zoneinfo.ZoneInfo` is asked for one.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID, SafeUUID

from safeops.errors import DecodeError, DecodeLimitError, EncodeError, quote

#: How many distinct items of one set or non-string-keyed map may share one hash value.
#: Python's hash of ints, Decimals, tuples and UUIDs is not randomised, so a hostile
#: document can make every key collide and turn building the set into quadratic work.
MAX_HASH_COLLISIONS = 64

_ISO_MAX = 40  # the longest isoformat() output is 32 characters
_TZ_NAME_MAX = 64
_ZONE_KEY = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+){0,3}")
_INT_TEXT = re.compile(r"-?[0-9]+")
_LOG2_10 = 3.321928094887362  # bits per decimal digit
_FLOAT_WORDS = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def bad(what: str, value: object) -> DecodeError:
    """A DecodeError for a tag payload of the wrong shape."""
    return DecodeError(f"invalid {what} payload {quote(value)}", tag=what)


# --- floats -----------------------------------------------------------------------


def float_word(value: float) -> str:
    """The JSON tag payload of a non-finite float."""
    if value != value:  # noqa: PLR0124 (NaN is the only float unequal to itself)
        return "nan"
    return "inf" if value > 0 else "-inf"


def float_from_word(payload: object) -> float:
    if type(payload) is str and payload in _FLOAT_WORDS:
        return _FLOAT_WORDS[payload]
    raise bad("float", payload)


def float_or_word(value: float) -> float | str:
    return value if value - value == 0.0 else float_word(value)


def float_from_json(payload: object) -> float:
    if type(payload) is float:
        return payload
    if type(payload) is int and not isinstance(payload, bool):
        return float(payload)
    return float_from_word(payload)


# --- big integers -------------------------------------------------------------------


def bigint_text(value: int) -> str:
    try:
        return str(value)
    except ValueError as error:  # beyond sys.get_int_max_str_digits()
        raise EncodeError(
            f"an int of {value.bit_length()} bits has too many digits to encode"
        ) from error


def bigint_from_text(payload: object, max_digits: int) -> int:
    if type(payload) is not str or len(payload) > max_digits + 1:
        if type(payload) is str:
            raise DecodeLimitError(
                f"an integer of {len(payload)} characters exceeds max_int_digits={max_digits}",
                limit="max_int_digits",
                maximum=max_digits,
                actual=len(payload),
            )
        raise bad("int", payload)
    if not _INT_TEXT.fullmatch(payload):
        raise bad("int", payload)
    try:
        return int(payload)
    except ValueError as error:  # the interpreter's own int_max_str_digits is lower
        raise DecodeLimitError(
            f"integer refused by the interpreter: {error}", limit="max_int_digits"
        ) from error


def bigint_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)


def bigint_from_bytes(payload: bytes, max_digits: int) -> int:
    # 3.33 bits per decimal digit: bound the byte length before converting anything.
    if len(payload) > max_digits * 0.42 + 2:
        raise DecodeLimitError(
            f"an integer of {len(payload)} bytes exceeds max_int_digits={max_digits}",
            limit="max_int_digits",
            maximum=max_digits,
        )
    if not payload:
        raise bad("int", payload)
    value = int.from_bytes(payload, "big", signed=True)
    # An int of n bits has at most n * log10(2) + 1 digits; bound the bits so that str()
    # of the result never exceeds max_digits (attack review 2026-11-28, minor finding).
    bits = value.bit_length()
    if bits > max_digits * _LOG2_10 + 1 or (
        bits > max_digits * _LOG2_10 - 1 and abs(value) >= 10**max_digits
    ):
        raise DecodeLimitError(
            f"an integer of {bits} bits exceeds max_int_digits={max_digits}",
            limit="max_int_digits",
            maximum=max_digits,
        )
    return value


# --- bytes and odd strings -------------------------------------------------------------


def b64(value: bytes | bytearray) -> str:
    return base64.b64encode(value).decode("ascii")


def from_b64(payload: object, what: str, max_len: int) -> bytes:
    if type(payload) is not str:
        raise bad(what, payload)
    if len(payload) // 4 * 3 > max_len:
        raise DecodeLimitError(
            f"a {what} value of about {len(payload) // 4 * 3} bytes exceeds max_str_len={max_len}",
            limit="max_str_len",
            maximum=max_len,
        )
    try:
        return base64.b64decode(payload.encode("ascii"), validate=True)
    except (binascii.Error, ValueError) as error:
        raise bad(what, payload) from error


def surrogate_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def str_from_surrogate_bytes(payload: bytes) -> str:
    try:
        return payload.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as error:
        raise bad("str", payload) from error


def has_surrogates(value: str) -> bool:
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# --- dates and times -------------------------------------------------------------------


def _zoneinfo_type() -> type | None:
    import sys

    module = sys.modules.get("zoneinfo")
    return getattr(module, "ZoneInfo", None) if module is not None else None


def _tz_spec(tz: tzinfo) -> list[Any]:
    """[kind, ...]: ("zone", key) for a ZoneInfo, ("fixed", microseconds, name) for timezone."""
    zone_type = _zoneinfo_type()
    if zone_type is not None and type(tz) is zone_type:
        key = getattr(tz, "key", None)
        if not isinstance(key, str):
            raise EncodeError("a ZoneInfo built from a file has no key to encode; use a named zone")
        return ["zone", key]
    if type(tz) is timezone:
        offset = tz.utcoffset(None)
        name = tz.tzname(None)
        if len(name) > _TZ_NAME_MAX:
            raise EncodeError(
                f"a timezone name longer than {_TZ_NAME_MAX} characters cannot be encoded"
            )
        return ["fixed", offset // timedelta(microseconds=1), name]
    raise EncodeError(
        f"tzinfo of type {type(tz).__qualname__} cannot be encoded; "
        "use datetime.timezone or zoneinfo.ZoneInfo"
    )


def _plain_tz(tz: tzinfo | None) -> bool:
    """True when isoformat() alone carries the tzinfo exactly."""
    if tz is None or tz is timezone.utc:
        return True
    if type(tz) is not timezone:
        return False
    offset = tz.utcoffset(None)
    return tz == timezone(offset) and tz.tzname(None) == timezone(offset).tzname(None)


def temporal_to(value: datetime | time) -> str | list[Any]:
    """A datetime or time as its isoformat, or [naive isoformat, fold, *tz spec]."""
    tz = value.tzinfo
    if value.fold == 0 and _plain_tz(tz):
        return value.isoformat()
    naive = value.replace(tzinfo=None, fold=0).isoformat()
    return [naive, value.fold, *(_tz_spec(tz) if tz is not None else [])]


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def _tz_from(spec: list[Any]) -> tzinfo:
    if spec[0] == "zone" and len(spec) == 2 and type(spec[1]) is str:
        key = spec[1]
        if len(key) > 64 or not _ZONE_KEY.fullmatch(key) or key not in _known_zones():
            raise DecodeError(f"unknown time zone {quote(key)}", tag="datetime")
        import zoneinfo

        return zoneinfo.ZoneInfo(key)
    if (
        spec[0] == "fixed"
        and len(spec) == 3
        and type(spec[1]) is int
        and type(spec[2]) is str
        and len(spec[2]) <= _TZ_NAME_MAX
    ):
        try:
            return timezone(timedelta(microseconds=spec[1]), spec[2])
        except (ValueError, OverflowError) as error:
            raise bad("datetime", spec) from error
    raise bad("datetime", spec)


def temporal_from(payload: object, kind: type[datetime] | type[time]) -> Any:
    what = kind.__name__
    try:
        if type(payload) is str:
            if len(payload) > _ISO_MAX:
                raise bad(what, payload)
            return kind.fromisoformat(payload)
        if type(payload) is list and 2 <= len(payload) <= 5:
            naive, fold = payload[0], payload[1]
            if (
                type(naive) is not str
                or len(naive) > _ISO_MAX
                or fold not in (0, 1)
                or type(fold) is not int
            ):
                raise bad(what, payload)
            value = kind.fromisoformat(naive)
            if value.tzinfo is not None:
                raise bad(what, payload)
            tz = _tz_from(payload[2:]) if len(payload) > 2 else None
            return value.replace(tzinfo=tz, fold=fold)
    except (ValueError, TypeError, OverflowError) as error:
        if isinstance(error, DecodeError):
            raise
        raise bad(what, payload) from error
    raise bad(what, payload)


def date_from(payload: object) -> date:
    if type(payload) is not str or len(payload) > _ISO_MAX:
        raise bad("date", payload)
    try:
        return date.fromisoformat(payload)
    except ValueError as error:
        raise bad("date", payload) from error


def timedelta_to(value: timedelta) -> list[int]:
    return [value.days, value.seconds, value.microseconds]


def timedelta_from(payload: object) -> timedelta:
    if type(payload) is list and len(payload) == 3 and all(type(part) is int for part in payload):
        try:
            return timedelta(days=payload[0], seconds=payload[1], microseconds=payload[2])
        except OverflowError as error:
            raise bad("timedelta", payload) from error
    raise bad("timedelta", payload)


# --- UUID, Decimal, complex ----------------------------------------------------------


_UUID_SLOTS = UUID.__dict__.get("int"), UUID.__dict__.get("is_safe")
_UNKNOWN_SAFETY = SafeUUID.unknown


def _uuid_from_int(value: int) -> UUID:
    # UUID.__init__ is pure Python and costs ~0.8 us; this is what it does for int=,
    # through the slot descriptors, without the argument parsing. value is already
    # known to be in [0, 2**128).
    int_slot, safe_slot = _UUID_SLOTS
    if int_slot is None or safe_slot is None:  # a future UUID without these slots
        return UUID(int=value)
    result = object.__new__(UUID)
    int_slot.__set__(result, value)
    safe_slot.__set__(result, _UNKNOWN_SAFETY)
    return result


def uuid_from_text(payload: object) -> UUID:
    if (
        type(payload) is not str
        or len(payload) != 36
        or payload[8] != "-"
        or payload[13] != "-"
        or payload[18] != "-"
        or payload[23] != "-"
    ):
        raise bad("uuid", payload)
    digits = payload.replace("-", "")
    if len(digits) != 32 or not digits.isalnum() or not digits.isascii():
        raise bad("uuid", payload)
    try:
        return _uuid_from_int(int(digits, 16))
    except ValueError as error:
        raise bad("uuid", payload) from error


def uuid_from_bytes(payload: bytes) -> UUID:
    if len(payload) != 16:
        raise bad("uuid", payload)
    return _uuid_from_int(int.from_bytes(payload, "big"))


def decimal_from(payload: object, max_digits: int) -> Decimal:
    if type(payload) is not str:
        raise bad("decimal", payload)
    if len(payload) > max_digits + 32:
        raise DecodeLimitError(
            f"a decimal of {len(payload)} characters exceeds max_int_digits={max_digits}",
            limit="max_int_digits",
            maximum=max_digits,
            actual=len(payload),
        )
    if not payload.isascii() or payload != payload.strip() or "_" in payload:
        raise bad("decimal", payload)
    try:
        value = Decimal(payload)
    except ArithmeticError as error:
        raise bad("decimal", payload) from error
    return check_decimal_size(value, max_digits)


def check_decimal_size(value: Decimal, max_digits: int) -> Decimal:
    """Refuse a Decimal with more than *max_digits* digits before or after the point."""
    # The text is short, but its exponent is not bounded by its length: int() or a
    # quantize of Decimal("1e30000000") takes minutes. max_int_digits bounds the digits
    # before the point (adjusted exponent) and after it (exponent), attack review
    # 2026-11-28, finding S1.
    if value.is_finite():
        exponent = value.as_tuple().exponent
        if type(exponent) is not int or exponent < -max_digits or value.adjusted() >= max_digits:
            raise DecodeLimitError(
                f"a decimal with exponent {exponent} has more than max_int_digits={max_digits} "
                "digits before or after the point",
                limit="max_int_digits",
                maximum=max_digits,
                actual=exponent,
            )
    return value


def complex_from(payload: object) -> complex:
    if type(payload) is list and len(payload) == 2:
        return complex(float_from_json(payload[0]), float_from_json(payload[1]))
    raise bad("complex", payload)


# --- hashing --------------------------------------------------------------------------


def check_hashable(items: Iterable[Any], what: str, count: int) -> None:
    """Refuse items that are unhashable, or that collide on purpose (see MAX_HASH_COLLISIONS)."""
    try:
        hashes = list(map(hash, items))
    except TypeError as error:
        raise DecodeError(f"a {what} element or key is unhashable: {error}", tag=what) from error
    if count > MAX_HASH_COLLISIONS:
        worst = Counter(hashes).most_common(1)[0][1]
        if worst > MAX_HASH_COLLISIONS:
            raise DecodeLimitError(
                f"{worst} items of one {what} share a hash value (at most "
                f"{MAX_HASH_COLLISIONS}): refused as a hash-collision attack",
                limit="hash_collisions",
                maximum=MAX_HASH_COLLISIONS,
                actual=worst,
            )

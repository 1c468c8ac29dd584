"""The MessagePack codec: native types as msgpack, the rest as ext types.

Scalars that msgpack cannot say (datetime, UUID, Decimal, big ints, ...) become ext
values with a fixed code each (see docs/serialize-format.md). Containers that msgpack
cannot say (tuple, set, frozenset, a map with keys other than str/bytes, a registered
object) become an array whose first item is a zero-length *marker* ext: the whole
document is then decoded by msgpack's C unpacker in one pass (no nested unpacker per
tagged container, so no C-stack growth per level), and a Python walk turns marker arrays
into their types while it counts the depth.

Native maps are decoded with ``strict_map_key=True`` (str and bytes keys only, whose
hashes are randomised); every other key type travels through the map marker, where the
walk checks the keys for hash-collision attacks before building the dict.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

import msgpack  # type: ignore[import-untyped,unused-ignore]

from safeops.errors import DecodeError, DecodeLimitError, EncodeError, EncodeLimitError, quote
from safeops.serialize import _registry, _tags
from safeops.serialize._limits import Limits
from safeops.serialize._msgpack_budget import check_structure, counting_hooks, needs_counting
from safeops.serialize._shape import raise_too_deep
from safeops.serialize._walk import TooDeep, at, diagnose_too_deep, located

__all__ = ["decode_msgpack", "encode_msgpack"]

# Marker ext codes (zero-length payload; first item of an array).
TUPLE, SET, FROZENSET, MAP, OBJECT = 1, 2, 3, 4, 5
# Scalar ext codes.
BIGINT, BYTEARRAY, DATETIME, DATE, TIME, TIMEDELTA, UUID_, DECIMAL, COMPLEX, STR = range(16, 26)

_NONE = type(None)
_UTC = timezone.utc
_PLAIN_KEY_TYPES = frozenset({str, bytes})
_ExtType = msgpack.ExtType


def _ext(code: int, payload: bytes) -> Any:
    # ExtType.__new__ re-validates its arguments in Python; ours are known good.
    return tuple.__new__(_ExtType, (code, payload))


class _Mark:
    """A marker decoded from the data; only the walk ever sees one."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code


_SPECIAL = frozenset({list, dict, _Mark})
_MARKS = {code: _Mark(code) for code in (TUPLE, SET, FROZENSET, MAP, OBJECT)}
_MARK_EXT = {code: _ExtType(code, b"") for code in _MARKS}
_CONTAINER_MARK: dict[type, Any] = {
    tuple: _MARK_EXT[TUPLE],
    set: _MARK_EXT[SET],
    frozenset: _MARK_EXT[FROZENSET],
}


def _temporal_payload(value: datetime | time) -> bytes:
    spec = _tags.temporal_to(value)
    return spec.encode("ascii") if type(spec) is str else msgpack.packb(spec)


def _make_encoder(careful: bool) -> Callable[[Any, int], Any]:
    passthrough = frozenset(
        {bool, _NONE, float, bytes} if careful else {str, int, bool, _NONE, float, bytes}
    )

    def plain_keys(obj: dict[Any, Any]) -> bool:
        return not any(type(key) is str and _tags.has_surrogates(key) for key in obj)

    def enc(obj: Any, budget: int) -> Any:
        kind = type(obj)
        if kind in passthrough:
            return obj
        if kind is dict:
            if budget <= 0:
                raise TooDeep
            budget -= 1
            if _PLAIN_KEY_TYPES.issuperset(map(type, obj)) and (not careful or plain_keys(obj)):
                # Values msgpack writes exactly as they are need no copy (C-speed check).
                if passthrough.issuperset(map(type, obj.values())):
                    return obj
                return {
                    key: value if type(value) in passthrough else enc(value, budget)
                    for key, value in obj.items()
                }
            items: list[Any] = [_MARK_EXT[MAP]]
            for key, value in obj.items():
                items.append(enc(key, budget))
                items.append(enc(value, budget))
            return items
        if kind is list:
            if budget <= 0:
                raise TooDeep
            if passthrough.issuperset(map(type, obj)):
                return obj
            return [item if type(item) in passthrough else enc(item, budget - 1) for item in obj]
        if kind is str:  # careful mode only
            if _tags.has_surrogates(obj):
                return _ext(STR, _tags.surrogate_bytes(obj))
            return obj
        if kind is int:  # careful mode only
            if -(2**63) <= obj < 2**64:
                return obj
            return _ext(BIGINT, _tags.bigint_bytes(obj))
        if kind is datetime:
            # msgpack writes UTC datetimes as its own timestamp ext (-1) in C, and
            # decodes them (timestamp=3) back to UTC datetimes.
            if obj.tzinfo is _UTC and not obj.fold:
                return obj
            return _ext(DATETIME, _temporal_payload(obj))
        if kind is UUID:
            return _ext(UUID_, obj.int.to_bytes(16, "big"))
        if kind is tuple or kind is set or kind is frozenset:
            if budget <= 0:
                raise TooDeep
            out = [_CONTAINER_MARK[kind]]
            out.extend(item if type(item) in passthrough else enc(item, budget - 1) for item in obj)
            return out
        if kind is date:
            return _ext(DATE, obj.isoformat().encode("ascii"))
        if kind is time:
            return _ext(TIME, _temporal_payload(obj))
        if kind is timedelta:
            return _ext(TIMEDELTA, msgpack.packb(_tags.timedelta_to(obj)))
        if kind is Decimal:
            return _ext(DECIMAL, str(obj).encode("ascii"))
        if kind is bytearray:
            return _ext(BYTEARRAY, bytes(obj))
        if kind is complex:
            return _ext(COMPLEX, msgpack.packb([obj.real, obj.imag]))
        entry = _registry.by_class(kind)
        if entry is not None:
            if budget <= 0:
                raise TooDeep
            return [_MARK_EXT[OBJECT], entry.name, enc(entry.to_data(obj), budget - 1)]
        raise EncodeError(
            f"cannot encode an object of type {kind.__module__}.{kind.__qualname__}: "
            "register the class with serialize.register(), or convert it to a supported type",
            type=f"{kind.__module__}.{kind.__qualname__}",
        )

    return enc


_encode_fast = _make_encoder(careful=False)
_encode_careful = _make_encoder(careful=True)


def encode_msgpack(obj: Any, limits: Limits) -> bytes:
    """Encode *obj* as msgpack bytes (raises EncodeError/EncodeLimitError)."""
    try:
        try:
            encoded: bytes = msgpack.packb(
                _encode_fast(obj, limits.max_depth), use_bin_type=True, datetime=True
            )
            return encoded
        except (OverflowError, UnicodeEncodeError):
            # A big int or a lone surrogate: redo the walk with checks.
            encoded = msgpack.packb(
                _encode_careful(obj, limits.max_depth), use_bin_type=True, datetime=True
            )
            return encoded
    except TooDeep:
        raise diagnose_too_deep(obj, limits.max_depth) from None
    except RecursionError:
        raise diagnose_too_deep(obj, limits.max_depth) from None
    except ValueError as error:
        if "recursion" in str(error):
            raise EncodeLimitError(
                "the value nests deeper than msgpack can write", limit="max_depth"
            ) from None
        raise EncodeError(f"cannot encode as msgpack: {error}") from None


def _small_unpack(payload: bytes) -> Any:
    # Payloads of scalar exts are tiny fixed-shape arrays we wrote; refuse anything else.
    return msgpack.unpackb(
        payload,
        max_str_len=64,
        max_bin_len=0,
        max_array_len=8,
        max_map_len=0,
        max_ext_len=0,
        strict_map_key=True,
    )


@lru_cache(maxsize=64)
def _ext_hook(max_str: int, max_digits: int) -> Callable[[int, bytes], Any]:
    def ext_hook(code: int, payload: bytes) -> Any:
        if code == DATETIME:
            return _decode_temporal(payload, datetime)
        if code == UUID_:
            return _tags.uuid_from_bytes(payload)
        if code in _MARKS:
            if payload:
                raise _tags.bad("marker", payload)
            return _MARKS[code]
        if code == DATE:
            return _tags.date_from(_ascii(payload, "date"))
        if code == TIME:
            return _decode_temporal(payload, time)
        if code == TIMEDELTA:
            return _tags.timedelta_from(_small(payload, "timedelta"))
        if code == DECIMAL:
            return _tags.decimal_from(_ascii(payload, "decimal", max_digits + 32), max_digits)
        if code == BIGINT:
            return _tags.bigint_from_bytes(payload, max_digits)
        if code == BYTEARRAY:
            return bytearray(payload)
        if code == COMPLEX:
            parts = _small(payload, "complex")
            if (
                type(parts) is not list
                or len(parts) != 2
                or not all(type(p) is float for p in parts)
            ):
                raise _tags.bad("complex", payload)
            return complex(parts[0], parts[1])
        if code == STR:
            if len(payload) > max_str * 4:
                raise DecodeLimitError(
                    "a string exceeds max_str_len", limit="max_str_len", maximum=max_str
                )
            return _tags.str_from_surrogate_bytes(payload)
        raise DecodeError(f"unknown msgpack ext type {code}", ext=code)

    return ext_hook


def _ascii(payload: bytes, what: str, limit: int = 64) -> str:
    if len(payload) > limit or not payload.isascii():
        raise _tags.bad(what, payload)
    return payload.decode("ascii")


def _small(payload: bytes, what: str) -> Any:
    try:
        return _small_unpack(payload)
    except (ValueError, TypeError) as error:
        raise _tags.bad(what, payload) from error


def _decode_temporal(payload: bytes, kind: type[datetime] | type[time]) -> Any:
    if payload[:1] and 0x90 <= payload[0] <= 0x9F:
        return _tags.temporal_from(_small(payload, kind.__name__), kind)
    return _tags.temporal_from(_ascii(payload, kind.__name__), kind)


@lru_cache(maxsize=64)
def _walker(limits: Limits) -> Callable[[Any, int], Any]:
    max_depth = limits.max_depth

    def misplaced() -> DecodeError:
        return DecodeError("a msgpack marker ext appears outside the first item of an array")

    def dec_list(items: list[Any], budget: int) -> Any:
        if budget <= 0:
            raise_too_deep(max_depth)
        if _SPECIAL.isdisjoint(map(type, items)):  # scalars only: no Python loop
            return items
        budget -= 1
        index = 0
        try:
            for index, item in enumerate(items):
                kind = type(item)
                if kind is list:
                    new = dec_list(item, budget)
                    if new is not item:
                        items[index] = new
                elif kind is dict:
                    dec_dict(item, budget)
                elif kind is _Mark and index:
                    raise misplaced()
        except DecodeError as error:
            raise at(error, index) from error.__cause__
        if items and type(items[0]) is _Mark:
            return convert(items[0].code, items, budget)
        return items

    def dec_dict(obj: dict[Any, Any], budget: int) -> None:
        if budget <= 0:
            raise_too_deep(max_depth)
        if _SPECIAL.isdisjoint(map(type, obj.values())):
            return
        budget -= 1
        key: Any = ""
        try:
            for key, value in obj.items():
                kind = type(value)
                if kind is list:
                    new = dec_list(value, budget)
                    if new is not value:
                        obj[key] = new
                elif kind is dict:
                    dec_dict(value, budget)
                elif kind is _Mark:
                    raise misplaced()
        except DecodeError as error:
            raise at(error, key) from error.__cause__

    def convert(code: int, items: list[Any], budget: int) -> Any:
        # The items are already decoded; budget is what their children had.
        if code == TUPLE:
            return tuple(items[1:])
        if code in (SET, FROZENSET):
            members = items[1:]
            _tags.check_hashable(members, "set", len(members))
            return set(members) if code == SET else frozenset(members)
        if code == MAP:
            if len(items) % 2 != 1:
                raise _tags.bad("map", "an odd number of items")
            keys = items[1::2]
            _tags.check_hashable(keys, "map", len(keys))
            return dict(zip(keys, items[2::2], strict=True))
        # OBJECT: [marker, name, payload]
        if len(items) != 3 or type(items[1]) is not str:
            raise _tags.bad("object", "a marker array that is not [marker, name, payload]")
        entry = _registry.by_name(items[1])
        if entry is None:
            raise DecodeError(
                f"the data names the type {quote(items[1])}, which is not registered; "
                "register it with serialize.register() (nothing is imported by name)",
                type=items[1],
            )
        return entry.from_data(items[2])

    def dec_any(value: Any, budget: int) -> Any:
        kind = type(value)
        if kind is list:
            return dec_list(value, budget)
        if kind is dict:
            dec_dict(value, budget)
        elif kind is _Mark:
            raise misplaced()
        return value

    return dec_any


def decode_msgpack(data: bytes, limits: Limits) -> Any:
    """Decode one msgpack document under *limits* (DecodeError on anything refused)."""
    if len(data) > limits.max_bytes:
        raise DecodeLimitError(
            f"the input is {len(data)} bytes, more than max_bytes={limits.max_bytes}",
            limit="max_bytes",
            maximum=limits.max_bytes,
            actual=len(data),
        )
    size = len(data)
    length_cap = min(limits.max_elements, size)
    # See _msgpack_budget: counting hooks only when the byte-level bounds do not decide.
    hooks = counting_hooks(size, limits) if needs_counting(data, limits) else {}
    try:
        check_structure(data, length_cap, limits)
        value = msgpack.unpackb(
            data,
            **hooks,
            ext_hook=_ext_hook(limits.max_str_len, limits.max_int_digits),
            raw=False,
            strict_map_key=True,
            timestamp=3,
            max_str_len=limits.max_str_len,
            max_bin_len=limits.max_str_len,
            max_array_len=length_cap,
            max_map_len=length_cap,
            max_ext_len=max(limits.max_str_len * 4, 64),
        )
        return _walker(limits)(value, limits.max_depth)
    except DecodeError as error:
        raise located(error) from error.__cause__
    except MemoryError:
        raise
    except Exception as error:
        # Anything else raised while building a value is bad data too (attack review
        # 2026-11-28, finding S2): the caller only ever sees DecodeError.
        if isinstance(error, msgpack.StackError):
            raise DecodeLimitError(
                "the document nests deeper than msgpack's own stack", limit="max_depth"
            ) from None
        text = str(error)
        if "exceeds max_" in text:  # msgpack's own max_*_len checks, before allocating
            raise DecodeLimitError(
                f"a declared length exceeds the limits: {quote(str(error), 200)}",
                limit="max_elements" if "_array_" in text or "_map_" in text else "max_str_len",
            ) from None
        raise DecodeError(f"invalid msgpack: {quote(str(error), 200)}") from None

"""The JSON codec: a walk that tags what JSON cannot say, then orjson.

Encoding converts the value into JSON-native data (dict with str keys, list, str, int,
float, bool, None) in one Python walk, replacing every other value by a one-key object
``{"$tag": payload}`` (see docs/serialize-format.md), then lets orjson write the bytes.
The walk is optimistic: it does not check every str for lone surrogates, every int for
its 64-bit range or every key for its type; orjson refuses those, and only then the walk
runs again in a careful mode that tags them.

Decoding checks the budgets on the raw bytes first (see :mod:`._shape`), lets orjson
build the value, and walks it only when the bytes may contain a tag (a ``$``) or a
budget needs a per-value check. Depth is counted by the walk and by the shape scan,
never by the interpreter's recursion limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson

from safeops.errors import DecodeError, DecodeLimitError, EncodeError, EncodeLimitError, quote
from safeops.serialize import _registry, _tags
from safeops.serialize._limits import Limits
from safeops.serialize._shape import check_json_shape, raise_too_deep
from safeops.serialize._walk import TooDeep, at, diagnose_too_deep, located

__all__ = ["decode_json", "encode_json", "may_have_tags"]

_NONE = type(None)
_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS
_UTC = timezone.utc
_CONTAINERS = frozenset({dict, list})


def _make_encoder(careful: bool) -> Callable[[Any, int], Any]:
    # In careful mode str and int leave the fast pass-through set so the walk can check
    # them; keys are checked too. The fast mode relies on orjson to refuse those cases.
    passthrough = frozenset({bool, _NONE} if careful else {str, int, bool, _NONE})

    def reusable(values: Iterable[Any]) -> bool:
        # True when orjson writes every value exactly as it is (checked at C speed).
        return passthrough.issuperset(map(type, values))

    def enc(obj: Any, budget: int) -> Any:
        kind = type(obj)
        if kind in passthrough:
            return obj
        if kind is dict:
            if budget <= 0:
                raise TooDeep
            budget -= 1
            if careful and not all(
                type(key) is str and not _tags.has_surrogates(key) for key in obj
            ):
                items: list[Any] = []
                for key, value in obj.items():
                    items.append(enc(key, budget))
                    items.append(enc(value, budget))
                return {"$map": items}
            # Values that orjson writes exactly as they are need no copy: checked at C
            # speed (map/issuperset), the common case of a dict of scalars is reused.
            if reusable(obj.values()):
                out = obj
            else:
                out = {
                    key: value
                    if type(value) in passthrough
                    or (type(value) is float and value - value == 0.0)
                    else enc(value, budget)
                    for key, value in obj.items()
                }
            if len(out) == 1:
                for key in out:
                    if type(key) is str and key[:1] == "$":
                        return {"$dict": out}
            return out
        if kind is list:
            if budget <= 0:
                raise TooDeep
            if reusable(obj):
                return obj
            return [
                item
                if type(item) in passthrough or (type(item) is float and item - item == 0.0)
                else enc(item, budget - 1)
                for item in obj
            ]
        if kind is float:
            return obj if obj - obj == 0.0 else {"$float": _tags.float_word(obj)}
        if kind is str:  # careful mode only
            return (
                {"$str": _tags.b64(_tags.surrogate_bytes(obj))}
                if _tags.has_surrogates(obj)
                else obj
            )
        if kind is int:  # careful mode only
            return obj if -(2**63) <= obj < 2**64 else {"$int": _tags.bigint_text(obj)}
        if kind is tuple or kind is set or kind is frozenset:
            if budget <= 0:
                raise TooDeep
            items = [item if type(item) in passthrough else enc(item, budget - 1) for item in obj]
            return {_CONTAINER_TAGS[kind]: items}
        if kind is datetime:
            # orjson writes naive and UTC datetimes exactly as isoformat() does, in C.
            if (obj.tzinfo is None or obj.tzinfo is _UTC) and not obj.fold:
                return {"$datetime": obj}
            return {"$datetime": _tags.temporal_to(obj)}
        if kind is UUID:
            return {"$uuid": obj}  # orjson writes the canonical hyphenated form
        if kind is date:
            return {"$date": obj.isoformat()}
        if kind is time:
            return {"$time": _tags.temporal_to(obj)}
        if kind is timedelta:
            return {"$timedelta": _tags.timedelta_to(obj)}
        if kind is Decimal:
            return {"$decimal": str(obj)}
        if kind is bytes:
            return {"$bytes": _tags.b64(obj)}
        if kind is bytearray:
            return {"$bytearray": _tags.b64(obj)}
        if kind is complex:
            return {"$complex": [_tags.float_or_word(obj.real), _tags.float_or_word(obj.imag)]}
        entry = _registry.by_class(kind)
        if entry is not None:
            if budget <= 0:
                raise TooDeep
            return {"$obj:" + entry.name: enc(entry.to_data(obj), budget - 1)}
        raise EncodeError(
            f"cannot encode an object of type {kind.__module__}.{kind.__qualname__}: "
            "register the class with serialize.register(), or convert it to a supported type",
            type=f"{kind.__module__}.{kind.__qualname__}",
        )

    return enc


_CONTAINER_TAGS: dict[type, str] = {tuple: "$tuple", set: "$set", frozenset: "$frozenset"}
_encode_fast = _make_encoder(careful=False)
_encode_careful = _make_encoder(careful=True)


def encode_json(obj: Any, limits: Limits) -> bytes:
    """Encode *obj* as JSON bytes (raises EncodeError/EncodeLimitError)."""
    try:
        try:
            return orjson.dumps(_encode_fast(obj, limits.max_depth), option=_OPTIONS)
        except orjson.JSONEncodeError:
            # A big int, a lone surrogate or a non-str key: redo the walk with checks.
            return orjson.dumps(_encode_careful(obj, limits.max_depth), option=_OPTIONS)
    except TooDeep:
        raise diagnose_too_deep(obj, limits.max_depth) from None
    except orjson.JSONEncodeError as error:
        if "ecursion" in str(error):
            raise EncodeLimitError(
                "the value nests deeper than JSON can be written (orjson stops at 254 levels)",
                limit="max_depth",
            ) from None
        raise EncodeError(f"cannot encode as JSON: {error}") from None
    except RecursionError:
        raise diagnose_too_deep(obj, limits.max_depth) from None


def may_have_tags(data: bytes) -> bool:
    """False only if no object key in *data* can start with ``$`` (so no walk is needed)."""
    # memchr for "$" and "\\" first: a 6-byte search for the escape costs ~0.5 ns/byte.
    return b"$" in data or (b"\\" in data and b"\\u0024" in data)


@lru_cache(maxsize=64)
def _decoder(limits: Limits, check_strings: bool) -> Callable[[Any, int], Any]:
    # Strings need checking only when the input is longer than max_str_len; otherwise no
    # string in it can be, and the walk skips the key checks.
    max_str = limits.max_str_len
    max_digits = limits.max_int_digits

    def too_long(value: str) -> DecodeLimitError:
        return DecodeLimitError(
            f"a string of {len(value)} characters exceeds max_str_len={max_str}",
            limit="max_str_len",
            maximum=max_str,
            actual=len(value),
        )

    def dec_list(items: list[Any], budget: int) -> list[Any]:
        # budget: container levels still allowed, this one included.
        if budget <= 0:
            raise_too_deep(limits.max_depth)
        # C-speed pre-check: a list of scalars needs no Python loop.
        if not check_strings and _CONTAINERS.isdisjoint(map(type, items)):
            return items
        budget -= 1
        index = 0
        try:
            for index, item in enumerate(items):
                kind = type(item)
                if kind is dict:
                    new = dec_dict(item, budget)
                    if new is not item:
                        items[index] = new
                elif kind is list:
                    dec_list(item, budget)
                elif check_strings and kind is str and len(item) > max_str:
                    raise too_long(item)
        except DecodeError as error:
            raise at(error, index) from error.__cause__
        return items

    def dec_dict(obj: dict[str, Any], budget: int) -> Any:
        if len(obj) == 1:
            for key, value in obj.items():
                if key[:1] == "$":
                    return dec_tag(key, value, budget)
        if budget <= 0:
            raise_too_deep(limits.max_depth)
        if not check_strings and _CONTAINERS.isdisjoint(map(type, obj.values())):
            return obj
        budget -= 1
        if check_strings:
            for key in obj:
                if len(key) > max_str:
                    raise too_long(key)
        key = ""
        try:
            for key, value in obj.items():
                kind = type(value)
                if kind is dict:
                    new = dec_dict(value, budget)
                    if new is not value:
                        obj[key] = new
                elif kind is list:
                    dec_list(value, budget)
                elif check_strings and kind is str and len(value) > max_str:
                    raise too_long(value)
        except DecodeError as error:
            raise at(error, key) from error.__cause__
        return obj

    def dec_any(value: Any, budget: int) -> Any:
        kind = type(value)
        if kind is list:
            return dec_list(value, budget)
        if kind is dict:
            return dec_dict(value, budget)
        if kind is str and len(value) > max_str:
            raise too_long(value)
        return value

    def payload_list(tag: str, payload: Any, budget: int) -> list[Any]:
        # The tag object stands for one container: its payload list is that container.
        if type(payload) is not list:
            raise _tags.bad(tag[1:], payload)
        return dec_list(payload, budget)

    def dec_tag(tag: str, payload: Any, budget: int) -> Any:
        if tag == "$datetime":
            return _tags.temporal_from(payload, datetime)
        if tag == "$uuid":
            return _tags.uuid_from_text(payload)
        if tag == "$tuple":
            return tuple(payload_list(tag, payload, budget))
        if tag == "$dict":
            if type(payload) is not dict or len(payload) != 1:
                raise _tags.bad("dict", payload)
            if budget <= 0:
                raise_too_deep(limits.max_depth)
            key = next(iter(payload))
            return {key: dec_any(payload[key], budget - 1)}
        if tag in ("$set", "$frozenset"):
            items = payload_list(tag, payload, budget)
            _tags.check_hashable(items, tag[1:], len(items))
            return set(items) if tag == "$set" else frozenset(items)
        if tag == "$map":
            items = payload_list(tag, payload, budget)
            if len(items) % 2:
                raise _tags.bad("map", "an odd number of items")
            keys = items[0::2]
            _tags.check_hashable(keys, "map", len(keys))
            return dict(zip(keys, items[1::2], strict=True))
        if tag == "$date":
            return _tags.date_from(payload)
        if tag == "$time":
            return _tags.temporal_from(payload, time)
        if tag == "$timedelta":
            return _tags.timedelta_from(payload)
        if tag == "$decimal":
            return _tags.decimal_from(payload, max_digits)
        if tag == "$int":
            return _tags.bigint_from_text(payload, max_digits)
        if tag == "$float":
            return _tags.float_from_word(payload)
        if tag == "$complex":
            return _tags.complex_from(payload)
        if tag == "$bytes":
            return _tags.from_b64(payload, "bytes", max_str)
        if tag == "$bytearray":
            return bytearray(_tags.from_b64(payload, "bytearray", max_str))
        if tag == "$str":
            return _tags.str_from_surrogate_bytes(_tags.from_b64(payload, "str", max_str * 4))
        if tag.startswith("$obj:"):
            name = tag[5:]
            entry = _registry.by_name(name)
            if entry is None:
                raise DecodeError(
                    f"the data names the type {quote(name)}, which is not registered; "
                    "register it with serialize.register() (nothing is imported by name)",
                    type=name,
                )
            if budget <= 0:
                raise_too_deep(limits.max_depth)
            return entry.from_data(dec_any(payload, budget - 1))
        raise DecodeError(
            f"unknown tag {quote(tag)}; a one-key object whose key starts with "
            "'$' is reserved for tags (see docs/serialize-format.md)",
            tag=tag,
        )

    return dec_any


_NUMBER_TAG = re.compile(rb'"\$(?:int|decimal)"')


def _check_number_tags(data: bytes, max_digits: int) -> None:
    # orjson reserves ~12x the input while it parses; refuse an oversized big-int or
    # Decimal payload on the bytes first, so such a bomb never gets that far. (A tag
    # spelled with escapes is still refused after parsing, by the tag decoder.) One regex
    # pass finds both tags (~0.4 ns per byte).
    for match in _NUMBER_TAG.finditer(data):
        opening = data.find(b'"', match.end())
        closing = data.find(b'"', opening + 1) if opening != -1 else -1
        if closing - opening > max_digits + 32:
            tag = match.group().decode()[1:-1]
            raise DecodeLimitError(
                f"a {tag} tag of more than {max_digits} digits exceeds "
                f"max_int_digits={max_digits}",
                limit="max_int_digits",
                maximum=max_digits,
            )


# orjson turns an int literal outside [-2**63, 2**64) into a float, silently: two distinct
# large ids would become equal (attack review 2026-11-28, minor finding). Such a literal
# has at least 19 digits; when the bytes hold a run that long (rare: floats are written
# with at most 17), the document, already validated by orjson, is parsed again by a
# parser whose ints are exact: pydantic-core's (a core dependency, as fast as orjson;
# the stdlib's took 2.6 s on 8 MB), or the stdlib's when max_int_digits is below what a
# float literal can carry, so that the budget is applied to every int.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_DIGIT_RUN = b"0" * 19
_FLOAT_DIGITS = 310  # orjson refuses longer integer literals ("number is infinity")


def _has_digit_run(data: bytes) -> bool:
    # A run of 19 digits covers at least 3 consecutive positions of every 6th byte, so a
    # sample of every 6th byte (1/6 of the cost) rules many documents out first.
    return b"000" in data[::6].translate(_DIGITS_TO_ZERO) and _DIGIT_RUN in data.translate(
        _DIGITS_TO_ZERO
    )


def _exact_ints(data: bytes, limits: Limits) -> Any:
    max_digits = limits.max_int_digits
    try:
        if max_digits >= _FLOAT_DIGITS:
            from pydantic_core import from_json

            return from_json(data, allow_inf_nan=False)
        import json

        return json.loads(data, parse_int=lambda text: _tags.bigint_from_text(text, max_digits))
    except DecodeError:
        raise
    except RecursionError:
        raise_too_deep(limits.max_depth)
    except ValueError as error:  # orjson accepted the document; kept for safety
        if "recursion" in str(error):
            raise_too_deep(limits.max_depth)
        raise DecodeError(f"invalid JSON: {quote(str(error), 200)}") from None


def decode_json(data: bytes, limits: Limits, *, tags: bool | None = None) -> Any:
    """Decode one JSON document under *limits* (DecodeError on anything refused)."""
    if tags is None:
        tags = may_have_tags(data)
    walk_depth = check_json_shape(data, limits, tagged=tags)
    if tags:
        _check_number_tags(data, limits.max_int_digits)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error) or "ecursion" in str(error):  # orjson's 1024 levels
            raise_too_deep(limits.max_depth)
        raise DecodeError(f"invalid JSON: {quote(str(error), 200)}") from None
    if _has_digit_run(data):
        value = _exact_ints(data, limits)
    check_strings = len(data) > limits.max_str_len
    # Without a "$" the walk finds no tag: it then only counts what the byte checks left
    # undecided (the depth of an unusual shape) or the string lengths.
    if tags or check_strings or walk_depth:
        try:
            return _decoder(limits, check_strings)(value, limits.max_depth)
        except DecodeError as error:
            raise located(error) from error.__cause__
        except MemoryError:
            raise
        except Exception as error:
            # Building a value can raise anything on bad data (decimal's InvalidOperation
            # for a signalling NaN, a registered class's own checks); the caller only ever
            # sees DecodeError (attack review 2026-11-28, finding S2).
            raise DecodeError(
                f"invalid tagged value: {type(error).__name__}: {quote(str(error), 200)}"
            ) from error
    return value

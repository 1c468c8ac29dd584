"""Budget checks on the raw bytes, before a decoder builds anything.

A plain decoder turns ``[[],[],...]`` into one list object per two bytes of input (about
30x the input in memory; msgpack's one-byte empty array is worse). These checks count on
the bytes, at C speed or with early exit, so such inputs are refused first.

JSON: every value except the root follows one of ``[ { , :`` outside a string and ends
on a byte of its own, so a document of n bytes holds at most (n + 1) // 2 values; only a
larger document is counted exactly. The exact count and the depth come from a
"skeleton": escaped backslashes and quotes are removed first (``\\\\`` then ``\\"``, left
to right, as a JSON parser pairs them), then ``bytes.translate`` deletes every byte but
the quote and the structural bytes that matter (``[ ] { }`` for depth, plus ``, :`` for
the count). If every run of quotes then has even length, no string held a kept byte
(two strings are never adjacent in JSON except across a deleted separator) and the
quotes are simply deleted; otherwise the strings are cut out with a regex. What is left
is the structure alone. Counting ``, : [ {`` on it over-counts each empty container by
one, which errs on the safe side. Depth is the number of rounds of deleting innermost
``[]`` pairs (``{}`` mapped to ``[]``) until nothing is left, stopped after the limit
(a run of more ``[`` than the limit is refused at once). For a document that is not
valid JSON the skeleton may be meaningless; orjson refuses such a document right after,
so only the error type differs.

msgpack: every value takes at least one byte, so a document of n bytes holds at most n
values; a larger one is counted by walking the headers (no object is built; runs of
one-byte values, the material of container bombs, are consumed at C speed by a regex;
the walk stops as soon as the budget is exceeded). Depth in msgpack is bounded by the
unpacker's own stack (1024 levels) and then counted exactly by the decode walk.
"""

from __future__ import annotations

import re
from typing import NoReturn

from safeops.errors import DecodeError, DecodeLimitError
from safeops.serialize._limits import Limits

__all__ = ["check_json_shape", "count_msgpack_elements", "raise_too_deep"]

_KEEP = b'"[]{},:'
_DELETE = bytes(byte for byte in range(256) if byte not in _KEEP)
_DELETE_FOR_DEPTH = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_STRING = re.compile(rb'"[^"]*"')


def raise_too_deep(max_depth: int) -> NoReturn:
    raise DecodeLimitError(
        f"the document nests deeper than max_depth={max_depth}",
        limit="max_depth",
        maximum=max_depth,
    )


def _too_many(maximum: int, actual: int | None = None) -> DecodeLimitError:
    counted = "" if actual is None else f" ({actual} or more)"
    return DecodeLimitError(
        f"the document holds more values than max_elements={maximum}{counted}",
        limit="max_elements",
        maximum=maximum,
        actual=actual,
    )


def _unescaped(data: bytes) -> bytes:
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return data


def _strip_strings(skeleton: bytes) -> bytes:
    # In valid JSON two strings are never adjacent except through deleted separators, so
    # if every run of quotes has even length (each string became `""`), no string holds a
    # kept character and deleting the quotes is exact. Otherwise cut strings out by regex.
    if skeleton.count(b'"') == 2 * skeleton.count(b'""'):
        return skeleton.translate(None, b'"')
    return _STRING.sub(b"", skeleton)


def _count_values(data: bytes) -> int:
    skeleton = _strip_strings(data.translate(None, _DELETE))
    return 1 + sum(skeleton.count(char) for char in (b",", b":", b"[", b"{"))


def _exceeds_depth(data: bytes, max_depth: int) -> bool:
    brackets = _strip_strings(data.translate(_BRACKETS, _DELETE_FOR_DEPTH))
    if b"[" * (max_depth + 1) in brackets:
        return True
    for _ in range(max_depth):
        if not brackets:
            return False
        fewer = brackets.replace(b"[]", b"")
        if len(fewer) == len(brackets):
            return False  # unbalanced: not JSON, and orjson will say so
        brackets = fewer
    return bool(brackets)


def check_json_shape(data: bytes, limits: Limits, *, tagged: bool) -> None:
    """Refuse *data* if it is too long, holds too many values or nests too deep.

    Without tags the JSON depth is the value's depth. With tags (*tagged*), a tag object
    and its payload stand for one container, so up to ``2 * max_depth + 2`` JSON levels
    are let through here and the decode walk then counts the exact depth.
    """
    if len(data) > limits.max_bytes:
        raise DecodeLimitError(
            f"the input is {len(data)} bytes, more than max_bytes={limits.max_bytes}",
            limit="max_bytes",
            maximum=limits.max_bytes,
            actual=len(data),
        )
    data = _unescaped(data)
    if (len(data) + 1) // 2 > limits.max_elements:
        count = _count_values(data)
        if count > limits.max_elements:
            raise _too_many(limits.max_elements, count)
    json_depth = 2 * limits.max_depth + 2 if tagged else limits.max_depth
    if _exceeds_depth(data, json_depth):
        raise_too_deep(limits.max_depth)


# --- msgpack -------------------------------------------------------------------------

# For each first byte: (extra bytes to skip, size of a length field, items it opens
# per declared length). Length fields are big-endian; for ext the type byte follows.
_FIXED = {
    0xC0: 0,
    0xC2: 0,
    0xC3: 0,
    0xCA: 4,
    0xCB: 8,
    0xCC: 1,
    0xCD: 2,
    0xCE: 4,
    0xCF: 8,
    0xD0: 1,
    0xD1: 2,
    0xD2: 4,
    0xD3: 8,
    0xD4: 2,
    0xD5: 3,
    0xD6: 5,
    0xD7: 9,
    0xD8: 17,
}
_SIZED = {
    0xC4: (1, 0),
    0xC5: (2, 0),
    0xC6: (4, 0),
    0xC7: (1, 1),
    0xC8: (2, 1),
    0xC9: (4, 1),
    0xD9: (1, 0),
    0xDA: (2, 0),
    0xDB: (4, 0),
}
_COUNTED = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}


# One-byte values and fixed container headers: every byte of a run of these is one value,
# and a fixmap/fixarray header also opens 2N/N more. Runs are handled at C speed, so
# the classic bomb (millions of one-byte empty containers) costs a few calls, not a loop.
_ONE_BYTE_RUN = re.compile(rb"[\x00-\xa0\xc0\xc2\xc3\xe0-\xff]+")
_OPENS = bytes(
    2 * (byte & 0x0F) if 0x80 <= byte <= 0x8F else (byte & 0x0F) if 0x90 <= byte <= 0x9F else 0
    for byte in range(256)
)


def count_msgpack_elements(data: bytes, maximum: int) -> None:
    """Walk msgpack headers and refuse *data* once it holds more than *maximum* values.

    Builds no objects. Bytes after the end of the document may be counted too (an
    over-count of input the decoder refuses anyway). Truncated or malformed input stops
    the walk silently: the real decoder, which runs next, reports it.
    """
    position = 0
    end = len(data)
    pending = 1  # values still to read
    count = 0
    match_run = _ONE_BYTE_RUN.match
    while pending > 0 and position < end:
        run = match_run(data, position)
        if run is not None:
            length = run.end() - position
            count += length
            if count > maximum:
                raise _too_many(maximum)
            pending += sum(run.group().translate(_OPENS)) - length
            position += length
            continue
        pending -= 1
        count += 1
        if count > maximum:
            raise _too_many(maximum)
        byte = data[position]
        position += 1
        if 0xA1 <= byte <= 0xBF:
            position += byte & 0x1F
        elif byte in _FIXED:
            position += _FIXED[byte]
        elif byte in _SIZED:
            size, type_byte = _SIZED[byte]
            length = int.from_bytes(data[position : position + size], "big")
            position += size + type_byte + length
        elif byte in _COUNTED:
            size, per_item = _COUNTED[byte]
            pending += per_item * int.from_bytes(data[position : position + size], "big")
            position += size
        else:
            raise DecodeError(f"invalid msgpack: reserved byte 0x{byte:02x}")

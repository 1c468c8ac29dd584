"""Budget checks on the raw bytes, before a decoder builds anything.

A plain decoder turns ``[[],[],...]`` into one list object per two bytes of input (about
30x the input in memory; msgpack's one-byte empty array is worse). These checks count on
the bytes, at C speed or with early exit, so such inputs are refused first.

JSON: every value except the root follows one of ``[ { , :`` outside a string and ends
on a byte of its own, so a document of n bytes holds at most (n + 1) // 2 values, and at
most as many containers as it has ``[`` and ``{`` bytes. Only when these upper bounds
break a budget (``max_elements``, or the ``max_expansion`` memory estimate of 8 bytes
per value and 64 per container) is the document counted exactly. The exact count and
the depth come from a "skeleton": escaped backslashes and quotes are removed first
(``\\\\`` then ``\\"``, left to right, as a JSON parser pairs them), then
``bytes.translate`` deletes every byte but the quote and the structural bytes that
matter (``[ ] { }`` for depth, plus ``, :`` for the count). If every run of quotes then
has even length, no string held a kept byte (two strings are never adjacent in JSON
except across a deleted separator) and the quotes are simply deleted; otherwise the
strings are cut out with a regex. What is left is the structure alone. Counting
``, : [ {`` on it over-counts each empty container by one, which errs on the safe side.
Depth: a run of more ``[`` than the limit is refused at once; then each round of
deleting every innermost ``[]`` pair (``{}`` mapped to ``[]``) removes every leaf of
the container tree, lowering its height by exactly one. Ordinary documents vanish
within a few rounds; after six rounds, a run longer than what remains of the limit is
refused, and anything else is left to the decode walk, which counts depth exactly (so
the scan stays linear: up to 130 rounds over 16 MB took 1.5 s). For a document that is
not valid JSON the skeleton may be meaningless; orjson refuses such a document right
after, so only the error type differs.

msgpack is checked by the codec (see ``_msgpack.decode_msgpack``): the same upper
bounds on the bytes (every value takes a byte; a container's header byte is one of
0x80-0x9f, 0xdc-0xdf), and, when they do not decide, counting hooks that stop the C
unpacker at the first container over budget.
"""

from __future__ import annotations

import re
from typing import NoReturn

from safeops.errors import DecodeLimitError
from safeops.serialize._limits import Limits

__all__ = [
    "CONTAINER_COST",
    "VALUE_COST",
    "check_json_shape",
    "expansion_allowance",
    "raise_too_deep",
    "too_expanded",
    "too_many_values",
]

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


def too_many_values(maximum: int, actual: int | None = None) -> DecodeLimitError:
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


#: The memory estimate behind Limits.max_expansion: a value costs at least its 8-byte
#: slot in its container; an empty list is 56 bytes and an empty dict 64, plus the
#: growth slack of the list that holds them.
VALUE_COST = 8
CONTAINER_COST = 80
#: Inputs are allowed this much estimated memory on top of max_expansion x their size, so
#: small documents of any shape decode.
EXPANSION_SLACK = 64 * 1024
#: Leaf-removal passes made on the bracket skeleton before the depth is left to the walk.
_DEPTH_PASSES = 6


def expansion_allowance(size: int, limits: Limits) -> int:
    """The estimated decoded memory (see Limits.max_expansion) an input of *size* may have."""
    return limits.max_expansion * size + EXPANSION_SLACK


def too_expanded(estimate: int, size: int, limits: Limits) -> DecodeLimitError:
    return DecodeLimitError(
        f"the document would decode to about {estimate} bytes of objects, more than "
        f"max_expansion={limits.max_expansion} times its {size} bytes: refused as a "
        "container bomb",
        limit="max_expansion",
        maximum=limits.max_expansion,
        actual=estimate // max(size, 1),
    )


def _check_counts(data: bytes, brackets: bytes, size: int, limits: Limits) -> None:
    allowance = expansion_allowance(size, limits)
    values = (size + 1) // 2  # an upper bound
    containers = brackets.count(b"[")  # exact: the skeleton maps "{" to "["
    if values <= limits.max_elements and (
        VALUE_COST * values + CONTAINER_COST * containers <= allowance
    ):
        return
    skeleton = _strip_strings(data.translate(None, _DELETE))
    values = 1 + containers + skeleton.count(b",") + skeleton.count(b":")
    if values > limits.max_elements:
        raise too_many_values(limits.max_elements, values)
    estimate = VALUE_COST * values + CONTAINER_COST * containers
    if estimate > allowance:
        raise too_expanded(estimate, size, limits)


def _depth_undecided(brackets: bytes, json_depth: int, max_depth: int) -> bool:
    # Each pass deletes every innermost "[]" pair, i.e. every leaf of the container tree,
    # so the height drops by exactly one per pass. A few passes decide ordinary documents;
    # what is left afterwards (rare) is decided by the decode walk, which counts depth
    # exactly: up to max_depth passes over a 16 MB input took 1.5 s (attack review
    # 2026-11-28, finding S5).
    if b"[" * (json_depth + 1) in brackets:
        raise_too_deep(max_depth)
    for done in range(json_depth):
        if not brackets:
            return False
        if done == _DEPTH_PASSES:
            # The height is now json_depth - done lower: a long run still decides.
            if b"[" * (json_depth + 1 - done) in brackets:
                raise_too_deep(max_depth)
            return True
        fewer = brackets.replace(b"[]", b"")
        if len(fewer) == len(brackets):
            return False  # unbalanced: not JSON, and orjson will say so
        brackets = fewer
    if brackets:
        raise_too_deep(max_depth)
    return False


def check_json_shape(data: bytes, limits: Limits, *, tagged: bool) -> bool:
    """Refuse *data* if it is too long, holds too many values, would expand too much or
    nests too deep; return True when the depth is left for the decode walk to count.

    Without tags the JSON depth is the value's depth. With tags (*tagged*), a tag object
    and its payload stand for one container, so up to ``max_depth`` plus the number of
    possible tag keys (at most ``2 * max_depth + 2``) JSON levels are let through here
    and the decode walk then counts the exact depth.
    """
    if len(data) > limits.max_bytes:
        raise DecodeLimitError(
            f"the input is {len(data)} bytes, more than max_bytes={limits.max_bytes}",
            limit="max_bytes",
            maximum=limits.max_bytes,
            actual=len(data),
        )
    size = len(data)
    data = _unescaped(data)
    brackets = _strip_strings(data.translate(_BRACKETS, _DELETE_FOR_DEPTH))
    _check_counts(data, brackets, size, limits)
    json_depth = limits.max_depth
    if tagged:
        # Each tag object on a path adds one JSON level (a tagged container is the tag
        # object plus its payload list) and a tagged leaf with a list payload two, so the
        # JSON depth is at most max_depth plus one more than the number of strings that
        # can be a tag key, capped at max_depth + 2. Counting them
        # keeps one stray "$" from doubling the allowance for the whole document
        # (attack review 2026-11-28, finding S5); an escaped "$" gets the full allowance.
        cap = limits.max_depth + 2
        json_depth += cap if b"\\u0024" in data else min(data.count(b'"$') + 1, cap)
    return _depth_undecided(brackets, json_depth, limits.max_depth)

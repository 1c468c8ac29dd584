"""msgpack budgets: which documents need counting, the counting hooks, and the
structure check that keeps msgpack's preallocation bounded.

Every value takes at least one byte and every container's header byte is one of
0x80-0x9f (fixmap, fixarray) or 0xdc-0xdf (array16/32, map16/32): when even those upper
bounds fit ``max_elements`` and ``max_expansion``, nothing needs counting. Otherwise the
C unpacker calls hooks that count as it completes each container and stop it at the
first one over budget (a Python header walk cost 0.75 s on 2 MB, attack review
2026-11-28, findings S4 and S6).
"""

from __future__ import annotations

from typing import Any

import msgpack  # type: ignore[import-untyped,unused-ignore]

from safeops.errors import DecodeLimitError
from safeops.serialize._limits import Limits
from safeops.serialize._shape import (
    CONTAINER_COST,
    VALUE_COST,
    expansion_allowance,
    too_expanded,
    too_many_values,
)

__all__ = ["check_structure", "counting_hooks", "needs_counting"]


def needs_counting(data: bytes, limits: Limits) -> bool:
    """False when the byte-level upper bounds already fit the budgets."""
    size = len(data)
    if size > limits.max_elements:
        return True
    containers = len(data.translate(None, _NOT_CONTAINER_BYTES))
    return VALUE_COST * size + CONTAINER_COST * containers > expansion_allowance(size, limits)


_NOT_CONTAINER_BYTES = bytes(
    byte for byte in range(256) if not (0x80 <= byte <= 0x9F or 0xDC <= byte <= 0xDF)
)


def counting_hooks(size: int, limits: Limits) -> dict[str, Any]:
    """list_hook/object_hook that count values and their estimated memory, and stop
    the unpacker at the first container over budget (so memory stays bounded)."""
    max_values = limits.max_elements
    allowance = expansion_allowance(size, limits)
    # The root counts as one value; every other value is an item, key or value of
    # exactly one container.
    values = 1
    cost = VALUE_COST

    def over() -> DecodeLimitError:
        if values > max_values:
            return too_many_values(max_values, values)
        return too_expanded(cost, size, limits)

    def on_list(items: list[Any]) -> list[Any]:
        nonlocal values, cost
        values += len(items)
        cost += VALUE_COST * len(items) + CONTAINER_COST
        if values > max_values or cost > allowance:
            raise over()
        return items

    def on_map(obj: dict[Any, Any]) -> dict[Any, Any]:
        nonlocal values, cost
        values += 2 * len(obj)
        cost += 2 * VALUE_COST * len(obj) + CONTAINER_COST
        if values > max_values or cost > allowance:
            raise over()
        return obj

    return {"list_hook": on_list, "object_hook": on_map}


# msgpack preallocates min(declared length, 10000) slots for each array16/32 it opens,
# before any item is read: 1,000 nested headers that each declare 10,000 items cost 80 MB
# for a 5 KB input that then fails as truncated (own research, 2026-11-28). The slots are
# bounded by real items only in a complete document, so when the input holds enough
# array16/32 header bytes for that waste to matter, its structure is first checked by
# msgpack's skip() (C speed, builds nothing).
_PREALLOC_SLOTS = 10_000
_NOT_ARRAY_HEADERS = bytes(byte for byte in range(256) if byte not in (0xDC, 0xDD))
_MSGPACK_STACK = 1024


def _may_overallocate(data: bytes, limits: Limits) -> bool:
    headers = len(data.translate(None, _NOT_ARRAY_HEADERS))
    if not headers:
        return False
    waste = VALUE_COST * min(headers, _MSGPACK_STACK) * min(_PREALLOC_SLOTS, len(data))
    return waste > expansion_allowance(len(data), limits)


def check_structure(data: bytes, length_cap: int, limits: Limits) -> None:
    """Refuse, without building anything, a document shorter than its headers declare
    when it holds enough array16/32 headers for msgpack's preallocation to matter."""
    if not _may_overallocate(data, limits):
        return
    unpacker = msgpack.Unpacker(
        None,
        max_buffer_size=max(len(data), 1),
        strict_map_key=False,
        max_str_len=limits.max_str_len,
        max_bin_len=limits.max_str_len,
        max_array_len=length_cap,
        max_map_len=length_cap,
        max_ext_len=max(limits.max_str_len * 4, 64),
    )
    unpacker.feed(data)
    unpacker.skip()  # raises OutOfData for a document shorter than its headers declare

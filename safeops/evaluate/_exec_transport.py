"""How values cross the boundary between the host and the isolated worker.

One small pair of functions, :func:`encode` and :func:`decode`, so the wire format is
decided in exactly one place: :mod:`safeops.serialize` with ``format="msgpack"``.
Never pickle: decoding imports and calls nothing named by the data, so a compromised
worker cannot make the host run anything; every decode is bounded by
:class:`safeops.serialize.Limits` derived from the call's :class:`ExecLimits`.

Only values ``serialize`` round-trips can cross: plain data (numbers, strings, bytes,
lists, tuples, dicts, sets, ...), never callables. Classes an application registered
with ``serialize.register`` in the host are not registered in the worker, so they
cannot be passed in ``names``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from safeops.errors import EvaluationError, SerializationError

__all__ = ["TransportError", "can_carry", "decode", "encode"]

#: Largest request the worker accepts (source and names).
MAX_REQUEST_BYTES = 64 * 1024 * 1024


class TransportError(EvaluationError, ValueError):
    """A value cannot be encoded for, or decoded from, the worker boundary."""


def encode(value: object) -> bytes:
    """Encode *value* with ``safeops.serialize`` (msgpack); TransportError if it cannot."""
    from safeops import serialize

    try:
        return serialize.dumps(value, format="msgpack")
    except (SerializationError, TypeError, ValueError, OverflowError, RecursionError) as error:
        raise TransportError(f"value cannot cross the worker boundary: {error}") from None


def decode(data: bytes, *, max_bytes: int, max_int_bits: int = 1_000_000) -> Any:
    """Decode what :func:`encode` produced, within *max_bytes*; else TransportError."""
    from safeops import serialize

    try:
        return serialize.loads(data, format="msgpack",
                               limits=_decode_limits(max_bytes, max_int_bits))
    except SerializationError as error:
        raise TransportError(f"malformed data at the worker boundary: {error}") from None


@functools.lru_cache(maxsize=32)
def _decode_limits(max_bytes: int, max_int_bits: int) -> Any:
    from safeops import serialize

    return serialize.Limits(
        max_bytes=max(max_bytes, 1),
        max_elements=max(max_bytes, 1),
        max_str_len=max(max_bytes, 1),
        max_int_digits=max(4300, math.ceil(max_int_bits * math.log10(2)) + 1),
    )


def can_carry(value: object) -> bool:
    """Whether *value* survives :func:`encode` (what an isolated call can return)."""
    try:
        encode(value)
    except TransportError:
        return False
    return True

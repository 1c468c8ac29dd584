"""dump / load / iter_load: framed documents on binary files.

Each :func:`dump` writes one record: ``b"SO"``, a format byte (``j``/``m``), a version
byte (1), the body length as 4 bytes big-endian, then the body (a document, or a signed
envelope). A record whose header or body ends early is reported as truncated instead of
being merged with what follows; a declared length above the limits is refused before
anything is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from safeops.errors import DecodeError, DecodeLimitError, EncodeLimitError
from safeops.serialize._api import DEFAULT_PURPOSE, Format, _format_byte, dumps, loads
from safeops.serialize._envelope import OVERHEAD, Keys
from safeops.serialize._limits import DEFAULT_LIMITS, Limits

__all__ = ["dump", "iter_load", "load"]

_HEADER = 8
_VERSION = 1
_CHUNK = 64 * 1024


def dump(
    obj: Any,
    file: IO[bytes],
    *,
    format: Format = "json",
    key: Keys | None = None,
    purpose: str = DEFAULT_PURPOSE,
    limits: Limits | None = None,
) -> None:
    """Write *obj* to the binary *file* as one framed record (see :func:`dumps`)."""
    body = dumps(obj, format=format, key=key, purpose=purpose, limits=limits)
    if len(body) >= 2**32:
        raise EncodeLimitError("a record larger than 4 GiB cannot be framed", limit="max_bytes")
    header = b"SO" + _format_byte(format) + bytes([_VERSION]) + len(body).to_bytes(4, "big")
    file.write(header + body)


def _read_exactly(file: IO[bytes], length: int) -> bytes:
    # Read in bounded chunks: file.read(length) makes a BufferedReader allocate the
    # declared length before finding the file short (an 8-byte file cost 16.8 MB), and a
    # raw file or pipe may return fewer bytes than asked before its end (attack review
    # 2026-11-28, finding S7). Stops early only at end of file: an empty read (or None,
    # from a non-blocking file with nothing ready, which is then reported as truncated).
    parts: list[bytes] = []
    have = 0
    while have < length:
        chunk = file.read(min(_CHUNK, length - have))
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _read_record(file: IO[bytes], format: Format, limits: Limits) -> bytes | None:
    header = _read_exactly(file, _HEADER)
    if not header:
        return None
    if len(header) < _HEADER:
        raise DecodeError(f"truncated record: the header has {len(header)} of {_HEADER} bytes")
    if header[:2] != b"SO" or header[3] != _VERSION:
        raise DecodeError(f"not a serialize record header: {header[:4]!r}")
    if header[2:3] != _format_byte(format):
        raise DecodeError(f"the record holds format {header[2:3]!r}, not {format!r}")
    length = int.from_bytes(header[4:], "big")
    if length > limits.max_bytes + OVERHEAD:
        raise DecodeLimitError(
            f"a record declares {length} bytes, more than max_bytes={limits.max_bytes}",
            limit="max_bytes",
            maximum=limits.max_bytes,
            actual=length,
        )
    body = _read_exactly(file, length)
    if len(body) < length:
        raise DecodeError(f"truncated record: the body has {len(body)} of {length} bytes")
    return body


def load(
    file: IO[bytes],
    *,
    format: Format = "json",
    type: Any = None,
    key: Keys | None = None,
    purpose: str = DEFAULT_PURPOSE,
    max_age: float | None = None,
    limits: Limits | None = None,
) -> Any:
    """Read one record written by :func:`dump` from *file* (see :func:`loads`).

    Like ``pickle.load``, it leaves *file* positioned after the record. At end of file
    it raises :class:`~safeops.errors.DecodeError`.
    """
    active = DEFAULT_LIMITS if limits is None else limits
    body = _read_record(file, format, active)
    if body is None:
        raise DecodeError("no record to load: end of file")
    return loads(
        body, format=format, type=type, key=key, purpose=purpose, max_age=max_age, limits=active
    )


def iter_load(
    file: IO[bytes],
    *,
    format: Format = "json",
    type: Any = None,
    key: Keys | None = None,
    purpose: str = DEFAULT_PURPOSE,
    max_age: float | None = None,
    limits: Limits | None = None,
) -> Iterator[Any]:
    """Yield every record of *file*, in order, until a clean end of file.

    A truncated last record raises :class:`~safeops.errors.DecodeError` (after the
    complete records before it were yielded).
    """
    active = DEFAULT_LIMITS if limits is None else limits
    while True:
        body = _read_record(file, format, active)
        if body is None:
            return
        yield loads(
            body, format=format, type=type, key=key, purpose=purpose, max_age=max_age, limits=active
        )

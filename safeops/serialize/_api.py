"""dumps / loads: format selection, signing and typed decoding around the codecs."""

from __future__ import annotations

from typing import Any, Literal

from safeops.errors import ConfigurationError, DecodeError, DecodeLimitError, SignatureError
from safeops.serialize import _envelope
from safeops.serialize._limits import DEFAULT_LIMITS, Limits

__all__ = ["DEFAULT_PURPOSE", "Format", "dumps", "loads"]

Format = Literal["json", "msgpack"]
#: The purpose used when none is given. Give each context its own purpose string so a
#: value signed for one (a session) is refused in another (a cache entry).
DEFAULT_PURPOSE = "safeops.serialize"
_FORMAT_BYTES = {"json": b"j", "msgpack": b"m"}


def _format_byte(format: str) -> bytes:
    try:
        return _FORMAT_BYTES[format]
    except (KeyError, TypeError):
        raise ConfigurationError(f"format must be 'json' or 'msgpack', got {format!r}") from None


def dumps(
    obj: Any,
    *,
    format: Format = "json",
    key: _envelope.Keys | None = None,
    purpose: str = DEFAULT_PURPOSE,
    limits: Limits | None = None,
) -> bytes:
    """Encode *obj* as bytes: plain JSON (default) or MessagePack.

    Round-trips exactly (same types, same values) everything listed in
    docs/serialize.md; registered application types by :func:`register`. Shared
    references are written as copies; a reference cycle raises
    :class:`~safeops.errors.EncodeError`, nesting deeper than ``limits.max_depth``
    :class:`~safeops.errors.EncodeLimitError`.

    With *key* (bytes of at least 32, or a list whose first key signs) the document is
    wrapped in an HMAC-SHA256 envelope bound to *purpose*.
    """
    format_byte = _format_byte(format)
    active = DEFAULT_LIMITS if limits is None else limits
    # The codecs (orjson, msgpack, uuid, decimal) load on first use: `import safeops` stays
    # cheap for programs that never serialize.
    if format_byte == b"j":
        from safeops.serialize._json import encode_json

        document = encode_json(obj, active)
    else:
        from safeops.serialize._msgpack import encode_msgpack

        document = encode_msgpack(obj, active)
    if key is None:
        return document
    return _envelope.seal(document, format_byte, key, purpose)


def _as_bytes(data: Any, limits: Limits) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        if size > limits.max_bytes + _envelope.OVERHEAD:
            raise DecodeLimitError(
                f"the input is {size} bytes, more than max_bytes={limits.max_bytes}",
                limit="max_bytes",
                maximum=limits.max_bytes,
                actual=size,
            )
        return bytes(data)
    raise DecodeError(f"loads() needs bytes, got {type(data).__name__}")


def loads(
    data: bytes | bytearray | memoryview,
    *,
    format: Format = "json",
    type: Any = None,
    key: _envelope.Keys | None = None,
    purpose: str = DEFAULT_PURPOSE,
    max_age: float | None = None,
    limits: Limits | None = None,
) -> Any:
    """Decode one document from *data*; every refusal is a :class:`~safeops.errors.DecodeError`.

    Nothing named by the data is imported or called: tags map to built-in decoders and
    to the classes given to :func:`register` only. *limits* (default
    :data:`DEFAULT_LIMITS`) bounds bytes, depth, values, string and integer sizes, all
    checked before the decoder allocates much. Trailing data is refused.

    With *type*, the value is validated by pydantic's ``TypeAdapter(type)``: plain JSON
    from any producer goes straight to pydantic's parser; a failure is a
    :class:`~safeops.errors.DecodeValidationError` listing every bad field's path.

    With *key*, *data* must be an envelope signed by one of the keys for *purpose*
    (and younger than *max_age* seconds, if given); the signature is verified before
    anything is decoded.
    """
    format_byte = _format_byte(format)
    active = DEFAULT_LIMITS if limits is None else limits
    raw = _as_bytes(data, active)
    if key is not None:
        if len(raw) > active.max_bytes + _envelope.OVERHEAD:
            raise DecodeLimitError(
                f"the input is {len(raw)} bytes, more than max_bytes={active.max_bytes}",
                limit="max_bytes",
                maximum=active.max_bytes,
                actual=len(raw),
            )
        signed_format, raw = _envelope.open_envelope(raw, key, purpose, max_age)
        if signed_format != format_byte:
            raise DecodeError(f"the signed data holds another format than {format!r}")
    elif raw.startswith(_envelope.MAGIC[:3]):
        raise SignatureError("the data is a signed envelope: pass key= to verify and decode it")
    if format_byte == b"j":
        from safeops.serialize._json import decode_json, may_have_tags
        from safeops.serialize._shape import check_json_shape

        if type is not None:
            from safeops.serialize import _typed

            if (
                not may_have_tags(raw)
                and len(raw) <= active.max_str_len
                and not check_json_shape(raw, active, tagged=False)
            ):
                return _typed.validate_json(raw, type)
            return _typed.validate_python(decode_json(raw, active), type)
        return decode_json(raw, active)
    from safeops.serialize._msgpack import decode_msgpack

    value = decode_msgpack(raw, active)
    if type is not None:
        from safeops.serialize import _typed

        return _typed.validate_python(value, type)
    return value

"""Signed envelopes: HMAC-SHA256 over the encoded document, verified before decoding.

Layout (all integers big-endian; see docs/serialize-format.md)::

    0   4  magic and version   b"SOE\\x01"
    4   1  format              b"j" (JSON) or b"m" (msgpack)
    5   8  key id              first 8 bytes of HMAC-SHA256(key, b"safeops.serialize key id")
    13  8  purpose digest      first 8 bytes of SHA-256(purpose, UTF-8)
    21  8  timestamp           unsigned seconds since the Unix epoch, when it was signed
    29  4  length              n, the length of the document
    33  n  document            the encoded bytes
    -32 32 MAC                 HMAC-SHA256(key, domain + purpose + b"\\x00" + bytes[0:-32])

where domain is b"safeops.serialize.v1\\x00".

The purpose is bound into the MAC, so a token signed for one purpose never verifies for
another even if an attacker rewrites the purpose digest; the digest in clear only lets
the error say which check failed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Union

from safeops.errors import ConfigurationError, SignatureError

__all__ = ["MAGIC", "MIN_KEY_BYTES", "OVERHEAD", "Keys", "normalise_keys", "open_envelope", "seal"]

MAGIC = b"SOE\x01"
MIN_KEY_BYTES = 32
_HEADER = 33
_MAC = 32
#: Bytes an envelope adds around the document.
OVERHEAD = _HEADER + _MAC
_DOMAIN = b"safeops.serialize.v1\x00"
#: How far in the future a timestamp may be before it is refused (clock skew between hosts).
CLOCK_SKEW_SECONDS = 300

Keys = Union[bytes, Sequence[bytes]]  # noqa: UP007 (a runtime alias on 3.10)


def _key_id(key: bytes) -> bytes:
    return hmac.new(key, b"safeops.serialize key id", hashlib.sha256).digest()[:8]


def normalise_keys(key: Keys) -> list[tuple[bytes, bytes]]:
    """Check *key* (one key or a list, newest first) and return ``[(key_id, key), ...]``."""
    keys = [key] if isinstance(key, (bytes, bytearray)) else list(key)
    if not keys:
        raise ConfigurationError("key= was given an empty list; pass at least one key")
    out = []
    for item in keys:
        if not isinstance(item, (bytes, bytearray)):
            raise ConfigurationError(f"a signing key must be bytes, got {type(item).__name__}")
        if len(item) < MIN_KEY_BYTES:
            raise ConfigurationError(
                f"a signing key of {len(item)} bytes is too short; use at least "
                f"{MIN_KEY_BYTES} random bytes (for example secrets.token_bytes(32))",
                minimum=MIN_KEY_BYTES,
            )
        out.append((_key_id(bytes(item)), bytes(item)))
    return out


def _mac(key: bytes, purpose: bytes, signed: bytes) -> bytes:
    mac = hmac.new(key, _DOMAIN, hashlib.sha256)
    mac.update(purpose)
    mac.update(b"\x00")
    mac.update(signed)
    return mac.digest()


def _purpose_bytes(purpose: str) -> bytes:
    if not isinstance(purpose, str) or "\x00" in purpose:
        raise ConfigurationError("purpose must be a str without NUL characters")
    return purpose.encode("utf-8")


def seal(
    document: bytes, format_byte: bytes, key: Keys, purpose: str, now: float | None = None
) -> bytes:
    """Wrap *document* in a signed envelope made with the first key of *key*."""
    key_id, secret = normalise_keys(key)[0]
    purpose_bytes = _purpose_bytes(purpose)
    stamp = int(time.time() if now is None else now)
    signed = b"".join(
        (
            MAGIC,
            format_byte,
            key_id,
            hashlib.sha256(purpose_bytes).digest()[:8],
            stamp.to_bytes(8, "big"),
            len(document).to_bytes(4, "big"),
            document,
        )
    )
    return signed + _mac(secret, purpose_bytes, signed)


#: A max_age above this (about 31,700 years) is a mistake, not a policy.
_MAX_AGE_CEILING = 10**12


def check_max_age(max_age: object) -> None:
    """Refuse a *max_age* that is not a finite, non-negative number of seconds.

    NaN never compares as expired and a str only failed after verification (attack
    review 2026-11-28, minor finding): both are configuration errors, raised first.
    """
    if max_age is None:
        return
    if (
        isinstance(max_age, bool)
        or not isinstance(max_age, (int, float))
        or not 0 <= max_age <= _MAX_AGE_CEILING  # also refuses NaN
    ):
        raise ConfigurationError(
            f"max_age must be None or a finite number of seconds >= 0, got {repr(max_age)[:40]}",
            max_age=repr(max_age)[:40],
        )


def open_envelope(
    data: bytes, key: Keys, purpose: str, max_age: float | None, now: float | None = None
) -> tuple[bytes, bytes]:
    """Verify *data* and return ``(format_byte, document)``; SignatureError otherwise.

    The MAC is checked (in constant time) before anything else in the document is looked
    at; each way of failing has its own message.
    """
    keys = normalise_keys(key)
    purpose_bytes = _purpose_bytes(purpose)
    check_max_age(max_age)
    if not data.startswith(MAGIC[:3]):
        raise SignatureError(
            "the data is not signed, but a key was given: refusing unsigned data "
            "(sign it with dumps(..., key=...))",
            reason="unsigned",
        )
    if len(data) < _HEADER + _MAC:
        raise SignatureError(
            f"the signed envelope is truncated ({len(data)} bytes, "
            f"at least {_HEADER + _MAC} needed)",
            reason="truncated",
        )
    if data[3:4] != MAGIC[3:4]:
        raise SignatureError(f"unsupported envelope version {data[3]}", reason="version")
    declared = _HEADER + int.from_bytes(data[29:33], "big") + _MAC
    if len(data) < declared:
        raise SignatureError(
            f"the signed envelope is truncated ({len(data)} of {declared} bytes)",
            reason="truncated",
        )
    if len(data) > declared:
        raise SignatureError(
            "the signed envelope has trailing data after its signature", reason="trailing"
        )
    key_id = data[5:13]
    secret = next((secret for kid, secret in keys if hmac.compare_digest(kid, key_id)), None)
    if secret is None:
        raise SignatureError(
            "the data was signed with a key that is not among the given keys "
            "(rotated out, or from another system)",
            reason="unknown key",
        )
    if not hmac.compare_digest(data[13:21], hashlib.sha256(purpose_bytes).digest()[:8]):
        raise SignatureError(
            f"the data was signed for another purpose than {purpose!r}", reason="purpose"
        )
    signed, mac = data[:-_MAC], data[-_MAC:]
    if not hmac.compare_digest(mac, _mac(secret, purpose_bytes, signed)):
        raise SignatureError(
            "the signature does not match: the data or its signature was tampered with",
            reason="tampered",
        )
    stamp = int.from_bytes(data[21:29], "big")
    current = time.time() if now is None else now
    if stamp > current + CLOCK_SKEW_SECONDS:
        raise SignatureError("the signature's timestamp is in the future", reason="future")
    if max_age is not None and current - stamp > max_age:
        raise SignatureError(
            f"the signed data expired: signed {int(current - stamp)} s ago, max_age={max_age}",
            reason="expired",
        )
    return data[4:5], data[_HEADER:-_MAC]

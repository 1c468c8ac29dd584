"""safeops.serialize signed envelopes: HMAC-SHA256, key ids, rotation, purpose, expiry."""

from __future__ import annotations

import time
from typing import Any

import pytest

from safeops import serialize
from safeops.errors import ConfigurationError, DecodeError, SignatureError
from safeops.serialize import _envelope

KEY = bytes(range(32))
OLD_KEY = bytes(range(1, 33))
FORMATS = ["json", "msgpack"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_signed_value_round_trips(fmt: str) -> None:
    """A value signed with a key decodes with the same key."""
    value = {"user": 7, "roles": ("admin",)}
    data = serialize.dumps(value, format=fmt, key=KEY)
    assert serialize.loads(data, format=fmt, key=KEY) == value


def test_rotation_first_key_signs_and_all_verify() -> None:
    """With a key list the first key signs; an older key still verifies old data."""
    old_data = serialize.dumps("old", key=OLD_KEY)
    new_data = serialize.dumps("new", key=[KEY, OLD_KEY])
    assert serialize.loads(old_data, key=[KEY, OLD_KEY]) == "old"
    assert serialize.loads(new_data, key=[KEY]) == "new"


def test_key_rotated_out_is_refused() -> None:
    """Data signed with a key no longer in the list is refused."""
    data = serialize.dumps("x", key=OLD_KEY)
    with pytest.raises(SignatureError, match="not among the given keys"):
        serialize.loads(data, key=[KEY])


@pytest.mark.parametrize("length", [0, 16, 31])
def test_short_keys_are_refused(length: int) -> None:
    """Keys shorter than 32 bytes are a configuration error."""
    with pytest.raises(ConfigurationError):
        serialize.dumps(1, key=b"k" * length)


def test_tampered_document_is_refused() -> None:
    """Flipping one byte of the document fails verification."""
    data = bytearray(serialize.dumps([1, 2, 3], key=KEY))
    data[40] ^= 1
    with pytest.raises(SignatureError, match="tampered"):
        serialize.loads(bytes(data), key=KEY)


def test_tampered_signature_is_refused() -> None:
    """Flipping one byte of the MAC fails verification."""
    data = bytearray(serialize.dumps([1, 2, 3], key=KEY))
    data[-1] ^= 1
    with pytest.raises(SignatureError, match="tampered"):
        serialize.loads(bytes(data), key=KEY)


@pytest.mark.parametrize("cut", [1, 20, 60])
def test_truncated_envelope_has_its_own_message(cut: int) -> None:
    """A truncated envelope is reported as truncated."""
    data = serialize.dumps([1, 2, 3], key=KEY)
    with pytest.raises(SignatureError, match="truncated"):
        serialize.loads(data[:-cut], key=KEY)


def test_unsigned_data_is_refused_when_a_key_is_expected() -> None:
    """Plain data passed with key= is refused as unsigned."""
    with pytest.raises(SignatureError, match="not signed"):
        serialize.loads(serialize.dumps([1]), key=KEY)


def test_signed_data_without_key_is_refused_clearly() -> None:
    """An envelope passed without key= says a key is needed."""
    with pytest.raises(SignatureError, match="pass key="):
        serialize.loads(serialize.dumps([1], key=KEY))


def test_other_purpose_is_refused() -> None:
    """A session token is not accepted as a cache entry."""
    token = serialize.dumps({"user": 1}, key=KEY, purpose="session")
    with pytest.raises(SignatureError, match="another purpose"):
        serialize.loads(token, key=KEY, purpose="cache")


def test_rewritten_purpose_digest_still_fails_the_mac() -> None:
    """Rewriting the purpose digest in clear does not make the token valid elsewhere."""
    import hashlib

    token = bytearray(serialize.dumps({"user": 1}, key=KEY, purpose="session"))
    token[13:21] = hashlib.sha256(b"cache").digest()[:8]
    with pytest.raises(SignatureError, match="tampered"):
        serialize.loads(bytes(token), key=KEY, purpose="cache")


def test_expired_data_is_refused() -> None:
    """Data older than max_age is refused as expired."""
    document = serialize.dumps([1])
    data = _envelope.seal(document, b"j", KEY, serialize.DEFAULT_PURPOSE, now=time.time() - 100)
    with pytest.raises(SignatureError, match="expired"):
        serialize.loads(data, key=KEY, max_age=10)


def test_fresh_data_passes_max_age() -> None:
    """Data younger than max_age decodes."""
    assert serialize.loads(serialize.dumps([1], key=KEY), key=KEY, max_age=60) == [1]


def test_future_timestamp_is_refused() -> None:
    """A timestamp far in the future is refused."""
    document = serialize.dumps([1])
    data = _envelope.seal(document, b"j", KEY, serialize.DEFAULT_PURPOSE, now=time.time() + 10**6)
    with pytest.raises(SignatureError, match="future"):
        serialize.loads(data, key=KEY)


def test_format_mismatch_is_refused() -> None:
    """A JSON envelope is not decoded as msgpack."""
    data = serialize.dumps([1], key=KEY)
    with pytest.raises(DecodeError):
        serialize.loads(data, format="msgpack", key=KEY)


def test_signature_is_verified_before_decoding() -> None:
    """A forged envelope around a bomb is refused by the MAC, not by the decoder."""
    forged = _envelope.seal(b"[" * 10_000, b"j", OLD_KEY, serialize.DEFAULT_PURPOSE)
    forged = forged[:5] + _envelope.normalise_keys(KEY)[0][0] + forged[13:]
    with pytest.raises(SignatureError, match="tampered"):
        serialize.loads(forged, key=KEY)


def test_signature_error_is_a_decode_error() -> None:
    """except DecodeError catches signature failures."""
    assert issubclass(SignatureError, DecodeError)


@pytest.mark.parametrize("bad_key", ["a string key" * 4, [], [b"k" * 32, 5]])
def test_bad_key_types_are_refused(bad_key: Any) -> None:
    """Keys must be bytes (or a non-empty list of bytes)."""
    with pytest.raises(ConfigurationError):
        serialize.dumps(1, key=bad_key)

"""Regression tests for the attack review of 2026-11-28 (findings L1-L8, C1, C2)."""

from __future__ import annotations

import collections
import pickle
import uuid
from pathlib import Path
from typing import Any

import pytest

from safeops.errors import DecodeError, DecodeLimitError
from safeops.serialize import Limits, legacy
from safeops.serialize.legacy import _convert
from safeops.serialize.legacy._convert import TEMP_MARKER, clean_stray_temps, convert_tree

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
HASH_ZERO = 2**61 - 1  # every multiple hashes to 0 on 64-bit CPython


def _long1(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def _colliding_set(count: int) -> bytes:
    items = b"".join(_long1(k * HASH_ZERO) for k in range(1, count + 1))
    return b"\x80\x04\x8f(" + items + b"\x90."


# --- L1: NEWOBJ_EX keyword arguments -----------------------------------------------------


def test_newobj_ex_keyword_arguments_are_refused_for_default_types() -> None:
    """bytes(source=N) written with NEWOBJ_EX is refused before anything is allocated."""
    data = b"\x80\x04\x8c\x08builtins\x8c\x05bytes\x93)}\x8c\x06source" + _long1(10**9) + b"s\x92."
    with pytest.raises(DecodeError, match="keyword arguments"):
        legacy.loads(data)


def test_inspect_flags_newobj_ex_keyword_arguments() -> None:
    """inspect reports a NEWOBJ_EX call with keyword arguments as dangerous."""
    data = b"\x80\x04\x8c\x08builtins\x8c\x05bytes\x93)}\x8c\x06source" + _long1(10**9) + b"s\x92."
    assert legacy.inspect(data).verdict == "dangerous"


def test_newobj_ex_with_an_empty_keyword_dict_still_loads() -> None:
    """An empty kwargs dict (what a __getnewargs_ex__ returning {} writes) is accepted."""
    data = b"\x80\x04\x8c\x08builtins\x8c\x03int\x93K\x05\x85}\x92."
    assert legacy.loads(data) == 5


# --- L6: state of allowed stdlib types ---------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("value", [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.uuid4()])
def test_real_uuids_still_load(protocol: int, value: uuid.UUID) -> None:
    """UUIDs as pickle writes them (BUILD {'int': n}) load on every protocol."""
    assert legacy.loads(pickle.dumps(value, protocol)) == value


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_uuid_with_is_safe_state_still_loads(protocol: int) -> None:
    """The optional is_safe entry of UUID state is accepted with SafeUUID's values."""
    value = uuid.UUID(int=7, is_safe=uuid.SafeUUID.safe)
    loaded = legacy.loads(pickle.dumps(value, protocol))
    assert loaded == value
    assert loaded.is_safe is uuid.SafeUUID.safe


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_chainmaps_still_load(protocol: int) -> None:
    """ChainMap's pickled state {'maps': [...]} is accepted."""
    value = collections.ChainMap({"a": 1}, {"b": 2})
    assert legacy.loads(pickle.dumps(value, protocol)) == value


@pytest.mark.parametrize(
    "state",
    [
        b"\x8c\x03int\x8c\x03abc",  # a str
        b"\x8c\x03int" + _long1(-1),
        b"\x8c\x03int" + _long1(2**200),
        b"\x8c\x03int\x88",  # True
        b"\x8c\x03intK\x01\x8c\x05extraK\x01",
        b"\x8c\x03intK\x01\x8c\x07is_safeK\x05",
    ],
)
def test_forged_uuid_state_is_refused(state: bytes) -> None:
    """UUID state other than {'int': 0 <= n < 2**128, 'is_safe'?: SafeUUID value} is refused."""
    data = b"\x80\x04\x8c\x04uuid\x8c\x04UUID\x93)\x81}(" + state + b"ub."
    with pytest.raises(DecodeError, match=r"uuid\.UUID state"):
        legacy.loads(data)
    assert legacy.inspect(data).verdict == "dangerous"


def test_a_uuid_never_given_state_is_refused() -> None:
    """NEWOBJ UUID() without a BUILD (an object with no .int) is refused."""
    with pytest.raises(DecodeError, match="without its value"):
        legacy.loads(b"\x80\x04\x8c\x04uuid\x8c\x04UUID\x93)\x81.")


@pytest.mark.parametrize("name", ["OrderedDict", "deque", "Counter", "defaultdict"])
def test_build_on_collections_types_is_refused(name: str) -> None:
    """BUILD state on a collections type whose pickled form has none is refused."""
    data = b"\x80\x04\x8c\x0bcollections\x8c" + bytes([len(name)]) + name.encode()
    data += b"\x93)R}\x8c\x03xyzK\x01sb."
    with pytest.raises(DecodeError, match="pickled form has none"):
        legacy.loads(data)


def test_convert_tree_counts_an_unexpected_exception_as_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose encoding raises a non-safeops exception is one error; the run goes on."""
    source = tmp_path / "in"
    source.mkdir()
    for name in ("a", "b", "c"):
        (source / f"{name}.pkl").write_bytes(pickle.dumps(name))
    real_dumps = _convert.dumps

    def dumps(value: Any, **kwargs: Any) -> bytes:
        if value == "b":
            raise SystemError("encoder bug")
        return real_dumps(value, **kwargs)

    monkeypatch.setattr(_convert, "dumps", dumps)
    summary = convert_tree(source, tmp_path / "out")
    assert (summary.converted, summary.errors) == (2, 1)
    assert "SystemError" in summary.problems[0][1]


# --- L3: iterable-consuming constructors -------------------------------------------------


@pytest.mark.parametrize("name", [b"list", b"tuple", b"frozenset", b"set"])
def test_container_constructor_of_text_is_refused(name: bytes) -> None:
    """list('...') and friends (never written by pickle) are refused."""
    data = b"\x80\x04\x8c\x08builtins\x8c" + bytes([len(name)]) + name + b"\x93\x8c\x03abc\x85R."
    with pytest.raises(DecodeError, match="text or bytes constant"):
        legacy.loads(data)


def test_memoised_bytes_copied_beyond_the_input_size_is_refused() -> None:
    """bytearray(B) of one memoised constant, repeated, exceeds the copy budget."""
    body = (
        b"\x8c\x08builtins\x8c\tbytearray\x93\x94C\xc8"
        + b"x" * 200
        + b"\x940]("
        + (b"h\x00h\x01\x85R" * 20)
    )
    with pytest.raises(DecodeLimitError, match="max_copy"):
        legacy.loads(b"\x80\x04" + body + b"e.")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_many_bytearrays_still_load(protocol: int) -> None:
    """Real bytearrays (each with its own bytes in the pickle) stay within the copy budget."""
    value = [bytearray(bytes([i]) * 300) for i in range(50)]
    assert legacy.loads(pickle.dumps(value, protocol)) == value


# --- L4: hash collisions -----------------------------------------------------------------


def test_set_with_the_collision_limit_loads() -> None:
    """64 members with one hash value are accepted (the serialize limit)."""
    assert len(legacy.loads(_colliding_set(64))) == 64


def test_set_beyond_the_collision_limit_is_refused() -> None:
    """65 members with one hash value are refused as a hash-collision attack."""
    with pytest.raises(DecodeLimitError, match="hash_collisions"):
        legacy.loads(_colliding_set(65))


def test_dict_keys_beyond_the_collision_limit_are_refused() -> None:
    """Dict keys are checked too (SETITEMS)."""
    items = b"".join(_long1(k * HASH_ZERO) + b"N" for k in range(1, 70))
    with pytest.raises(DecodeLimitError, match="hash_collisions"):
        legacy.loads(b"\x80\x04}(" + items + b"u.")


def test_frozenset_of_colliding_tuples_is_refused() -> None:
    """Tuples of colliding numbers collide too; FROZENSET is checked."""
    items = b"".join(_long1(k * HASH_ZERO) + b"\x85" for k in range(1, 70))
    with pytest.raises(DecodeLimitError, match="hash_collisions"):
        legacy.loads(b"\x80\x04(" + items + b"\x91.")


def test_inspect_flags_hash_collisions() -> None:
    """inspect reports the collision budget as a dangerous structure finding."""
    assert legacy.inspect(_colliding_set(100)).verdict == "dangerous"


def test_large_sets_of_ordinary_ints_still_load() -> None:
    """Sequential ints (distinct hashes) are not mistaken for collisions."""
    value = set(range(5000))
    assert legacy.loads(pickle.dumps(value, 4)) == value


# --- L2: codec names from the data -------------------------------------------------------


def test_str_with_a_codec_is_refused() -> None:
    """str(b, 'utf-8') is refused: no codec is chosen by the data, even a harmless one."""
    data = b"\x80\x04\x8c\x08builtins\x8c\x03str\x93C\x03abc\x8c\x05utf-8\x86R."
    with pytest.raises(DecodeError, match="codec"):
        legacy.loads(data)


def test_python2_bytearray_form_still_loads() -> None:
    """bytearray(text, 'latin-1'), as Python 2 wrote it, is accepted."""
    data = b"\x80\x02c__builtin__\nbytearray\nX\x02\x00\x00\x00ab\x8c\x07latin-1\x86R."
    assert legacy.loads(data) == bytearray(b"ab")


def test_codecs_encode_with_a_looked_up_codec_name_is_refused() -> None:
    """_codecs.encode only takes names CPython encodes without a codec lookup."""
    data = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00abX\n\x00\x00\x00iso-8859-1\x86R."
    with pytest.raises(DecodeError, match=r"_codecs\.encode"):
        legacy.loads(data)


# --- L5: the walk's own budget -----------------------------------------------------------


def test_values_left_on_the_stack_are_bounded() -> None:
    """Empty lists piling up on the stack are refused past max_elements."""
    with pytest.raises(DecodeLimitError, match="max_elements"):
        legacy.loads(b"\x80\x04" + b"]" * 500 + b".", limits=Limits(max_elements=100))


def test_opcode_count_is_bounded() -> None:
    """No-op opcodes past 4 * max_elements + 4096 are refused (work bound)."""
    data = b"\x80\x04" + b"N0" * 5000 + b"N."
    with pytest.raises(DecodeLimitError, match="max_opcodes"):
        legacy.loads(data, limits=Limits(max_elements=100))
    assert legacy.loads(data) is None


def test_inspect_reports_the_opcode_budget() -> None:
    """inspect stops at the opcode budget and reports it as dangerous."""
    data = b"\x80\x04" + b"N0" * 5000 + b"N."
    assert legacy.inspect(data, limits=Limits(max_elements=100)).verdict == "dangerous"


# --- C1: stray temporary files -----------------------------------------------------------


def test_stray_cleanup_ignores_a_directory_with_a_temp_name(tmp_path: Path) -> None:
    """A directory named like a temp file is left alone, no exception."""
    (tmp_path / f".z{TEMP_MARKER}4000000-deadbeef").mkdir()
    assert clean_stray_temps(tmp_path) == 0


def test_stray_cleanup_ignores_an_absurd_pid(tmp_path: Path) -> None:
    """A temp-like name with a pid no kernel uses is not a stray of ours: ignored."""
    (tmp_path / f".y{TEMP_MARKER}99999999999999999999999-abcdef01").write_bytes(b"")
    assert clean_stray_temps(tmp_path) == 0


def test_stray_cleanup_removes_a_real_stray(tmp_path: Path) -> None:
    """A regular file with our exact shape and a dead writer is removed."""
    stray = tmp_path / f".a.json{TEMP_MARKER}9999999-abcdef01"
    stray.write_bytes(b"partial")
    assert clean_stray_temps(tmp_path, "a.json") == 1
    assert not stray.exists()

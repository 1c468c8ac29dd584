"""Regression tests for the attack review of 2026-11-28 (findings L1-L8, C1, C2)."""

from __future__ import annotations

import argparse
import collections
import fractions
import ipaddress
import os
import pickle
import uuid
from pathlib import Path
from typing import Any

import pytest

from safeops.errors import ConfigurationError, DecodeError, DecodeLimitError
from safeops.serialize import Limits, legacy
from safeops.serialize.legacy import _cmd_inspect, _convert
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


# --- L7: gadget classes in allow= --------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    ["imaplib.IMAP4_stream", "doctest.DocTestRunner", "logging.config.BaseConfigurator",
     "collections.UserDict", "pathlib.Path"],
)  # fmt: skip
def test_stdlib_classes_outside_the_vetted_set_cannot_be_allowed(entry: str) -> None:
    """allow= refuses deny-listed and unvetted standard-library classes."""
    with pytest.raises(ConfigurationError, match="cannot be allowed"):
        legacy.loads(pickle.dumps(1), allow={entry})


def test_vetted_stdlib_classes_can_be_allowed() -> None:
    """The vetted stdlib classes (fractions, ipaddress) stay allowable."""
    value = [fractions.Fraction(1, 3), ipaddress.ip_address("10.0.0.1")]
    allow = {"fractions.Fraction", "ipaddress.IPv4Address"}
    assert legacy.loads(pickle.dumps(value), allow=allow) == value


def test_refusal_of_a_gadget_never_suggests_allowing_it() -> None:
    """The loader's message for imaplib.IMAP4_stream says it can never be allowed."""
    data = b"\x80\x02cimaplib\nIMAP4_stream\nX\x02\x00\x00\x00id\x85R."
    with pytest.raises(DecodeError) as caught:
        legacy.loads(data)
    assert "allow=" not in str(caught.value)
    assert "can never be allowed" in str(caught.value)


@pytest.mark.parametrize(
    ("module", "name"),
    [("imaplib", "IMAP4_stream"), ("doctest", "debug_script"), ("logging.config", "dictConfig")],
)
def test_inspect_flags_stdlib_gadgets_as_dangerous(module: str, name: str) -> None:
    """inspect calls the gadgets the review found dangerous, not needs-allow."""
    data = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x02\x00\x00\x00id\x85R."
    assert legacy.inspect(data).verdict == "dangerous"


# --- L8: nested pickles ------------------------------------------------------------------

INNER = b"cos\nsystem\n(S'id'\ntR."


def test_inspect_walks_a_nested_pickle_with_trailing_bytes() -> None:
    """A nested protocol 0 pickle followed by padding is still walked."""
    data = pickle.dumps({"cached": INNER + b"padding"}, 4)
    assert legacy.inspect(data).verdict == "dangerous"


def test_inspect_flags_nesting_beyond_its_depth() -> None:
    """A pickle nested deeper than inspect walks is reported dangerous, not safe."""
    data = INNER
    for _ in range(8):
        data = pickle.dumps(data, 4)
    report = legacy.inspect(data)
    assert report.verdict == "dangerous"
    assert any("not inspected" in finding.detail for finding in report.findings)


# --- C2: what the CLI reads --------------------------------------------------------------


def test_cli_inspect_refuses_a_fifo_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO is reported as not a regular file (exit 2), never read."""
    fifo = tmp_path / "fifo.pkl"
    os.mkfifo(fifo)
    assert _inspect_cli(str(fifo)) == 2
    assert "not a regular file" in capsys.readouterr().out


def test_cli_inspect_refuses_a_device(capsys: pytest.CaptureFixture[str]) -> None:
    """/dev/zero is refused instead of being read until memory runs out."""
    assert _inspect_cli("/dev/zero") == 2
    assert "not a regular file" in capsys.readouterr().out


def test_inspect_applies_max_bytes() -> None:
    """inspect refuses to walk more than max_bytes and reports the budget."""
    report = legacy.inspect(pickle.dumps(b"x" * 2000), limits=Limits(max_bytes=1000))
    assert report.verdict == "dangerous"
    assert report.findings[0].target == "max_bytes"


def test_convert_tree_skips_symlinks_out_of_the_tree(tmp_path: Path) -> None:
    """A symlinked .pkl pointing outside IN is not converted (nothing is read through it)."""
    outside = tmp_path / "secret.pkl"
    outside.write_bytes(pickle.dumps("secret"))
    source = tmp_path / "in"
    source.mkdir()
    (source / "link.pkl").symlink_to(outside)
    (source / "real.pkl").write_bytes(pickle.dumps("ok"))
    summary = convert_tree(source, tmp_path / "out")
    assert summary.converted == 1
    assert not (tmp_path / "out" / "link.json").exists()


def _inspect_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    _cmd_inspect.add_arguments(parser)
    return _cmd_inspect.run(parser.parse_args(list(argv)))


def test_newobj_uuid_with_ignored_arguments_is_refused() -> None:
    """NEWOBJ UUID('x') (object.__new__ ignores it: a UUID with no .int) is refused."""
    with pytest.raises(DecodeError, match=r"NEWOBJ of uuid\.UUID"):
        legacy.loads(b"\x80\x04\x8c\x04uuid\x8c\x04UUID\x93\x8c\x01x\x85\x81.")


def test_set_of_colliding_decimals_is_refused() -> None:
    """Decimals equal to colliding ints hash alike; they are counted too."""
    items = b"".join(
        b"h\x00" + b"\x8c" + bytes([len(str(k * HASH_ZERO))]) + str(k * HASH_ZERO).encode()
        + b"\x85R"
        for k in range(1, 70)
    )  # fmt: skip
    data = b"\x80\x04\x8c\x07decimal\x8c\x07Decimal\x93\x940\x8f(" + items + b"\x90."
    with pytest.raises(DecodeLimitError, match="hash_collisions"):
        legacy.loads(data)

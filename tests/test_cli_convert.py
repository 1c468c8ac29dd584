"""safeops convert: legacy pickles to safeops.serialize, atomically, file and directory."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import decimal
import os
import pickle
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from safeops import serialize
from safeops.errors import DecodeError
from safeops.serialize import legacy
from safeops.serialize.legacy import _cmd_convert
from safeops.serialize.legacy._convert import TEMP_MARKER, atomic_write, convert_file

VECTORS = Path(__file__).parent / "vectors" / "pickle"
RUNNER = (
    "import argparse, sys\n"
    "from safeops.serialize.legacy import _cmd_convert as m\n"
    "p = argparse.ArgumentParser(); m.add_arguments(p)\n"
    "sys.exit(m.run(p.parse_args(sys.argv[1:])))\n"
)

BENIGN: list[Any] = [
    None, True, 7, 2**100, -1.5, 1j, "text", b"\x00bytes", bytearray(b"ba"), (1, "t"),
    [1, [2]], {"k": {"n": [1, 2]}}, {1: "int key"}, {3, 4}, frozenset({"f"}),
    datetime.date(2024, 2, 29), datetime.time(12, 30), datetime.timedelta(seconds=90),
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    datetime.datetime(2024, 1, 2, 3, 4, 5), decimal.Decimal("3.14159"), uuid.UUID(int=42),
]  # fmt: skip


@dataclasses.dataclass
class Reading:
    """An application class: allowed in the pickle and registered with serialize."""

    sensor: str
    value: float


def _convert(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    _cmd_convert.add_arguments(parser)
    return _cmd_convert.run(parser.parse_args(list(argv)))


@pytest.mark.parametrize("format", ["json", "msgpack"])
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_benign_default_types_convert_into_identical_values(
    tmp_path: Path, format: str, protocol: int
) -> None:
    """Each default type converts and reads back identical with serialize.loads."""
    for index, value in enumerate(BENIGN):
        source, target = tmp_path / f"{index}.pkl", tmp_path / f"{index}.out"
        source.write_bytes(pickle.dumps(value, protocol))
        assert _convert(str(source), str(target), "--format", format) == 0
        loaded = serialize.loads(target.read_bytes(), format=format)
        assert type(loaded) is type(value) and loaded == value, (value, loaded)


def test_allowed_application_class_converts(tmp_path: Path) -> None:
    """--allow names the class; a dataclass is registered for encoding automatically."""
    source, target = tmp_path / "r.pkl", tmp_path / "r.json"
    source.write_bytes(pickle.dumps([Reading("t1", 20.5)], 2))
    assert _convert(str(source), str(target), "--allow", f"{__name__}.Reading") == 0
    assert serialize.loads(target.read_bytes()) == [Reading("t1", 20.5)]


def test_signed_output_with_a_key_file(tmp_path: Path) -> None:
    """--key-file signs the output; it only loads with the same key."""
    key = os.urandom(32)
    (tmp_path / "key").write_bytes(key)
    source, target = tmp_path / "v.pkl", tmp_path / "v.json"
    source.write_bytes(pickle.dumps({"a": 1}))
    assert _convert(str(source), str(target), "--key-file", str(tmp_path / "key")) == 0
    assert serialize.loads(target.read_bytes(), key=key) == {"a": 1}
    with pytest.raises(DecodeError):
        serialize.loads(target.read_bytes())


def test_malicious_pickle_is_refused_and_no_output_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused pickle exits 1, says why, and leaves no output file."""
    target = tmp_path / "out.json"
    assert _convert(str(VECTORS / "p0_global_os_system.pkl"), str(target)) == 1
    assert "os.system" in capsys.readouterr().err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_input_is_never_modified(tmp_path: Path) -> None:
    """The source file's bytes and mtime are unchanged by a conversion."""
    source = tmp_path / "in.pkl"
    source.write_bytes(pickle.dumps([1, 2, 3]))
    before = (source.read_bytes(), source.stat().st_mtime_ns)
    assert _convert(str(source), str(tmp_path / "out.json")) == 0
    assert (source.read_bytes(), source.stat().st_mtime_ns) == before


def test_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    """IN and OUT being the same file is refused."""
    source = tmp_path / "same.pkl"
    source.write_bytes(pickle.dumps(1))
    with pytest.raises(DecodeError, match="overwrite its input"):
        convert_file(source, source)


def test_failed_rename_leaves_neither_output_nor_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the final rename fails, the temp file is removed and OUT does not appear."""

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("simulated failure")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        atomic_write(tmp_path / "out.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_stray_temp_of_a_dead_writer_is_cleaned_by_the_next_run(tmp_path: Path) -> None:
    """A temp file left by a killed conversion is removed on the next conversion."""
    # Above the largest pid_max Linux allows (2**22): never a running process.
    stray = tmp_path / f".out.json{TEMP_MARKER}4194400-abcd0123"
    stray.write_bytes(b"partial")
    source = tmp_path / "in.pkl"
    source.write_bytes(pickle.dumps("x"))
    assert _convert(str(source), str(tmp_path / "out.json")) == 0
    assert not stray.exists()


def test_temp_of_a_running_writer_is_left_alone(tmp_path: Path) -> None:
    """A temp file whose writer still runs is not deleted from under it."""
    stray = tmp_path / f".out.json{TEMP_MARKER}1-abcd0123"  # pid 1 always runs
    stray.write_bytes(b"in progress")
    atomic_write(tmp_path / "out.json", b"{}")
    assert stray.exists()


@pytest.mark.slow
def test_kill_during_the_write_leaves_no_output_and_the_next_run_cleans_up(
    tmp_path: Path,
) -> None:
    """SIGKILL while the temp file is being written: no OUT; the rerun removes the temp."""
    source = tmp_path / "big.pkl"
    source.write_bytes(pickle.dumps(["x" * 1000 + str(i) for i in range(14_000)], 4))
    out = tmp_path / "out"
    out.mkdir()
    target = out / "big.json"
    caught = False
    for _ in range(10):
        process = subprocess.Popen([sys.executable, "-c", RUNNER, str(source), str(target)],
                                   stdout=subprocess.DEVNULL)  # fmt: skip
        while process.poll() is None:
            if any(TEMP_MARKER in name for name in os.listdir(out)):
                process.send_signal(signal.SIGKILL)
                break
        process.wait()
        if target.exists():
            # The rename won the race (or the run finished): OUT must then be complete.
            assert len(serialize.loads(target.read_bytes())) == 14_000
            target.unlink()
            continue
        caught = process.returncode == -signal.SIGKILL
        break
    assert caught
    assert any(TEMP_MARKER in name for name in os.listdir(out))
    result = subprocess.run([sys.executable, "-c", RUNNER, str(source), str(target)],
                            capture_output=True, check=False)  # fmt: skip
    assert result.returncode == 0
    assert os.listdir(out) == ["big.json"]
    assert len(serialize.loads(target.read_bytes())) == 14_000


def test_directory_mode_converts_a_tree_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every .pkl under IN is converted to OUT with the same layout; bad ones counted."""
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    (source / "a.pkl").write_bytes(pickle.dumps({"a": 1}))
    (source / "sub" / "b.pkl").write_bytes(pickle.dumps([datetime.date(2020, 1, 1)], 0))
    (source / "sub" / "evil.pkl").write_bytes((VECTORS / "p4_functools_partial.pkl").read_bytes())
    (source / "broken.pkl").write_bytes(b"\x80\x04\x95")
    (source / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    assert _convert(str(source), str(out), "--format", "msgpack") == 1
    assert serialize.loads((out / "a.msgpack").read_bytes(), format="msgpack") == {"a": 1}
    assert serialize.loads((out / "sub" / "b.msgpack").read_bytes(), format="msgpack") == [
        datetime.date(2020, 1, 1)
    ]
    assert not (out / "sub" / "evil.msgpack").exists()
    captured = capsys.readouterr()
    assert "summary: 2 converted, 2 refused, 0 errors" in captured.out
    assert "4/4" in captured.err


def test_directory_mode_exits_0_when_everything_converts(tmp_path: Path) -> None:
    """A clean tree converts with exit status 0."""
    source = tmp_path / "in"
    source.mkdir()
    (source / "x.pkl").write_bytes(pickle.dumps([1]))
    assert _convert(str(source), str(tmp_path / "out")) == 0


def test_value_without_a_serialize_form_is_an_error_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A loadable value serialize cannot store (a class as a value) is reported, exit 1."""
    source = tmp_path / "cls.pkl"
    source.write_bytes(pickle.dumps({"type": int}))
    assert _convert(str(source), str(tmp_path / "cls.json")) == 1
    assert "could not convert" in capsys.readouterr().err
    assert not (tmp_path / "cls.json").exists()


@pytest.mark.parametrize("format", ["json", "msgpack"])
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_allow_listed_collections_convert_losslessly(
    tmp_path: Path, format: str, protocol: int
) -> None:
    """OrderedDict, deque, Counter, defaultdict, ChainMap, slice, Ellipsis round-trip."""
    legacy.register_stdlib_types()
    values: list[Any] = [
        collections.OrderedDict([("b", 1), ("a", [2])]),
        collections.deque([1, "x"], maxlen=5),
        collections.deque(),
        collections.Counter("abracadabra"),
        collections.defaultdict(list, {1: [2], "k": []}),
        collections.defaultdict(None, {"n": 1}),
        collections.ChainMap({"a": 1}, {"b": 2}),
        slice(1, None, -1),
        Ellipsis,
        NotImplemented,
    ]
    for index, value in enumerate(values):
        source, target = tmp_path / f"{index}.pkl", tmp_path / f"{index}.out"
        source.write_bytes(pickle.dumps(value, protocol))
        assert _convert(str(source), str(target), "--format", format) == 0
        loaded = serialize.loads(target.read_bytes(), format=format)
        assert type(loaded) is type(value) and loaded == value, (value, loaded)
        if isinstance(value, collections.defaultdict):
            assert loaded.default_factory is value.default_factory
        if isinstance(value, collections.deque):
            assert loaded.maxlen == value.maxlen


def test_converted_collection_data_cannot_name_a_factory_outside_the_table() -> None:
    """A defaultdict document naming another factory is refused, nothing is resolved."""
    legacy.register_stdlib_types()
    forged = b'{"$obj:collections.defaultdict":{"factory":"os.system","items":[]}}'
    with pytest.raises(DecodeError):
        serialize.loads(forged)


def test_unreadable_key_file_is_a_usage_error(tmp_path: Path) -> None:
    """A missing --key-file exits 2 before reading any pickle."""
    assert _convert("in.pkl", "out.json", "--key-file", str(tmp_path / "missing")) == 2


def test_registered_subcommand_runs_through_python_m_safeops(tmp_path: Path) -> None:
    """`python -m safeops convert IN OUT --format msgpack` converts and exits 0."""
    source, target = tmp_path / "in.pkl", tmp_path / "out.msgpack"
    source.write_bytes(pickle.dumps({"when": datetime.date(2021, 3, 4)}, 2))
    result = subprocess.run(
        [sys.executable, "-m", "safeops", "convert", str(source), str(target),
         "--format", "msgpack"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert serialize.loads(target.read_bytes(), format="msgpack") == {
        "when": datetime.date(2021, 3, 4)
    }


def test_output_keeps_the_input_permissions(tmp_path: Path) -> None:
    """A private (0600) input gives a private output, whatever the umask."""
    source, target = tmp_path / "private.pkl", tmp_path / "private.json"
    source.write_bytes(pickle.dumps({"secret": 1}))
    source.chmod(0o600)
    old_umask = os.umask(0)
    try:
        assert _convert(str(source), str(target)) == 0
    finally:
        os.umask(old_umask)
    assert target.stat().st_mode & 0o777 == 0o600


def test_existing_directory_as_out_writes_inside_it(tmp_path: Path) -> None:
    """`convert a.pkl out/` writes out/a.json."""
    source = tmp_path / "a.pkl"
    source.write_bytes(pickle.dumps([1]))
    out = tmp_path / "out"
    out.mkdir()
    assert _convert(str(source), str(out)) == 0
    assert serialize.loads((out / "a.json").read_bytes()) == [1]


def test_oversized_input_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    """An input over max_bytes is refused with DecodeLimitError."""
    from safeops.errors import DecodeLimitError

    source = tmp_path / "big.pkl"
    source.write_bytes(pickle.dumps("x" * 5000))
    with pytest.raises(DecodeLimitError):
        convert_file(source, tmp_path / "o.json", limits=serialize.Limits(max_bytes=1000))

"""Property tests: hostile bytes give a value or a DecodeError, never anything else."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from safeops.errors import DecodeError
from safeops.serialize import Limits, legacy

_SMALL = Limits(max_bytes=4096, max_elements=2000, max_depth=20, max_str_len=512)

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4)
    | st.tuples(inner, inner),
    max_leaves=20,
)  # fmt: skip


def _load_or_refuse(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        legacy.loads(data, limits=_SMALL)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_value_or_a_decode_error(data: bytes) -> None:
    """Random bytes never raise anything but DecodeError."""
    _load_or_refuse(data)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_a_protocol_header(data: bytes) -> None:
    """Bytes behind a valid PROTO header never raise anything but DecodeError."""
    _load_or_refuse(b"\x80\x04" + data)


@given(_values, st.integers(0, pickle.HIGHEST_PROTOCOL), st.data())
def test_mutated_pickles_give_a_value_or_a_decode_error(
    value: object, protocol: int, data: st.DataObject
) -> None:
    """Flipping, inserting or deleting bytes of a real pickle never escapes DecodeError."""
    raw = bytearray(pickle.dumps(value, protocol))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip":
            raw[position] = data.draw(st.integers(0, 255))
        elif action == "insert":
            raw.insert(position, data.draw(st.integers(0, 255)))
        elif len(raw) > 1:
            del raw[position]
    _load_or_refuse(bytes(raw))


@given(_values, st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_plain_values_round_trip(value: object, protocol: int) -> None:
    """Any value of plain containers and scalars loads back equal."""
    assert legacy.loads(pickle.dumps(value, protocol)) == value


@given(st.binary(max_size=300))
def test_inspect_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    """inspect reports (possibly with an error) instead of raising."""
    report = legacy.inspect(data, limits=_SMALL)
    assert report.verdict in {"safe", "needs-allow", "dangerous"}


_EXEC_VECTORS = sorted(
    (Path(__file__).parent / "vectors" / "pickle" / entry["file"]).read_bytes()
    for entry in json.loads(
        (Path(__file__).parent / "vectors" / "pickle" / "manifest.json").read_text("utf-8")
    )
    if entry["class"] == "exec"
)


@given(st.sampled_from(_EXEC_VECTORS), st.data())
def test_mutated_attack_vectors_never_run(vector: bytes, data: st.DataObject) -> None:
    """Mutations of the exec vectors give a value or DecodeError, and never the marker."""
    raw = bytearray(vector)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            _load_or_refuse(bytes(raw))
            assert os.listdir(scratch) == []
        finally:
            os.chdir(cwd)

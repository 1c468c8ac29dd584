"""Every malicious pickle vector is refused without side effects and flagged by inspect."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import pytest

from safeops.errors import DecodeError
from safeops.serialize import legacy

VECTORS = Path(__file__).parent / "vectors" / "pickle"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))
MARKER = "safeops-pwned-marker"


def _ids() -> list[str]:
    return [entry["file"] for entry in MANIFEST]


@pytest.fixture(autouse=True)
def _warm_up() -> None:
    # Import whatever the legacy reader imports lazily, so the sys.modules check below
    # only sees what a vector might have caused.
    legacy.loads(b"\x80\x04N.")


def test_the_manifest_lists_every_vector_file() -> None:
    """Each .pkl file has a manifest entry with a class, a technique and a source."""
    files = {path.name for path in VECTORS.glob("*.pkl")}
    assert files == {entry["file"] for entry in MANIFEST}
    for entry in MANIFEST:
        assert entry["class"] in {"exec", "dos", "gadget"}
        assert entry["technique"] and entry["source"]


def test_there_is_a_vector_for_every_required_shape() -> None:
    """Protocols 0-5 and each opcode family from the issue are represented."""
    names = " ".join(_ids())
    for needle in ("p0_", "p1_", "p2_", "p3_", "p4_", "p5_", "inst", "obj", "newobj",
                   "newobj_ex", "stack_global", "build", "memo", "posix", "nt_", "getattr",
                   "reconstructor", "partial", "attrgetter", "nested"):  # fmt: skip
        assert needle in names, needle


@pytest.mark.parametrize("name", _ids())
def test_loads_refuses_the_vector_without_side_effects(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """legacy.loads raises DecodeError; no marker file, no new module, no class change."""
    monkeypatch.chdir(tmp_path)
    data = (VECTORS / name).read_bytes()
    modules_before = set(sys.modules)
    chainmap_len = collections.ChainMap.__len__
    with pytest.raises(DecodeError):
        legacy.loads(data)
    assert not (tmp_path / MARKER).exists()
    assert list(tmp_path.iterdir()) == []
    assert set(sys.modules) - modules_before == set()
    assert collections.ChainMap.__len__ is chainmap_len


@pytest.mark.parametrize("name", _ids())
def test_load_from_a_file_refuses_the_vector(name: str) -> None:
    """legacy.load on an open file refuses the vector the same way."""
    with (VECTORS / name).open("rb") as file, pytest.raises(DecodeError):
        legacy.load(file)


@pytest.mark.parametrize("name", _ids())
def test_inspect_flags_the_vector_as_dangerous(name: str) -> None:
    """inspect reports at least one dangerous finding and the dangerous verdict."""
    report = legacy.inspect((VECTORS / name).read_bytes())
    assert report.dangerous
    assert any(finding.verdict == "dangerous" for finding in report.findings)


@pytest.mark.parametrize("name", _ids())
def test_loads_refuses_the_vector_even_with_an_application_class_allowed(name: str) -> None:
    """Allowing an unrelated application class does not open any of the vectors."""
    with pytest.raises(DecodeError):
        legacy.loads((VECTORS / name).read_bytes(), allow={"fractions.Fraction"})

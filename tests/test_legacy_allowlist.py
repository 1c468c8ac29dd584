"""The pickle allow-list shared by serialize.legacy and enforce."""

from __future__ import annotations

import ast
import collections
import datetime
import decimal
import importlib
import io
import pickle
import uuid
from pathlib import Path

import pytest

from safeops._permits import granted
from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, is_safe_global

_SAMPLES: list[object] = [
    b"ab",
    b"",
    bytearray(b"x"),
    {1, 2},
    frozenset({1}),
    1j,
    slice(1, 2),
    True,
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    datetime.date(2024, 1, 2),
    datetime.time(1, 2),
    datetime.timedelta(days=1),
    datetime.timezone(datetime.timedelta(hours=2), "X"),
    decimal.Decimal("1.5"),
    uuid.UUID(int=5),
    collections.OrderedDict(a=1),
    collections.deque([1], 3),
    collections.defaultdict(list, a=[1]),
    collections.Counter("aab"),
    collections.ChainMap({"a": 1}),
    Ellipsis,
    NotImplemented,
]


class _Recorder(pickle.Unpickler):
    """Records every global a benign pickle asks for (raw names, before mapping)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.seen: set[tuple[str, str]] = set()

    def find_class(self, module: str, name: str) -> object:
        self.seen.add((module, name))
        return super().find_class(module, name)


def _globals_named(data: bytes) -> set[tuple[str, str]]:
    recorder = _Recorder(data)
    # Our own benign pickles, but protocols 0/1 name copyreg._reconstructor, which
    # enforce() blocks for a plain Unpickler: say so when the suite runs under it.
    with granted("pickle", reason="test: record the globals of benign pickles",
                 origin="application"):  # fmt: skip
        recorder.load()
    return recorder.seen


def test_every_entry_is_an_exact_public_pair() -> None:
    """No prefixes, dotted names or underscore names in the qualified names."""
    for module, name in SAFE_GLOBALS:
        assert module and name
        assert "." not in name and not name.startswith("_")
        assert "*" not in module and not module.endswith(".")


def test_every_entry_resolves_to_a_type_or_singleton_or_the_codec_function() -> None:
    """Each pair names something real: a class, a builtin singleton or _codecs.encode."""
    for module, name in SAFE_GLOBALS:
        value = getattr(importlib.import_module(module), name)
        assert (
            isinstance(value, type)
            or value in (Ellipsis, NotImplemented)
            or ((module, name) == ("_codecs", "encode"))
        )


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickler_output_for_default_types_names_only_safe_globals(protocol: int) -> None:
    """What CPython writes for the default types is covered, except copyreg._reconstructor."""
    for sample in _SAMPLES:
        for module, name in _globals_named(pickle.dumps(sample, protocol)):
            if (module, name) in (("copy_reg", "_reconstructor"),):
                continue
            assert is_safe_global(module, name), (protocol, sample, module, name)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("posix", "system"),
        ("nt", "system"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("builtins", "type"),
        ("subprocess", "Popen"),
        ("copyreg", "_reconstructor"),
        ("copy_reg", "_reconstructor"),
        ("functools", "partial"),
        ("operator", "attrgetter"),
        ("builtins", "range"),
        ("collections", "OrderedDict.fromkeys"),
        ("builtins.dict", "fromkeys"),
        ("builtin", "dict"),
        ("_codecs", "decode"),
        ("__builtin__", "reduce"),
        ("commands", "getoutput"),
    ],
)
def test_dangerous_or_inexact_globals_are_not_safe(module: str, name: str) -> None:
    """Gadgets, near-misses and Python 2 names that map to gadgets are refused."""
    assert not is_safe_global(module, name)


def test_python2_names_are_judged_after_the_pickle_mapping() -> None:
    """__builtin__.set and __builtin__.frozenset resolve to safe Python 3 types."""
    assert is_safe_global("__builtin__", "set")
    assert is_safe_global("__builtin__", "frozenset")
    assert is_safe_global("__builtin__", "unicode")


def test_module_imports_only_the_standard_library() -> None:
    """The allow-list module is a leaf: no safeops or third-party imports."""
    source = Path(__file__).parent.parent / "safeops/serialize/legacy/_allowlist.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for imported in names:
            assert imported.split(".")[0] in {"__future__", "_compat_pickle"}


def test_importing_the_allow_list_stays_cheap() -> None:
    """enforce imports the allow-list: that must not pull in pickle or the legacy reader."""
    import subprocess
    import sys

    code = (
        "import sys; import safeops.serialize.legacy._allowlist; "
        "heavy = {'pickle', '_pickle', 'safeops.serialize.legacy._unpickler', "
        "'safeops.serialize.legacy._scan'} & set(sys.modules); print(sorted(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == "[]"

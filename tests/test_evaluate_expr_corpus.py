"""The attack corpus under tests/vectors/eval/expression/: every entry is refused.

Refused means: a SafeOpsError (never another exception, never a value), no import, file
access, process or unpermitted compile while it runs, no hang past a few seconds, and the
host's values unchanged afterwards.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import signal
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from safeops._permits import active
from safeops.errors import SafeOpsError
from safeops.evaluate import compile_expr, safe_eval

VECTORS = Path(__file__).parent / "vectors" / "eval" / "expression"
_ESCAPE_EVENTS = ("import", "open", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn",
                  "os.fork", "socket.", "ctypes.", "exec", "compile", "marshal.", "pickle.")
_recording: list[tuple[str, bool]] | None = None


def _hook(event: str, _args: tuple[Any, ...]) -> None:
    if _recording is not None and event.startswith(_ESCAPE_EVENTS):
        _recording.append((event, active("dynamic_code") is not None))


# CPython 3.12+ divides and prints huge ints with the pure-Python algorithms of _pylong,
# which the C int code imports (with decimal) the first time it needs them. That import
# is the interpreter's own machinery, not the expression reaching a module: load it
# before recording starts so the corpus sees only what an expression itself causes.
if sys.version_info >= (3, 12):
    importlib.import_module("_pylong")

sys.addaudithook(_hook)


def _load(directory: Path) -> list[Any]:
    cases = []
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for index, entry in enumerate(document["entries"]):
            cases.append(pytest.param(entry, id=f"{path.stem}-{index}"))
    return cases


def _source(entry: dict[str, Any]) -> str:
    if entry.get("source") is not None:
        return str(entry["source"])
    return "".join(text * count for text, count in entry["source_parts"])


def _value(spec: Any) -> Any:
    if not isinstance(spec, str) or not spec.startswith("@"):
        return spec
    kind, _, size = spec[1:].partition(":")
    number = int(size)
    return {
        "list_range": lambda: list(range(number)),
        "str_x": lambda: "x" * number,
        "pow2": lambda: 2**number,
        "pow10": lambda: 10**number,
        "dict": lambda: {str(i): i for i in range(number)},
        "digits": lambda: "9" * number,
        "set_range": lambda: set(range(number)),
    }[kind]()


async def _coroutine() -> None:
    return None


def _closed_coroutine() -> Any:
    coroutine = _coroutine()
    coroutine.close()  # still a coroutine object; closed so it never warns "never awaited"
    return coroutine


def _special(spec: str) -> Any:
    kind, _, rest = spec.partition(":")
    if kind == "module":
        return importlib.import_module(rest)
    if kind in ("builtins", "os", "sys", "subprocess", "pickle", "operator"):
        return getattr(importlib.import_module(kind), rest)
    if kind == "object":
        module, _, attribute = rest.partition(":")
        return getattr(importlib.import_module(module), attribute)
    try:
        raise ValueError("x")
    except ValueError as error:
        traceback = error.__traceback__

    class Text(str):
        def upper(self) -> str:
            return repr(sys.modules)

    made = {
        "generator": lambda: (i for i in []),
        "frame": sys._getframe,
        "traceback": lambda: traceback,
        "coroutine": _closed_coroutine,
        "str_subclass": lambda: Text("a"),
        "list_append": lambda: [].append,
        "environ_get": lambda: os.environ.get,
        "list_with_module": lambda: [os],
    }[rest]()
    return made


@pytest.fixture(autouse=True)
def _deadline() -> Iterator[None]:
    """Fail (instead of hanging CI) if one entry runs past 20 s."""

    def expire(_signum: int, _frame: types.FrameType | None) -> None:
        raise TimeoutError("attack entry ran past its deadline")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("entry", _load(VECTORS))
def test_expression_attack_is_refused(entry: dict[str, Any]) -> None:
    """Each corpus entry raises a SafeOpsError, escapes nothing and mutates nothing."""
    global _recording
    source = _source(entry)
    names = {name: _value(value) for name, value in entry.get("names", {}).items()}
    before = copy.deepcopy(names)
    names.update({name: _special(spec) for name, spec in entry.get("names_special", {}).items()})
    functions = {name: _special(spec) for name, spec in entry.get("functions", {}).items()}
    events: list[tuple[str, bool]] = []
    _recording = events
    try:
        with pytest.raises(SafeOpsError):
            if functions:
                compile_expr(source, names=tuple(names), functions=functions).evaluate(names)
            else:
                safe_eval(source, names)
    finally:
        _recording = None
    assert [event for event, permitted in events if not permitted] == []
    assert {k: v for k, v in names.items() if k in before} == before


@pytest.mark.parametrize("entry", _load(VECTORS / "literal"))
def test_literal_attack_is_refused(entry: dict[str, Any]) -> None:
    """Each literal-mode corpus entry raises a SafeOpsError without crashing or hanging."""
    global _recording
    events: list[tuple[str, bool]] = []
    _recording = events
    try:
        with pytest.raises(SafeOpsError):
            safe_eval(_source(entry), mode="literal")
    finally:
        _recording = None
    assert [event for event, permitted in events if not permitted] == []


def test_corpus_covers_every_technique() -> None:
    """The corpus has a file for each technique named in issue 4."""
    stems = {path.stem for path in VECTORS.glob("*.json")}
    assert stems >= {
        "object_graph", "format_strings", "frames", "imports_and_loaders", "host_helpers",
        "exception_groups", "identifier_normalisation", "pattern_matching", "scoping_tricks",
        "size_blowups", "parser_abuse", "loops", "memory", "host_mutation",
    }


def test_every_entry_names_its_source() -> None:
    """Every corpus entry says where the technique comes from."""
    for path in [*VECTORS.glob("*.json"), *(VECTORS / "literal").glob("*.json")]:
        for entry in json.loads(path.read_text(encoding="utf-8"))["entries"]:
            assert entry["origin"].strip(), (path.name, entry)

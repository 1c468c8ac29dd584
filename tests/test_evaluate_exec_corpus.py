"""The safe_exec attack corpus (tests/vectors/eval/exec/): every case is rejected.

Rejected means: the expected SafeOpsError (or, for host-mutation cases, the host's
objects unchanged), no escape (in-process runs are watched by an audit hook for
process, file and native-code events), no hang past the limit, no crash.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import safeops.errors
from safeops.errors import SafeOpsError
from safeops.evaluate import ExecLimits, _isolation, safe_exec

VECTORS = Path(__file__).parent / "vectors" / "eval" / "exec"
#: The defaults, with the clocks shortened so the whole corpus runs in seconds.
FAST = ExecLimits(cpu_time=0.1, wall_time=0.6)
#: Audit events that would mean the program got out (process, file, native code).
ESCAPE_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                 "subprocess.Popen", "open", "ctypes", "socket", "os.remove", "shutil")


def _load() -> list[Any]:
    params = []
    for path in sorted(VECTORS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for case in document["cases"]:
            for mode in case.get("modes", ["isolated", "in_process"]):
                params.append(pytest.param(case, mode, id=f"{path.stem}/{case['id']}/{mode}"))
    return params


class _Watch:
    """Records escape-like audit events raised by this thread while armed."""

    armed: int | None = None
    seen: list[str] = []  # noqa: RUF012 - one shared record for the session

    @classmethod
    def hook(cls, event: str, args: tuple[object, ...]) -> None:
        if cls.armed is not None and threading.get_ident() == cls.armed and (
            event.startswith(ESCAPE_EVENTS)
        ):
            if event == "open" and args[:1] == ("<safe_exec>",):
                return  # the parser looking up the source line for its SyntaxError
            cls.seen.append(f"{event}{args!r:.120}")


sys.addaudithook(_Watch.hook)


@pytest.fixture(scope="module", autouse=True)
def _stop_workers() -> Iterator[None]:
    # Warm up: the first in-process call imports RestrictedPython (file opens that
    # are ours, not the program's).
    safe_exec("x = [i for i in range(2)]", isolated=False)
    yield
    _isolation.shutdown()


class _Helper:
    def method(self) -> int:
        return 1


def _gen() -> Iterator[int]:
    yield 1


def _host_value(spec: str) -> object:
    import operator

    return {
        "module:os": os,
        "builtin:getattr": getattr,
        "builtin:eval": eval,
        "class:object": object,
        "function:os.system": os.system,
        "function:operator.attrgetter": operator.attrgetter,
        "function:generator": _gen,
        "function:bound-method": _Helper().method,
        "object:instance": _Helper(),
    }[spec]


def _names(case: dict[str, Any]) -> dict[str, Any]:
    if "host_names" in case:
        return {key: _host_value(spec) for key, spec in case["host_names"].items()}
    return copy.deepcopy(case.get("names", {}))


def _run(case: dict[str, Any], mode: str, limits: ExecLimits, names: dict[str, Any]) -> None:
    if mode == "isolated":
        safe_exec(case["source"], names, limits=limits)
        return
    _Watch.seen.clear()
    _Watch.armed = threading.get_ident()
    try:
        safe_exec(case["source"], names, limits=limits, isolated=False)
    finally:
        _Watch.armed = None
        assert _Watch.seen == [], f"escape-like audit events: {_Watch.seen}"


@pytest.mark.parametrize(("case", "mode"), _load())
def test_vector_is_rejected(case: dict[str, Any], mode: str) -> None:
    """The case raises its expected SafeOpsError and leaves the host unchanged."""
    minimum = tuple(int(part) for part in case.get("min_python", "3.10").split("."))
    if sys.version_info < minimum:
        pytest.skip(f"syntax needs Python {case['min_python']}")
    limits = dataclasses.replace(FAST, **case.get("limits", {}))
    names = _names(case)
    before = copy.deepcopy(case.get("names", {}))
    if case["expect"] == "host_unchanged":
        # The program may run or be refused; either way the host must not change.
        with contextlib.suppress(SafeOpsError):
            _run(case, mode, limits, names)
    else:
        expected = getattr(safeops.errors, case["expect"])
        with pytest.raises(expected):
            _run(case, mode, limits, names)
    if "names" in case:
        assert names == before


def test_every_technique_has_a_file_with_sources() -> None:
    """The corpus covers every technique the issue lists, each case citing its source."""
    techniques = {path.stem for path in VECTORS.glob("*.json")}
    assert techniques >= {
        "object_graph", "format_strings", "frames", "imports", "host_helpers",
        "exception_groups", "identifier_normalisation", "pattern_matching", "scoping",
        "size_blowups", "parser_abuse", "loops", "memory", "host_mutation",
    }
    for path in VECTORS.glob("*.json"):
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            assert case["origin"], case["id"]


#: One case per way a resource attack is stopped: the CPU clock, a limit that cannot be
#: swallowed, recursion depth, and memory growth (RLIMIT_AS).
FULL_DEFAULT_CASES = ("loops/while-true/isolated", "loops/swallowing-loop/isolated",
                      "loops/recursion/isolated", "memory/grow-list-of-lists/isolated",
                      "memory/nested-comprehension/isolated")


def _resource_cases() -> list[Any]:
    return [param for param in _load() if param.id in FULL_DEFAULT_CASES]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "mode"), _resource_cases())
def test_resource_attacks_with_full_defaults(case: dict[str, Any], mode: str) -> None:
    """With the full default limits, each resource attack is stopped (isolated mode)."""
    started = time.monotonic()
    with pytest.raises(SafeOpsError):
        safe_exec(case["source"])
    # Not a timing assertion on speed: a hang past the wall-clock limit is the failure.
    assert time.monotonic() - started < ExecLimits().wall_time + 5

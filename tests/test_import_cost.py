"""``import safeops`` stays cheap: heavy dependencies are imported on first use only."""

from __future__ import annotations

import json
import subprocess
import sys

#: Modules that must not be imported by ``import safeops`` alone.
HEAVY = ["pydantic", "RestrictedPython", "safeops.cli", "asyncio", "importlib.metadata"]

#: A generous bound on the cumulative import time of ``safeops`` itself, in
#: microseconds as reported by ``-X importtime``. It exists to catch an accidental eager
#: import of pydantic (~100 ms alone), not to measure speed.
MAX_IMPORT_MICROSECONDS = 150_000


def _fresh_interpreter(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True
    )


def test_import_does_not_load_heavy_modules() -> None:
    """pydantic, RestrictedPython, asyncio and the CLI stay out of sys.modules."""
    probe = (
        f"import sys, json, safeops; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    loaded = json.loads(_fresh_interpreter(probe).stdout)
    assert loaded == []


def test_import_time_is_bounded() -> None:
    """The cumulative import time of safeops stays far below pydantic's alone."""
    result = _fresh_interpreter("import safeops", "-X", "importtime")
    cumulative = [
        int(line.split("|")[1])
        for line in result.stderr.splitlines()
        if line.rstrip().endswith("| safeops")
    ]
    assert cumulative, result.stderr
    assert cumulative[0] < MAX_IMPORT_MICROSECONDS

"""Legitimate workloads that the fixes for the second batch of enforce findings of the
attack review (docs/reviews/2026-11-28/enforce.md: E2, E4, E9, E11, E12, E13) must keep
working, and attack variants that do not fit the one-line harness of
tests/vectors/enforce/attacks-process.json.

Everything that installs the hook runs in a fresh interpreter (hooks cannot be removed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

PRELUDE = """\
import json, sys
import safeops
from safeops.enforce import Policy
from safeops.errors import BlockedOperation
HANDLE = safeops.enforce("block", policy=Policy.strict() if sys.argv[1] == "strict" else Policy())
RESULTS = {}

def outcome(function):
    try:
        function()
    except BlockedOperation as error:
        RESULTS[function.__name__] = "blocked " + error.context["rule"]
    except BaseException as error:
        RESULTS[function.__name__] = f"{type(error).__name__}: {error}"[:2000]
    else:
        RESULTS[function.__name__] = "ok"
    return function
"""

EPILOGUE = """
RESULTS["__report__"] = HANDLE.records()
print("RESULTS " + json.dumps(RESULTS, default=str))
"""


def run_script(body: str, tmp_path: Path, policy: str = "default") -> dict[str, Any]:
    """Run *body* after the prelude in a fresh interpreter; returns its results (plus
    its stderr under ``__stderr__``)."""
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + EPILOGUE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), policy, str(tmp_path / "canary")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    results: dict[str, Any] = json.loads(lines[-1][len("RESULTS ") :])
    results["__stderr__"] = result.stderr
    return results


# --- E13: process="all" exempts only multiprocessing's own worker starts ---------------

POOLS = """
import concurrent.futures, multiprocessing

def square(x):
    return x * x

if __name__ == "__main__":
    for method in ("fork", "spawn", "forkserver"):
        def pools(method=method):
            context = multiprocessing.get_context(method)
            with context.Pool(2, maxtasksperchild=1) as pool:
                assert pool.map(square, [1, 2, 3]) == [1, 4, 9]
            with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as executor:
                assert list(executor.map(square, [4, 5])) == [16, 25]
            with context.Manager() as manager:
                shared = manager.dict()
                shared["a"] = 1
                assert shared["a"] == 1
        pools.__name__ = "pools_" + method
        outcome(pools)
"""


@pytest.mark.slow
def test_process_pools_managers_keep_working_under_the_strict_process_rule(
    tmp_path: Path,
) -> None:
    """E13: Pool, ProcessPoolExecutor and managers start their workers under
    process="all" with fork, spawn and forkserver, and nothing is recorded."""
    results = run_script(POOLS, tmp_path, policy="strict")
    del results["__stderr__"]
    assert results.pop("__report__") == []
    assert results == {"pools_fork": "ok", "pools_spawn": "ok", "pools_forkserver": "ok"}


HANDED_TO_PROCESS = """
import multiprocessing, subprocess

if __name__ == "__main__":
    @outcome
    def process_target_is_a_spawn_function():
        context = multiprocessing.get_context("fork")
        process = context.Process(target=subprocess.run, args=(["touch", sys.argv[2]],))
        process.start()
        process.join()
        assert process.exitcode == 1, process.exitcode
"""


def test_a_forked_child_running_a_handed_spawn_function_is_refused(tmp_path: Path) -> None:
    """E13: Process(target=subprocess.run) under process="all": multiprocessing may fork
    its worker, but the worker's call of the handed spawn function is refused."""
    results = run_script(HANDED_TO_PROCESS, tmp_path, policy="strict")
    assert results["process_target_is_a_spawn_function"] == "ok"
    assert "BlockedOperation: safeops blocked subprocess.Popen (process.spawn)" in results[
        "__stderr__"
    ]
    assert not (tmp_path / "canary").exists()

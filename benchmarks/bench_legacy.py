"""Benchmark serialize.legacy against pickle on the serialize benchmark payload.

Run: ``python benchmarks/bench_legacy.py`` (``--quick`` for fewer repeats). One process,
best of N repeats per call, ratios to ``pickle.loads`` (the target for
``legacy.loads`` is <= 1.5x). Rows:

- ``pickle.loads``: the unsafe original (C).
- ``find_class recipe``: the pickle documentation's "restricting globals" recipe, a
  ``pickle.Unpickler`` subclass whose ``find_class`` checks an allow-list and nothing
  else (no budgets, no gadget checks): the usual hand-rolled alternative.
- ``legacy.loads``: the opcode pre-scan (budgets, gadget rules) plus the C load.
- ``pre-scan only``: the symbolic walk by itself, to show where the time goes.
- ``legacy.inspect``: the report (walks the same opcodes, records every call).
"""

from __future__ import annotations

import io
import pickle
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from _payload import api_records

from safeops.serialize import DEFAULT_LIMITS, legacy
from safeops.serialize.legacy import SAFE_GLOBALS
from safeops.serialize.legacy._scan import walk
from safeops.serialize.legacy._symbolic import Visitor

REPEATS = 5 if "--quick" in sys.argv else 30
TARGET = 1.5


def best(call: Callable[[], object], repeats: int = REPEATS) -> tuple[float, float]:
    """Best wall time and best thread CPU time of *repeats* calls, in milliseconds.

    On a shared machine the CPU time is the steadier figure: it does not count the
    time the process waited for a core.
    """
    wall = cpu = float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()
        cpu = min(cpu, time.thread_time() - start_cpu)
        wall = min(wall, time.perf_counter() - start)
    return wall * 1e3, cpu * 1e3


class RecipeUnpickler(pickle.Unpickler):
    """The pickle docs' restricting-globals recipe (allow-list in find_class only)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is forbidden")


def main() -> None:
    records = api_records()
    blob = pickle.dumps(records, protocol=5)
    assert legacy.loads(blob) == records
    limits = DEFAULT_LIMITS
    rows = [
        ("pickle.loads", best(lambda: pickle.loads(blob))),
        ("find_class recipe", best(lambda: RecipeUnpickler(io.BytesIO(blob)).load())),
        ("legacy.loads", best(lambda: legacy.loads(blob))),
        (
            "pre-scan only",
            best(
                lambda: walk(
                    blob,
                    Visitor(),
                    max_elements=limits.max_elements,
                    max_depth=limits.max_depth,
                    max_memo=len(blob),
                    max_str_len=limits.max_str_len,
                    max_int_digits=limits.max_int_digits,
                )
            ),
        ),
        ("legacy.inspect", best(lambda: legacy.inspect(blob))),
    ]
    base_wall, base_cpu = rows[0][1]
    print(
        f"Python {platform.python_version()} on {platform.machine()} ({platform.system()}); "
        f"best of {REPEATS}; payload: 1,000 API records, pickle protocol 5, {len(blob)} bytes"
    )
    print(f"{'':22}{'wall ms':>9}{'x pickle':>10}{'cpu ms':>9}{'x pickle':>10}")
    for name, (wall, cpu) in rows:
        note = ""
        if name == "legacy.loads":
            ratio = cpu / base_cpu
            note = f"   target <= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'} (cpu)"
        print(f"{name:22}{wall:9.2f}{wall / base_wall:10.2f}{cpu:9.2f}{cpu / base_cpu:10.2f}{note}")


if __name__ == "__main__":
    main()

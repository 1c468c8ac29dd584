"""Benchmark serialize.legacy against pickle on the serialize benchmark payload.

Run: ``python benchmarks/bench_legacy.py`` (``--quick`` for fewer repeats). One process,
best of N repeats per call, ratios to ``pickle.loads`` (the target for
``legacy.loads`` is <= 1.5x). Rows:

- ``pickle.loads``: the unsafe original (C).
- ``find_class recipe``: the pickle documentation's "restricting globals" recipe, a
  ``pickle.Unpickler`` subclass whose ``find_class`` checks an allow-list and nothing
  else (no budgets, no gadget checks): the usual hand-rolled alternative.
- ``legacy.loads``: the opcode pre-scan (budgets, gadget rules) plus the C load. The
  pre-scan is the C fast path when the extension is built (see the header line).
- ``legacy.loads, Python walk``: the same with the fast path switched off, as on a
  machine without a compiler (and for every pickle the fast path leaves undecided).
- ``pre-scan only (C)`` / ``pre-scan only (Python)``: each walk by itself.
- ``legacy.inspect``: the report (walks the same opcodes, records every call).

A second table repeats pickle.loads / legacy.loads for protocols 2 and 4 of the payload
(protocol 2 writes GLOBAL and BINPUT; its bytes values go through ``_codecs.encode``,
which the fast path leaves to the Python walk: the payload has none).
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
from safeops.serialize.legacy import SAFE_GLOBALS, _fastpath
from safeops.serialize.legacy._fastpath import fast_walk
from safeops.serialize.legacy._policy import Policy
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


def python_walk_loads(blob: bytes) -> Any:
    """legacy.loads with the C fast path switched off."""
    _fastpath.ENABLED = False
    try:
        return legacy.loads(blob)
    finally:
        _fastpath.ENABLED = True


def main() -> None:
    records = api_records()
    blob = pickle.dumps(records, protocol=5)
    assert legacy.loads(blob) == records
    assert python_walk_loads(blob) == records
    limits = DEFAULT_LIMITS
    budgets = {
        "max_elements": limits.max_elements,
        "max_depth": limits.max_depth,
        "max_memo": len(blob),
        "max_str_len": limits.max_str_len,
        "max_int_digits": limits.max_int_digits,
    }
    policy = Policy()
    if _fastpath.AVAILABLE:
        # The fast path must accept the payload, or the legacy.loads row measures the
        # Python walk (a fast-path regression would otherwise pass unnoticed).
        assert fast_walk(blob, policy, **budgets) == len(blob)
    rows = [
        ("pickle.loads", best(lambda: pickle.loads(blob))),
        ("find_class recipe", best(lambda: RecipeUnpickler(io.BytesIO(blob)).load())),
        ("legacy.loads", best(lambda: legacy.loads(blob))),
        ("legacy.loads, Python walk", best(lambda: python_walk_loads(blob))),
        ("pre-scan only (C)", best(lambda: fast_walk(blob, policy, **budgets))),
        (
            "pre-scan only (Python)",
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
    if not _fastpath.AVAILABLE:
        rows = [row for row in rows if row[0] != "pre-scan only (C)"]
    base_wall, base_cpu = rows[0][1]
    print(
        f"Python {platform.python_version()} on {platform.machine()} ({platform.system()}); "
        f"best of {REPEATS}; payload: 1,000 API records, pickle protocol 5, {len(blob)} bytes; "
        f"C fast path: {'built' if _fastpath.AVAILABLE else 'NOT built (Python walk only)'}"
    )
    print(f"{'':27}{'wall ms':>9}{'x pickle':>10}{'cpu ms':>9}{'x pickle':>10}")
    for name, (wall, cpu) in rows:
        note = ""
        if name == "legacy.loads":
            ratio = cpu / base_cpu
            note = f"   target <= {TARGET}x: {'met' if ratio <= TARGET else 'NOT met'} (cpu)"
        print(f"{name:27}{wall:9.2f}{wall / base_wall:10.2f}{cpu:9.2f}{cpu / base_cpu:10.2f}{note}")
    print(f"\n{'protocol':27}{'pickle ms':>9}{'legacy ms':>10}{'x pickle':>10}  (cpu)")
    for protocol in (2, 4):
        older = pickle.dumps(records, protocol=protocol)
        assert legacy.loads(older) == records
        _, plain = best(lambda older=older: pickle.loads(older))
        _, checked = best(lambda older=older: legacy.loads(older))
        print(f"{protocol:<27}{plain:9.2f}{checked:10.2f}{checked / plain:10.2f}")


if __name__ == "__main__":
    main()

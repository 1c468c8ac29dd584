"""Overhead of safeops.enforce() against no hook and an empty Python audit hook.

    python benchmarks/bench_enforce.py            # micro-benchmarks + imports (~1 min)
    python benchmarks/bench_enforce.py --suite    # also the test suite, median of 3 (long)

Audit hooks cannot be removed, so every configuration runs in its own fresh interpreter:
no hook, an empty Python hook (``lambda event, args: None``: the floor for any
Python-level hook) and the safeops hook in log, warn and block mode. Each child times
the workloads (best of several repeats, per call) and prints JSON; this script prints
one table with the overhead of each configuration relative to the empty hook's.

Targets (docs/enforce.md): an event nobody gates costs <= 1.5x the empty hook's
overhead over no hook; the test suite's wall time under warn or block is <= 1.10x of
no hook (median of 3).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["none", "empty", "log", "warn", "block"]

CHILD = r"""
import json, pickle, sys, time, datetime, decimal, collections
import safeops  # every configuration pays for importing safeops itself
config = sys.argv[1]
if config == "empty":
    sys.addaudithook(lambda event, args: None)
elif config != "none":
    import safeops
    from safeops.enforce import Policy
    # The benchmark's own module is trusted so compile/eval measure the allowed path
    # (a full attribution walk), not the cost of raising BlockedOperation.
    safeops.enforce(config, policy=Policy(trusted=("__main__",)))

def best(function, number, repeat=7):
    timings = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        function(number)
        timings.append((time.perf_counter_ns() - start) / number)
    return min(timings)

audit = sys.audit
def nongated(n):
    for _ in range(n):
        audit("bench.custom.event", 1)

path = sys.argv[0]
def open_close(n):
    for _ in range(n):
        open(path, "rb").close()

def compile_trusted(n):
    for _ in range(n):
        compile("1+1", "<bench>", "eval")

blob = pickle.dumps({"when": datetime.datetime(2024, 1, 2), "amount": decimal.Decimal("1.5"),
                     "items": collections.OrderedDict(a=[1, 2, 3]), "tags": {"x", "y"}}, 4)
def pickle_loads(n):
    for _ in range(n):
        pickle.loads(blob)

code = compile("1+1", "<bench>", "eval")
def eval_code(n):
    for _ in range(n):
        eval(code)

print(json.dumps({
    "non-gated event (sys.audit)": best(nongated, 200_000),
    "open + close": best(open_close, 20_000),
    "compile('1+1'), trusted caller": best(compile_trusted, 5_000),
    "pickle.loads, allow-listed data": best(pickle_loads, 20_000),
    "eval of a code object": best(eval_code, 20_000),
}))
"""

IMPORTS = (
    "import argparse, ast, asyncio, base64, bisect, calendar, cgi, cmd, code, codecs, codeop, "
    "colorsys, compileall, concurrent.futures, configparser, contextlib, contextvars, copy, "
    "csv, ctypes, dataclasses, datetime, decimal, difflib, dis, doctest, email, email.mime.text, "
    "enum, filecmp, fileinput, fnmatch, fractions, ftplib, functools, getopt, getpass, gettext, "
    "glob, graphlib, gzip, hashlib, heapq, hmac, html, html.parser, http, http.client, "
    "http.server, imaplib, inspect, ipaddress, json, logging, logging.config, lzma, mailbox, "
    "mimetypes, multiprocessing, netrc, numbers, operator, optparse, pathlib, pdb, pickle, "
    "pickletools, pkgutil, platform, plistlib, poplib, pprint, profile, pstats, pydoc, "
    "queue, quopri, random, re, sched, secrets, selectors, shelve, shlex, shutil, signal, "
    "smtplib, socket, socketserver, sqlite3, ssl, statistics, string, struct, subprocess, "
    "tarfile, tempfile, textwrap, threading, timeit, tokenize, trace, traceback, typing, "
    "unittest, urllib.request, uuid, wave, weakref, xml.dom.minidom, xml.etree.ElementTree, "
    "zipfile, zoneinfo"
)

# Every configuration imports safeops, so the ratios show the hook, not the import.
SETUP = {
    "none": "import safeops; ",
    "empty": "import safeops, sys; sys.addaudithook(lambda event, args: None); ",
    "log": "import safeops; safeops.enforce('log'); ",
    "warn": "import safeops, warnings; warnings.simplefilter('ignore'); safeops.enforce('warn'); ",
    "block": "import safeops; safeops.enforce('block'); ",
}


def micro(config: str) -> dict[str, float]:
    script = ROOT / "benchmarks" / ".bench_enforce_child.py"
    script.write_text(CHILD, encoding="utf-8")
    try:
        out = subprocess.run(
            [sys.executable, str(script), config], capture_output=True, text=True, check=True
        )
    finally:
        script.unlink(missing_ok=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def fresh_imports(config: str, repeat: int = 7) -> float:
    """Best wall time (ms) of a fresh interpreter importing ~100 stdlib modules (from
    their cached .pyc files: a marshal.loads and an exec event per module). Best, not
    median: on a shared machine the noise only ever adds time."""
    code = "import warnings; warnings.simplefilter('ignore'); " + SETUP[config] + IMPORTS
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        timings.append((time.perf_counter() - start) * 1000)
    return min(timings)


def suite(configs: list[str], repeat: int = 3) -> dict[str, tuple[float, float]]:
    """Median wall time and median CPU time (s; user + system of the suite and every
    process it starts) of the project's test suite under each of *configs*, run
    round-robin (none, warn, block, none, ...) so that drifting machine load hits every
    configuration alike. On a shared machine the CPU time is the steadier figure: it
    does not count the time the suite waited for a core."""
    walls: dict[str, list[float]] = {config: [] for config in configs}
    cpus: dict[str, list[float]] = {config: [] for config in configs}
    for _ in range(repeat):
        for config in configs:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
            if config != "none":
                command = [sys.executable, "-m", "safeops", "run", "--no-summary",
                           "--mode", config, "--", *command[1:]]  # fmt: skip
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
            walls[config].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[config].append(
                after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            )
    return {
        config: (statistics.median(walls[config]), statistics.median(cpus[config]))
        for config in configs
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="store_true", help="also time the test suite")
    parser.add_argument("--suite-only", action="store_true", help="only time the test suite")
    options = parser.parse_args()
    if options.suite_only:
        print_suite()
        return
    print(f"Python {sys.version.split()[0]} on {sys.platform}; per-call ns (best of 7)")
    # Three interleaved rounds, best per workload: the machine is shared and noisy.
    rounds = [[micro(config) for config in CONFIGS] for _ in range(3)]
    results = {
        config: {name: min(r[i][name] for r in rounds) for name in rounds[0][i]}
        for i, config in enumerate(CONFIGS)
    }
    names = list(results["none"])
    print(f"{'workload':34}" + "".join(f"{c:>9}" for c in CONFIGS) + "   overhead vs empty hook")
    for name in names:
        row = [results[c][name] for c in CONFIGS]
        floor = row[1] - row[0]
        ratios = " ".join(
            f"{c}={(results[c][name] - row[0]) / floor:.2f}x" if floor > 0 else f"{c}=n/a"
            for c in ("log", "warn", "block")
        )
        print(f"{name:34}" + "".join(f"{value:9.0f}" for value in row) + f"   {ratios}")
    print("\nfresh interpreter importing ~100 stdlib modules (ms, best of 7)")
    timings = {config: fresh_imports(config) for config in CONFIGS}
    print("".join(f"{c:>9}" for c in CONFIGS))
    print("".join(f"{timings[c]:9.0f}" for c in CONFIGS))
    print(
        "ratio to no hook: "
        + ", ".join(f"{c}={timings[c] / timings['none']:.2f}x" for c in CONFIGS)
    )
    if options.suite:
        print_suite()


def print_suite() -> None:
    print("\ntest suite (s, median of 3, configurations interleaved; target <= 1.10x)")
    timings = suite(["none", "warn", "block"])
    wall0, cpu0 = timings["none"]
    for config, (wall, cpu) in timings.items():
        print(f"{config:>6}: wall {wall:7.1f}s ({wall / wall0:.3f}x)  "
              f"cpu {cpu:7.1f}s ({cpu / cpu0:.3f}x)")


if __name__ == "__main__":
    main()

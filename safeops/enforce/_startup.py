"""``safeops run``: enforce from interpreter start, then run a script or module.

::

    safeops run [--mode block|warn|log] [--policy FILE] [--report FILE] -- script.py args...
    safeops run [...] -- -m package.module args...

The hook is installed before the program imports anything, the program runs as
``__main__`` (through :mod:`runpy`, as ``python script.py`` / ``python -m`` would), the
interpreters multiprocessing starts for it (spawn, forkserver) enforce the same
configuration from their first line, and a summary table is printed to stderr at exit.

The policy comes from ``--policy FILE`` only (``pyproject.toml`` is read from its
``[tool.safeops]`` table): nothing is discovered from the working directory, because a
policy file relaxes a security control and a directory is not a reviewed source.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import runpy
import sys

from safeops.enforce._api import enforce
from safeops.enforce._policy import MODES, Mode, policy_from_mapping, read_toml_table

__all__ = ["add_arguments", "child_bootstrap", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``run`` options."""
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="block (default), warn or log",
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="a TOML policy file, or a pyproject.toml with a [tool.safeops] table",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="append JSON Lines records here (default: $SAFEOPS_REPORT)",
    )
    parser.add_argument(
        "--no-summary", action="store_true", help="do not print the summary table at exit"
    )
    parser.add_argument(
        "target",
        nargs=argparse.REMAINDER,
        metavar="-- script.py args | -- -m module args",
        help="the program to run, after `--`",
    )


def run(args: argparse.Namespace) -> int:
    """Enforce, then run the target as ``__main__``; returns its exit status."""
    target = list(args.target)
    if target and target[0] == "--":
        target = target[1:]
    if not target or (target[0] == "-m" and len(target) < 2):
        print(
            "safeops run: name a program: `safeops run -- script.py ...` or "
            "`safeops run -- -m module ...`",
            file=sys.stderr,
        )
        return 2
    mode: Mode = "block"
    policy = None
    if args.policy is not None:
        table = read_toml_table(args.policy)
        file_mode = table.get("mode")
        if file_mode is not None:
            if file_mode not in MODES:
                print(f"safeops run: {args.policy}: mode must be one of {MODES}", file=sys.stderr)
                return 2
            mode = file_mode
        policy = policy_from_mapping(table, source=args.policy)
    if args.mode is not None:
        mode = args.mode
    handle = enforce(mode, policy=policy, report=args.report)
    if not args.no_summary:
        atexit.register(lambda: print(handle.summary(), file=sys.stderr))
    if target[0] == "-m":
        sys.argv = [target[1], *target[2:]]
        # As `python -m`: the current directory first on the path (the console script
        # started with its own bin directory there), so local modules and plugins import.
        sys.path[0] = os.getcwd()
        runpy.run_module(target[1], run_name="__main__", alter_sys=True)
    else:
        script = target[0]
        sys.argv = target
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")
    return 0


def child_bootstrap(config: str) -> None:
    """Enforce *config* (JSON from the parent) in a multiprocessing child interpreter.

    Called by the line safeops prepends to the child's ``-c`` program, before
    multiprocessing unpickles anything or imports the parent's main module.
    """
    data = json.loads(config)
    enforce(data["mode"], policy=policy_from_mapping(data["policy"]), report=data["report"])
    import multiprocessing.util

    from safeops.enforce import _hook

    # Workers leave through os._exit (skipping atexit) or are terminated by their pool:
    # write each new record at once, and the final counts from multiprocessing's exit
    # finalizers.
    if _hook._state.reporter is not None:
        _hook._state.reporter.write_through = True
    multiprocessing.util.Finalize(None, _hook.flush_at_exit, exitpriority=0)


def child_prefix(mode: Mode, policy: dict[str, object], report: str | None) -> str:
    """The statement that makes a child interpreter enforce this configuration."""
    config = json.dumps({"mode": mode, "policy": policy, "report": report}, sort_keys=True)
    # The child starts with the default sys.path (multiprocessing restores the parent's
    # only later): make sure it finds this safeops, appended so nothing is shadowed.
    home = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return (
        f"import sys; sys.path.append({home!r}); "
        # A from-import: `safeops.enforce` as an attribute is the public function.
        "from safeops.enforce._startup import child_bootstrap as _safeops_child_bootstrap; "
        f"sys.path.remove({home!r}); _safeops_child_bootstrap({config!r})"
    )

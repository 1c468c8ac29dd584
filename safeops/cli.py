"""The ``safeops`` command-line interface.

Each subcommand lives in the module that owns its feature and exposes two functions,
``add_arguments(parser)`` and ``run(args) -> int``; this module only wires them up.
A subcommand's module is imported only when the CLI runs, never by ``import safeops``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

__all__ = ["main"]


class _SubcommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class _Subcommand:
    name: str
    module: str
    help: str


#: The subcommands, in the order ``--help`` lists them. Each feature adds its own row.
SUBCOMMANDS: tuple[_Subcommand, ...] = (
    _Subcommand(
        "demo",
        "safeops._demo",
        "a short tour: hostile inputs against the dangerous originals and safeops",
    ),
    _Subcommand(
        "run",
        "safeops.enforce._startup",
        "run a script or module (-- script.py | -- -m module) with enforcement from its start",
    ),
    _Subcommand(
        "inspect",
        "safeops.serialize.legacy._cmd_inspect",
        "report what legacy pickle files would import and call, without running them",
    ),
    _Subcommand(
        "convert",
        "safeops.serialize.legacy._cmd_convert",
        "convert legacy pickle files (or a tree of .pkl files) to safeops.serialize, atomically",
    ),
)


def _version() -> str:
    import safeops

    return str(safeops.__version__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="safeops",
        description=(
            "Vetted replacements for pickle, eval/exec and os.system, and an enforcement "
            "mode that blocks the dangerous originals."
        ),
    )
    parser.add_argument("--version", action="version", version=f"safeops {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for sub in SUBCOMMANDS:
        module = cast(_SubcommandModule, importlib.import_module(sub.module))
        sub_parser = commands.add_parser(sub.name, help=sub.help, description=sub.help)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (2 for a usage error)."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    return int(run(args))

"""``safeops convert IN OUT``: legacy pickle to ``safeops.serialize``, atomically.

``IN`` may be a file or a directory (then every ``*.pkl`` under it is converted into the
``OUT`` directory, with a progress indicator on stderr and a summary). Exit status: 0 when
everything converted, 1 when anything was refused or failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from safeops.errors import ConfigurationError, DecodeError, SafeOpsError
from safeops.serialize.legacy._convert import clean_stray_temps, convert_file, convert_tree

__all__ = ["add_arguments", "run"]

_SUFFIX = {"json": ".json", "msgpack": ".msgpack"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the convert options."""
    parser.add_argument("source", type=Path, metavar="IN", help="a .pkl file or a directory")
    parser.add_argument("target", type=Path, metavar="OUT", help="output file or directory")
    parser.add_argument("--format", choices=("json", "msgpack"), default="json")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="GLOBAL",
        help="allow the class module.ClassName in the pickles (repeatable); it must also "
        "be serializable (dataclass, NamedTuple, Enum, pydantic model, or registered)",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        metavar="F",
        help="sign the output with the key stored in F (its bytes, used as they are)",
    )


def run(args: argparse.Namespace) -> int:
    """Convert; print what happened; return the exit status."""
    try:
        key = args.key_file.read_bytes() if args.key_file else None
        _register_allowed(args.allow)
    except (OSError, SafeOpsError) as error:
        print(f"safeops convert: {error}", file=sys.stderr)
        return 2
    if args.source.is_dir():
        return _convert_directory(args, key)
    if args.target.is_dir():  # `safeops convert a.pkl out/` writes out/a.json
        args.target = args.target / args.source.with_suffix(_SUFFIX[args.format]).name
    try:
        convert_file(args.source, args.target, format=args.format, allow=args.allow, key=key)
    except DecodeError as error:
        print(f"safeops convert: refused {args.source}: {error}", file=sys.stderr)
        return 1
    except (SafeOpsError, OSError) as error:
        print(f"safeops convert: could not convert {args.source}: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # a value the encoder chokes on: no traceback
        print(
            f"safeops convert: could not convert {args.source}: {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return 1
    print(f"converted {args.source} -> {args.target} ({args.format})")
    return 0


def _convert_directory(args: argparse.Namespace, key: bytes | None) -> int:
    args.target.mkdir(parents=True, exist_ok=True)
    for directory in [args.target, *(p for p in args.target.rglob("*") if p.is_dir())]:
        clean_stray_temps(directory)
    interactive = sys.stderr.isatty()

    def progress(done: int, total: int, path: Path, outcome: str) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "." * (width - filled)
        line = f"[{bar}] {done}/{total} {outcome:<9} {str(path)[-60:]}"
        if interactive:
            sys.stderr.write("\r" + line.ljust(110))
            if done == total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    summary = convert_tree(
        args.source, args.target, format=args.format, allow=args.allow, key=key,
        progress=progress,
    )  # fmt: skip
    for path, problem in summary.problems:
        print(f"{path}: {problem}")
    print(
        f"summary: {summary.converted} converted, {summary.refused} refused, "
        f"{summary.errors} errors"
    )
    return 0 if summary.refused == summary.errors == 0 else 1


def _register_allowed(entries: list[str]) -> None:
    """Make each allowed class encodable: register it unless the app already did."""
    from safeops.serialize import register
    from safeops.serialize._registry import by_class
    from safeops.serialize.legacy._policy import parse_allow
    from safeops.serialize.legacy._unpickler import _import

    for pair in parse_allow(entries):
        cls: Any = _import(pair)
        if not isinstance(cls, type):
            raise ConfigurationError(f"--allow {pair[0]}.{pair[1]} is not a class")
        if by_class(cls) is None:
            try:
                register(cls)
            except ConfigurationError as error:
                raise ConfigurationError(
                    f"--allow {pair[0]}.{pair[1]}: safeops.serialize cannot store this class "
                    f"({error}); convert from Python after serialize.register(..., encode=, "
                    "decode=) with safeops.serialize.legacy.convert_file"
                ) from None

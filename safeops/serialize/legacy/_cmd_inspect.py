"""``safeops inspect FILE...``: what legacy pickle files would import and call.

Exit status: 0 when nothing dangerous was found, 1 when any file has a dangerous
finding, 2 when a file could not be read or is not a pickle (and nothing is dangerous).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from safeops.errors import ConfigurationError
from safeops.serialize._limits import DEFAULT_LIMITS
from safeops.serialize.legacy._convert import read_input
from safeops.serialize.legacy._inspect import InspectReport, inspect
from safeops.serialize.legacy._policy import parse_allow

__all__ = ["add_arguments", "run"]

_SYMBOL = {"safe": "ok", "needs-allow": "ALLOW?", "dangerous": "DANGER"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the inspect options."""
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="pickle files")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="GLOBAL",
        help="treat module.ClassName as allowed (repeatable), as convert --allow would",
    )
    parser.add_argument("--all", action="store_true", help="also list safe findings in the table")


def run(args: argparse.Namespace) -> int:
    """Inspect each file; print a table or JSON; return the exit status."""
    try:
        parse_allow(args.allow)
    except ConfigurationError as error:
        print(f"safeops inspect: {error}", file=sys.stderr)
        return 2
    reports: dict[str, InspectReport | str] = {}
    limit = DEFAULT_LIMITS.max_bytes
    for path in args.files:
        try:
            # Regular files only, non-blocking (a FIFO would hang), at most the budget.
            data, _ = read_input(path, limit + 1)
        except OSError as error:
            reports[str(path)] = f"cannot read: {error.strerror or error}"
            continue
        reports[str(path)] = inspect(data, allow=args.allow)
    if args.json:
        document = {
            name: report.as_dict() if isinstance(report, InspectReport) else {"error": report}
            for name, report in reports.items()
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for name, report in reports.items():
            _print_table(name, report, show_safe=args.all)
    dangerous = any(isinstance(r, InspectReport) and r.dangerous for r in reports.values())
    failed = any(not isinstance(r, InspectReport) or r.error for r in reports.values())
    return 1 if dangerous else 2 if failed else 0


def _print_table(name: str, report: InspectReport | str, *, show_safe: bool) -> None:
    out = sys.stdout
    if not isinstance(report, InspectReport):
        out.write(f"{name}: {report}\n\n")
        return
    out.write(
        f"{name}: {report.verdict.upper()} (protocol {report.protocol}, {report.size} bytes, "
        f"{len(report.globals)} globals)\n"
    )
    shown = [f for f in report.findings if show_safe or f.verdict != "safe"]
    hidden = len(report.findings) - len(shown)
    for finding in shown:
        nested = " nested" if finding.nested_in else ""
        out.write(
            f"  {_SYMBOL[finding.verdict]:<7} {finding.kind:<9} @{finding.offset:<7} "
            f"{finding.target[:70]}{nested}\n"
        )
        out.write(textwrap.fill(finding.detail, width=96, initial_indent=" " * 10,
                                subsequent_indent=" " * 10) + "\n")  # fmt: skip
    if hidden:
        out.write(f"  ({hidden} safe findings not shown; --all lists them)\n")
    if report.error:
        out.write(f"  walk stopped: {report.error}\n")
    out.write("\n")

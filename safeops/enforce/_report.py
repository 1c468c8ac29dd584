"""The enforcement report: one JSON Lines record per (rule, decision, call site).

This is the migration inventory a team collects by running its test suite under
``enforce(mode="warn")``: every dangerous original the code calls, where, how often,
and what to use instead. Records are aggregated in memory (a count per call site, not
a line per event) and appended to the report file when the process exits, when the
handle's ``flush()`` is called. Worker processes (forked children, multiprocessing
workers) write each new record at once, since a pool may terminate them without running
any exit handler, and again with the final count if they exit normally. Each line
carries the process id; several processes may append to one file (each write holds an
exclusive ``flock``). Readers aggregate by (pid, rule, decision, call site), keeping the
last line.

Details quoted from events (a command string, a pickle global, source text) are
truncated with :func:`safeops.errors.quote`: the report never holds an unbounded
attacker payload.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Final

from safeops.enforce._rules import Finding

__all__ = ["Reporter"]

#: The environment variable naming the report file when ``report=`` is not given.
REPORT_ENV: Final = "SAFEOPS_REPORT"

_Key = tuple[str, str, str, int, str]


class Reporter:
    """Thread-safe aggregation of findings, written as JSON Lines."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        #: Write each new record at once (worker processes, which a pool may terminate
        #: without running any exit handler).
        self.write_through = False
        self._lock = threading.Lock()
        self._records: dict[_Key, dict[str, object]] = {}
        self._written: dict[_Key, int] = {}

    def record(self, finding: Finding, decision: str) -> bool:
        """Count *finding*; True if it is the first time for its (rule, decision, site)."""
        site = finding.site
        key: _Key = (
            finding.rule,
            decision,
            site.file if site else "?",
            site.line if site else 0,
            site.function if site else "?",
        )
        now = time.time()
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                record["count"] = int(str(record["count"])) + 1
                record["last_seen"] = now
                return False
            self._records[key] = {
                "rule": finding.rule,
                "category": finding.category,
                "event": finding.event,
                "decision": decision,
                "count": 1,
                "call_site": site.as_dict() if site else None,
                "why": finding.why,
                "detail": finding.detail,
                "replacement": finding.replacement,
                "permit": (
                    {"reason": finding.permit.reason, "origin": finding.permit.origin}
                    if finding.permit
                    else None
                ),
                "first_seen": now,
                "last_seen": now,
            }
        if self.write_through:
            self.flush()
        return True

    def records(self) -> list[dict[str, object]]:
        """A snapshot of every record of this process, most frequent first."""
        with self._lock:
            snapshot = [dict(record) for record in self._records.values()]
        return sorted(snapshot, key=lambda r: (-int(str(r["count"])), str(r["rule"])))

    def flush(self) -> None:
        """Append the records not written yet (or whose count grew) to the report file."""
        if self.path is None:
            return
        with self._lock:
            pending = [
                (key, dict(record))
                for key, record in self._records.items()
                if self._written.get(key) != record["count"]
            ]
            for key, record in pending:
                self._written[key] = int(str(record["count"]))
        if not pending:
            return
        pid = os.getpid()
        lines = "".join(
            json.dumps({**record, "pid": pid}, sort_keys=True, default=str) + "\n"
            for _, record in pending
        )
        try:
            # Never through a symlink (a local attacker could point the report at a file
            # it wants appended to), and readable by the owner only: the report quotes
            # the refused operations. O_NOFOLLOW guards the last component.
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            descriptor = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as error:
            # Writing the report must never break the audited program: say so once on
            # stderr and stop trying.
            sys.stderr.write(
                f"safeops enforce: not writing the report to {self.path!r}: {error}\n"
            )
            self.path = None
            return
        with os.fdopen(descriptor, "a", encoding="utf-8") as stream:
            try:
                import fcntl

                fcntl.flock(stream, fcntl.LOCK_EX)
            except (ImportError, OSError):  # pragma: no cover - non-POSIX or odd FS
                pass
            stream.write(lines)

    def reset_in_child(self) -> None:
        """After ``fork``: the child starts with no records of its own (its parent
        reports what happened before the fork)."""
        self._lock = threading.Lock()
        self._records = {}
        self._written = {}

    def summary(self) -> str:
        """A plain-text table of the records, for the end of ``safeops run``."""
        records = self.records()
        if not records:
            return "safeops enforce: no dangerous operation was refused, warned about or logged."
        rows = [("count", "decision", "rule", "call site")]
        for record in records:
            site = record["call_site"]
            where = (
                f"{site['file']}:{site['line']} ({site['function']})"
                if isinstance(site, dict)
                else "?"
            )
            rows.append((str(record["count"]), str(record["decision"]), str(record["rule"]), where))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = ["safeops enforce summary:"]
        for row in rows:
            cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            lines.append(f"  {cells}  {row[3]}")
        return "\n".join(lines)

"""The enforcement report file cannot be redirected through a symlink and stays private.

Source: attack review 2026-11-28, finding E5 (a local attacker pointed SAFEOPS_REPORT at a
symlink and had a refused command's text appended to a file of its choice).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from safeops.enforce._report import Reporter
from safeops.enforce._rules import Finding


def _finding() -> Finding:
    return Finding(
        rule="process.shell",
        category="process",
        event="os.system",
        level="enforce",
        site=None,
        why="why",
        detail="touch $(id)\n\x1b[31m",
        replacement="run_cmd",
    )


def test_report_is_not_written_through_a_symlink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A report path that is a symlink is refused; the target is left untouched."""
    target = tmp_path / "victim.sh"
    target.write_text("echo original\n")
    link = tmp_path / "report.jsonl"
    link.symlink_to(target)
    reporter = Reporter(str(link))
    reporter.record(_finding(), "blocked")
    reporter.flush()
    assert target.read_text() == "echo original\n"
    assert "not writing the report" in capsys.readouterr().err


def test_report_failure_disables_further_writes(tmp_path: Path) -> None:
    """After a refused report path, flushing again neither raises nor retries."""
    link = tmp_path / "report.jsonl"
    link.symlink_to(tmp_path / "elsewhere")
    reporter = Reporter(str(link))
    reporter.record(_finding(), "blocked")
    reporter.flush()
    reporter.flush()
    assert reporter.path is None
    assert not (tmp_path / "elsewhere").exists()


def test_report_file_is_created_owner_only(tmp_path: Path) -> None:
    """A new report file is readable and writable by its owner only."""
    path = tmp_path / "report.jsonl"
    reporter = Reporter(str(path))
    reporter.record(_finding(), "blocked")
    reporter.flush()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_report_lines_escape_control_characters(tmp_path: Path) -> None:
    """Newlines and escape codes from attacker text cannot forge report lines."""
    path = tmp_path / "report.jsonl"
    reporter = Reporter(str(path))
    reporter.record(_finding(), "blocked")
    reporter.flush()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert "\x1b" not in lines[0]
    assert json.loads(lines[0])["detail"].startswith("touch $(id)")

"""The command-line skeleton: version, help and usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import safeops
from safeops import cli


def _run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safeops", *args], capture_output=True, text=True, check=False
    )


def test_version_flag_prints_the_package_version() -> None:
    """`python -m safeops --version` prints the metadata version and exits 0."""
    result = _run_module("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"safeops {safeops.__version__}"


def test_help_lists_usage() -> None:
    """--help exits 0 and shows the program name."""
    result = _run_module("--help")
    assert result.returncode == 0
    assert "usage: safeops" in result.stdout


def test_unknown_subcommand_exits_2_with_a_clear_message() -> None:
    """A mistyped subcommand is a usage error, not a traceback."""
    result = _run_module("no-such-command")
    assert result.returncode == 2
    assert "invalid choice: 'no-such-command'" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_subcommand_prints_help_and_exits_2() -> None:
    """Running with no arguments shows help on stderr with a usage exit code."""
    result = _run_module()
    assert result.returncode == 2
    assert "usage: safeops" in result.stderr


def test_main_returns_exit_code_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """cli.main can be called in-process and returns the exit code."""
    assert cli.main([]) == 2
    assert "usage: safeops" in capsys.readouterr().err

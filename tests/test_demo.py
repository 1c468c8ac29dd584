"""``safeops demo``: the README's first command shows every attack stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from safeops import _permits


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    cwd = tmp_path_factory.mktemp("demo-cwd")
    with _permits.granted("process", reason="test runs the demo CLI", origin="application"):
        result = subprocess.run(
            [sys.executable, "-m", "safeops", "demo"],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
    assert list(cwd.iterdir()) == [], "the demo wrote outside its temporary directory"
    return result


def test_demo_exits_zero(demo_output: subprocess.CompletedProcess[str]) -> None:
    """Every attack was stopped, so the demo succeeds."""
    assert demo_output.returncode == 0, demo_output.stdout + demo_output.stderr


def test_demo_shows_every_original_failing(demo_output: subprocess.CompletedProcess[str]) -> None:
    """Each dangerous original is shown running the attacker's command."""
    unsafe = [line for line in demo_output.stdout.splitlines() if "UNSAFE" in line]
    assert any("pickle.loads" in line for line in unsafe)
    assert any("eval(" in line for line in unsafe)
    assert any("subprocess.run" in line for line in unsafe)


@pytest.mark.parametrize(
    "expected",
    [
        "serialize.loads: refused",
        "legacy.loads (reading old pickles): refused",
        "legacy.inspect flags it",
        "safe_eval: refused. UnsafeExpressionError",
        "safe_eval: refused. EvaluationLimitError",
        "run_cmd(['tar', ...], args=names): neutralised",
        "run_cmd(argv) with the option written into argv: refused",
        "os.system: blocked",
        "pickle.loads: blocked",
    ],
)
def test_demo_names_each_stopped_attack(
    demo_output: subprocess.CompletedProcess[str], expected: str
) -> None:
    """The report names every attack safeops stopped."""
    flat = " ".join(demo_output.stdout.split())
    assert expected in flat


def test_demo_reports_nothing_missing_or_failed(
    demo_output: subprocess.CompletedProcess[str],
) -> None:
    """No replacement is missing and none let an attack through."""
    assert "FAILED" not in demo_output.stdout
    assert "missing" not in demo_output.stdout
    assert "attacks that got through safeops:                 0" in demo_output.stdout

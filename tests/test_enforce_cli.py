"""``safeops run``: enforcement from interpreter start for a script or a module."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path


def safeops_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m safeops run ARGS`` in *tmp_path*."""
    return subprocess.run(
        [sys.executable, "-m", "safeops", "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def write(path: Path, code: str) -> Path:
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return path


def test_script_runs_as_main_with_its_arguments(tmp_path: Path) -> None:
    """The script sees its own argv and runs as __main__, with its directory on sys.path."""
    script = write(
        tmp_path / "app.py",
        """
        import json, os, sys
        print(json.dumps([sys.argv[1:], __name__, sys.path[0] == os.path.dirname(__file__)]))
        """,
    )
    result = safeops_run(tmp_path, "--", str(script), "a", "--flag")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [["a", "--flag"], "__main__", True]


def test_module_runs_with_dash_m(tmp_path: Path) -> None:
    """`-- -m module args` runs the module as __main__."""
    write(tmp_path / "tool.py", "import sys\nprint(__name__, sys.argv[1:])\n")
    result = safeops_run(tmp_path, "--", "-m", "tool", "x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "__main__ ['x']"


def test_console_script_runs_a_local_module_like_python_dash_m(tmp_path: Path) -> None:
    """The `safeops` console script puts the current directory first on sys.path for
    `-m`, as `python -m` does (local modules, test plugins; attack review 2, P5)."""
    write(tmp_path / "localtool.py", "print('local module ran')\n")
    script = Path(sys.executable).with_name("safeops")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "safeops"]
    result = subprocess.run(
        [*command, "run", "--no-summary", "--", "-m", "localtool"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "local module ran"


def test_enforcement_is_active_before_the_programs_imports(tmp_path: Path) -> None:
    """A module that shells out at import time is blocked during the import."""
    write(tmp_path / "noisy.py", "import os\nos.system('true')\n")
    script = write(tmp_path / "app.py", "import noisy\n")
    result = safeops_run(tmp_path, "--", str(script))
    assert result.returncode == 1
    assert "BlockedOperation" in result.stderr
    assert "noisy.py:2" in result.stderr


def test_exit_status_of_the_program_is_kept(tmp_path: Path) -> None:
    """sys.exit(3) in the program is the exit status of safeops run."""
    script = write(tmp_path / "app.py", "import sys\nsys.exit(3)\n")
    assert safeops_run(tmp_path, "--", str(script)).returncode == 3


def test_summary_table_is_printed_at_exit(tmp_path: Path) -> None:
    """warn mode lets the call through and the exit summary lists it with its count."""
    script = write(
        tmp_path / "app.py",
        """
        import os, warnings
        warnings.simplefilter("ignore")
        for _ in range(2):
            os.system("true")
        """,
    )
    result = safeops_run(tmp_path, "--mode", "warn", "--", str(script))
    assert result.returncode == 0
    assert "safeops enforce summary" in result.stderr
    assert "2      warned    process.shell" in result.stderr


def test_policy_file_and_report_are_used(tmp_path: Path) -> None:
    """--policy FILE (strict preset) refuses a list-form process; --report gets the record."""
    policy = write(tmp_path / "policy.toml", 'preset = "strict"\n')
    script = write(
        tmp_path / "app.py",
        """
        import subprocess
        try:
            subprocess.run(["true"])
        except PermissionError:
            print("blocked")
        """,
    )
    report = tmp_path / "report.jsonl"
    result = safeops_run(
        tmp_path, "--policy", str(policy), "--report", str(report), "--", str(script)
    )
    assert result.stdout.strip() == "blocked", result.stderr
    (record,) = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert (record["rule"], record["decision"]) == ("process.spawn", "blocked")


def test_pyproject_mode_key_sets_the_mode(tmp_path: Path) -> None:
    """`mode` in [tool.safeops] is used when --mode is not given."""
    pyproject = write(tmp_path / "pyproject.toml", '[tool.safeops]\nmode = "log"\n')
    script = write(tmp_path / "app.py", "import os\nprint(os.system('true'))\n")
    result = safeops_run(tmp_path, "--policy", str(pyproject), "--", str(script))
    assert result.stdout.strip() == "0"
    assert "logged" in result.stderr


def test_no_policy_is_discovered_from_the_working_directory(tmp_path: Path) -> None:
    """A pyproject.toml that relaxes everything is ignored unless named with --policy."""
    write(tmp_path / "pyproject.toml", '[tool.safeops]\nmode = "log"\nprocess = "off"\n')
    script = write(tmp_path / "app.py", "import os\nos.system('true')\n")
    result = safeops_run(tmp_path, "--", str(script))
    assert result.returncode == 1
    assert "BlockedOperation" in result.stderr


def test_missing_target_is_a_usage_error(tmp_path: Path) -> None:
    """`safeops run` with no program exits 2 with a message."""
    result = safeops_run(tmp_path)
    assert result.returncode == 2
    assert "name a program" in result.stderr

"""safeops inspect: table and JSON output, exit codes."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import pytest

from safeops.serialize.legacy import _cmd_inspect

VECTORS = Path(__file__).parent / "vectors" / "pickle"


def _inspect(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    _cmd_inspect.add_arguments(parser)
    return _cmd_inspect.run(parser.parse_args(list(argv)))


def test_benign_file_exits_0_and_says_safe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pickle of plain data exits 0 with a SAFE header."""
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps({"a": [1, 2]}))
    assert _inspect(str(path)) == 0
    assert f"{path}: SAFE" in capsys.readouterr().out


def test_dangerous_file_exits_1_and_names_the_call(capsys: pytest.CaptureFixture[str]) -> None:
    """os.system is shown with its argument, flagged DANGER."""
    assert _inspect(str(VECTORS / "p0_global_os_system.pkl")) == 1
    out = capsys.readouterr().out
    assert "DANGEROUS" in out
    assert "DANGER" in out and "os.system('touch safeops-pwned-marker')" in out


def test_one_dangerous_file_among_several_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The exit code reflects the worst file."""
    ok = tmp_path / "ok.pkl"
    ok.write_bytes(pickle.dumps(1))
    assert _inspect(str(ok), str(VECTORS / "p4_functools_partial.pkl")) == 1


def test_json_output_is_one_document_keyed_by_file(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints a JSON object with the report of each file."""
    paths = [str(VECTORS / "p4_stack_global_eval.pkl"), str(VECTORS / "p2_getattr_chain.pkl")]
    assert _inspect("--json", *paths) == 1
    document = json.loads(capsys.readouterr().out)
    assert set(document) == set(paths)
    assert document[paths[0]]["verdict"] == "dangerous"
    assert "builtins.eval" in document[paths[0]]["globals"]
    assert all(f["verdict"] in {"safe", "needs-allow", "dangerous"}
               for report in document.values() for f in report["findings"])  # fmt: skip


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unreadable file is reported and exits 2 when nothing is dangerous."""
    assert _inspect(str(tmp_path / "missing.pkl")) == 2
    assert "cannot read" in capsys.readouterr().out


def test_not_a_pickle_exits_2(tmp_path: Path) -> None:
    """Garbage that stops the walk exits 2."""
    path = tmp_path / "junk.pkl"
    path.write_bytes(b"\x80\x04\xff\xff")
    assert _inspect(str(path)) == 2


def test_allow_turns_an_application_class_safe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--allow marks the named class as safe, as convert --allow would load it."""
    path = tmp_path / "app.pkl"
    path.write_bytes(b"\x80\x04\x8c\x05myapp\x8c\x05Point\x93)\x81.")
    assert _inspect(str(path)) == 0
    assert "ALLOW?" in capsys.readouterr().out
    assert _inspect("--allow", "myapp.Point", str(path)) == 0
    assert "NEEDS-ALLOW" not in capsys.readouterr().out


def test_registered_subcommand_runs_through_python_m_safeops() -> None:
    """`python -m safeops inspect --json FILE` is wired into the CLI and exits 1."""
    import subprocess
    import sys

    path = str(VECTORS / "p2_getattr_chain.pkl")
    result = subprocess.run([sys.executable, "-m", "safeops", "inspect", "--json", path],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 1
    assert json.loads(result.stdout)[path]["verdict"] == "dangerous"


def test_allowing_a_gadget_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """--allow os.system exits 2 with a message, not a traceback."""
    assert _inspect("--allow", "os.system", str(VECTORS / "p0_global_os_system.pkl")) == 2
    assert "cannot be allowed" in capsys.readouterr().err

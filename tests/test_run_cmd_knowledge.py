"""Shell and wrapper knowledge shared by run_cmd and enforce (safeops.command._knowledge)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeops.command._knowledge import (
    ARG_EXECUTING_WRAPPERS,
    INTERPRETERS,
    SHELLS,
    find_shell_command,
    program_names,
)

VECTORS = json.loads(
    (pathlib.Path(__file__).parent / "vectors" / "cmd" / "shell_detection.json").read_text()
)


@pytest.mark.parametrize(("argv", "expected"), VECTORS["shell_commands"], ids=repr)
def test_shell_command_string_is_found(argv: list[str], expected: str) -> None:
    """A shell given a command string, directly or through wrappers, is recognised."""
    assert find_shell_command(argv) == expected


@pytest.mark.parametrize("argv", VECTORS["not_shell_commands"], ids=repr)
def test_no_shell_command_string_is_reported(argv: list[str]) -> None:
    """Commands that start no shell with a command string yield None."""
    assert find_shell_command(argv) is None


def test_symlink_to_a_shell_is_resolved(tmp_path: pathlib.Path) -> None:
    """A link with an innocent name pointing at a shell is recognised by its real path."""
    shell = shutil.which("dash") or shutil.which("bash") or "/bin/sh"
    link = tmp_path / "innocent"
    link.symlink_to(shell)
    assert find_shell_command([str(link), "-c", "x"]) == "x"


def test_bin_sh_real_name_is_among_program_names() -> None:
    """/bin/sh is known both as sh and as the shell it links to."""
    names = program_names("/bin/sh")
    assert "sh" in names
    assert os.path.basename(os.path.realpath("/bin/sh")) in names | {"sh"}


def test_bytes_and_pathlike_arguments_are_accepted() -> None:
    """argv may mix bytes, str and os.PathLike, as subprocess allows."""
    argv = [pathlib.Path("/bin/sh"), b"-c", "x\u00e9".encode()]
    assert find_shell_command(argv) == "x\u00e9"


def test_undecodable_bytes_survive_with_surrogates() -> None:
    """Bytes that are not UTF-8 are decoded with surrogateescape, never an error."""
    assert find_shell_command([b"sh", b"-c", b"\xff"]) == os.fsdecode(b"\xff")


def test_version_suffixes_are_normalised() -> None:
    """python3.12 and ksh93 are known by their family name."""
    assert "python" in program_names("python3.12")
    assert "ksh" in program_names("/usr/bin/ksh93")


def test_sets_cover_the_documented_programs() -> None:
    """The exported sets name the shells, interpreters and wrappers of the contract."""
    assert {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "csh", "tcsh", "fish"} <= SHELLS
    assert {"python", "perl", "ruby", "node", "php"} <= INTERPRETERS
    assert {"env", "xargs", "timeout", "nice", "nohup", "setsid", "stdbuf"} <= (
        ARG_EXECUTING_WRAPPERS
    )


def test_module_imports_only_the_stdlib() -> None:
    """Importing _knowledge alone loads no other safeops module."""
    code = (
        "import importlib.util, sys, json;"
        "spec = importlib.util.spec_from_file_location('k', sys.argv[1]);"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
        "print(json.dumps([n for n in sys.modules if n.startswith('safeops')]))"
    )
    path = pathlib.Path(__file__).parents[1] / "safeops" / "command" / "_knowledge.py"
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


_words = st.lists(st.text(max_size=12), max_size=10)
_programs = st.sampled_from([*sorted(SHELLS | ARG_EXECUTING_WRAPPERS), "ls", "git"])


@given(_programs, _words)
def test_never_raises_on_arbitrary_arguments(program: str, rest: list[str]) -> None:
    """Any argv of text gives a str or None, never an exception."""
    result = find_shell_command([program, *rest])
    assert result is None or isinstance(result, str)


@given(st.sampled_from(sorted(SHELLS - {"cmd", "pwsh", "powershell", "busybox", "toybox"})),
       st.text(min_size=1, max_size=20).filter(lambda s: not s.startswith(("-", "+"))))
def test_any_shell_with_dash_c_is_found(shell: str, command: str) -> None:
    """Every listed shell started as `SHELL -c COMMAND` yields COMMAND."""
    assert find_shell_command([shell, "-c", command]) == command


@given(st.lists(st.sampled_from([["nohup"], ["setsid"], ["nice", "-n", "1"], ["timeout", "9"],
                                 ["env", "-i"], ["stdbuf", "-oL"], ["env", "A=b"]]),
                max_size=6))
def test_wrapper_chains_are_followed(chain: list[list[str]]) -> None:
    """Any chain of wrappers in front of `sh -c CMD` is seen through."""
    argv = [word for link in chain for word in link] + ["sh", "-c", "CMD"]
    assert find_shell_command(argv) == "CMD"

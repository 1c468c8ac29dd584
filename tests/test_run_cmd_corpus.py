"""The injection corpus (tests/vectors/cmd/corpus.json) against raw subprocess and run_cmd.

For every case: run raw, it creates its marker file (so the payload is real); through
``run_cmd(argv, allow=[argv[0]])`` it does not (kind=code); and as untrusted ``args``
after the programmer's fixed words it never acts as an option (every kind).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from safeops import run_cmd
from safeops._permits import granted
from safeops.errors import SafeOpsError

CORPUS = pathlib.Path(__file__).parent / "vectors" / "cmd" / "corpus.json"

#: Programs a setup step needs besides the case's own program.
SETUP_NEEDS = {"git_repo": ["git"], "evil_so": ["gcc"], "tar": [], "evil_repo": ["git"],
               "hook_template": ["git"]}

_EVIL_C = (
    '#include <fcntl.h>\n#include <unistd.h>\n'
    '__attribute__((constructor)) static void evil(void) {{ '
    'int fd = open("{marker}", O_WRONLY | O_CREAT, 0644); if (fd >= 0) close(fd); }}\n'
)


@dataclass
class Case:
    """One corpus entry, with its placeholders filled in for one directory."""

    id: str
    kind: str
    split: int | None
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0])


def load_cases() -> list[dict[str, Any]]:
    """The raw corpus entries."""
    return list(json.loads(CORPUS.read_text())["cases"])


def _fill(text: str, tmp: pathlib.Path) -> str:
    return (
        text.replace("{tmp}", str(tmp))
        .replace("{marker}", str(tmp / "MARKER"))
        .replace("{python}", sys.executable)
    )


def missing_programs(entry: dict[str, Any]) -> list[str]:
    """Programs the case needs that are not installed (the only reason to skip)."""
    needed = [_fill(entry["argv"][0], pathlib.Path("/"))]
    for step in entry.get("setup", []):
        needed += SETUP_NEEDS.get(step, [])
    return [name for name in needed if shutil.which(name) is None]


def prepare_case(entry: dict[str, Any], tmp: pathlib.Path) -> Case:
    """Create the case's files in *tmp* and return it with placeholders filled."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.txt").write_text("hello\n")
    case = Case(
        id=entry["id"], kind=entry["kind"], split=entry["split"],
        argv=[_fill(a, tmp) for a in entry["argv"]],
        env={k: _fill(v, tmp) for k, v in entry.get("env", {}).items()},
        files={k: _fill(v, tmp) for k, v in entry.get("files", {}).items()},
        setup=list(entry.get("setup", [])), source=entry["source"],
    )
    for name, content in case.files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for step in case.setup:
        _SETUP[step](tmp)
    return case


def _evil_sh(tmp: pathlib.Path) -> None:
    script = tmp / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {tmp / 'MARKER'}\nexit 1\n")
    script.chmod(0o755)


def _bin_true(tmp: pathlib.Path) -> None:
    (tmp / "bin").mkdir(exist_ok=True)
    fake = tmp / "bin" / "true"
    fake.write_text(f"#!/bin/sh\n: > {tmp / 'MARKER'}\n")
    fake.chmod(0o755)


def _tar(tmp: pathlib.Path) -> None:
    with tarfile.open(tmp / "in.tar", "w") as archive:
        archive.add(tmp / "in.txt", arcname="in.txt")


def _raw(argv: list[str], **kwargs: Any) -> None:
    with granted("process", reason="test setup with fixed arguments", origin="application"):
        subprocess.run(argv, check=True, capture_output=True, **kwargs)


def _git_repo(tmp: pathlib.Path) -> None:
    repo = tmp / "repo"
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp)}
    _raw(["git", "init", "-q", str(repo)], env=env)
    _raw(["git", "-C", str(repo), "config", "user.email", "t@example.invalid"], env=env)
    _raw(["git", "-C", str(repo), "config", "user.name", "t"], env=env)
    _raw(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "x"], env=env)


def _evil_so(tmp: pathlib.Path) -> None:
    source = tmp / "evil.c"
    source.write_text(_EVIL_C.format(marker=tmp / "MARKER"))
    _raw(["gcc", "-shared", "-fPIC", "-o", str(tmp / "evil.so"), str(source)])


def _lines(tmp: pathlib.Path) -> None:
    # Enough lines that `sort -S 1k` spills to temporary files (and compresses them).
    (tmp / "lines.txt").write_text("".join(f"{n}\n" for n in range(20000)))


def _parts_dir(tmp: pathlib.Path) -> None:
    # A directory of executables, as run-parts runs them.
    (tmp / "parts").mkdir(exist_ok=True)
    script = tmp / "parts" / "evil"
    script.write_text(f"#!/bin/sh\ntouch {tmp / 'MARKER'}\n")
    script.chmod(0o755)


def _evil_repo(tmp: pathlib.Path) -> None:
    # An untrusted checkout: its own .git/config and hooks name commands (added last, so
    # the setup's own git commands run none of them).
    _git_repo(tmp)
    _evil_sh(tmp)
    repo = tmp / "repo"
    (repo / "tracked").write_text("a\n")
    _raw(["git", "-C", str(repo), "add", "tracked"])
    _raw(["git", "-C", str(repo), "commit", "-q", "-m", "t"])
    with (repo / ".git" / "config").open("a") as config:
        config.write(f"[core]\n\tfsmonitor = {tmp / 'evil.sh'}\n"
                     f"[diff]\n\texternal = {tmp / 'evil.sh'}\n")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text((tmp / "evil.sh").read_text())
    hook.chmod(0o755)
    (repo / "tracked").write_text("b\n")


def _hook_template(tmp: pathlib.Path) -> None:
    # A template directory whose hooks/post-checkout is an attacker script.
    _git_repo(tmp)
    _evil_sh(tmp)
    (tmp / "tpl" / "hooks").mkdir(parents=True)
    hook = tmp / "tpl" / "hooks" / "post-checkout"
    hook.write_text((tmp / "evil.sh").read_text())
    hook.chmod(0o755)


_SETUP = {"evil_sh": _evil_sh, "bin_true": _bin_true, "tar": _tar, "git_repo": _git_repo,
          "evil_so": _evil_so, "lines": _lines, "parts_dir": _parts_dir,
          "evil_repo": _evil_repo, "hook_template": _hook_template}


def run_raw(case: Case, tmp: pathlib.Path) -> None:
    """Run the case with plain subprocess.run, as vulnerable code would."""
    env = {**os.environ, **case.env} if case.env else None
    with granted("process", reason="injection corpus: proving the payload is real",
                 origin="application"), contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(case.argv, env=env, cwd=tmp, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30, check=False)


def run_safe(case: Case, tmp: pathlib.Path, *, as_args: bool) -> None:
    """Run the case through run_cmd; a refusal is one of the accepted outcomes."""
    allow = [case.program]
    try:
        if as_args:
            assert case.split is not None
            run_cmd(case.argv[: case.split], args=case.argv[case.split :], allow=allow,
                    cwd=tmp, check=False, timeout=30)
        else:
            run_cmd(case.argv, allow=allow, env=case.env or None, cwd=tmp, check=False,
                    timeout=30)
    except SafeOpsError:
        pass


def _params(selector: Any) -> Iterator[Any]:
    for entry in load_cases():
        if not selector(entry):
            continue
        marks = []
        missing = missing_programs(entry)
        if missing:
            marks.append(pytest.mark.skip(reason=f"not installed: {', '.join(missing)}"))
        yield pytest.param(entry, id=entry["id"], marks=marks)


@pytest.fixture
def case_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    # Outside the default temp dir is not needed: run_cmd only refuses *executables*
    # in temporary directories, and every program here comes from the search path.
    return tmp_path


@pytest.mark.parametrize("entry", list(_params(lambda e: True)))
def test_raw_subprocess_runs_the_payload(entry: dict[str, Any], case_dir: pathlib.Path) -> None:
    """Run raw with subprocess.run, the payload creates its marker (the case is real)."""
    case = prepare_case(entry, case_dir)
    run_raw(case, case_dir)
    assert (case_dir / "MARKER").exists()


@pytest.mark.parametrize("entry", list(_params(lambda e: e["kind"] == "code")))
def test_run_cmd_argv_does_not_run_the_payload(
    entry: dict[str, Any], case_dir: pathlib.Path
) -> None:
    """Through run_cmd(argv, allow=[argv[0]]) the payload runs no command."""
    case = prepare_case(entry, case_dir)
    run_safe(case, case_dir, as_args=False)
    assert not (case_dir / "MARKER").exists()


@pytest.mark.parametrize("entry", list(_params(lambda e: e["split"] is not None)))
def test_untrusted_args_never_act_as_options(
    entry: dict[str, Any], case_dir: pathlib.Path
) -> None:
    """As untrusted args after the fixed words, the payload never acts as an option."""
    case = prepare_case(entry, case_dir)
    run_safe(case, case_dir, as_args=True)
    assert not (case_dir / "MARKER").exists()

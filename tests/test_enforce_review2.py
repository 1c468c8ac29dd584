"""Legitimate workloads that the fixes for the second batch of enforce findings of the
attack review (docs/reviews/2026-11-28/enforce.md: E2, E4, E9, E11, E12, E13) must keep
working, and attack variants that do not fit the one-line harness of
tests/vectors/enforce/attacks-process.json.

Everything that installs the hook runs in a fresh interpreter (hooks cannot be removed).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeops.enforce._command_programs import sed_runs_commands
from safeops.enforce._programs import find_code_use

PRELUDE = """\
import json, sys
import safeops
from safeops.enforce import Policy
from safeops.errors import BlockedOperation
HANDLE = safeops.enforce("block", policy=Policy.strict() if sys.argv[1] == "strict" else Policy())
RESULTS = {}

def outcome(function):
    try:
        function()
    except BlockedOperation as error:
        RESULTS[function.__name__] = "blocked " + error.context["rule"]
    except BaseException as error:
        RESULTS[function.__name__] = f"{type(error).__name__}: {error}"[:2000]
    else:
        RESULTS[function.__name__] = "ok"
    return function
"""

EPILOGUE = """
RESULTS["__report__"] = HANDLE.records()
print("RESULTS " + json.dumps(RESULTS, default=str))
"""


def run_script(body: str, tmp_path: Path, policy: str = "default") -> dict[str, Any]:
    """Run *body* after the prelude in a fresh interpreter; returns its results (plus
    its stderr under ``__stderr__``)."""
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + EPILOGUE, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), policy, str(tmp_path / "canary")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    results: dict[str, Any] = json.loads(lines[-1][len("RESULTS ") :])
    results["__stderr__"] = result.stderr
    return results


# --- E13: process="all" exempts only multiprocessing's own worker starts ---------------

POOLS = """
import concurrent.futures, multiprocessing

def square(x):
    return x * x

if __name__ == "__main__":
    for method in ("fork", "spawn", "forkserver"):
        def pools(method=method):
            context = multiprocessing.get_context(method)
            with context.Pool(2, maxtasksperchild=1) as pool:
                assert pool.map(square, [1, 2, 3]) == [1, 4, 9]
            with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as executor:
                assert list(executor.map(square, [4, 5])) == [16, 25]
            with context.Manager() as manager:
                shared = manager.dict()
                shared["a"] = 1
                assert shared["a"] == 1
        pools.__name__ = "pools_" + method
        outcome(pools)
"""


@pytest.mark.slow
def test_process_pools_managers_keep_working_under_the_strict_process_rule(
    tmp_path: Path,
) -> None:
    """E13: Pool, ProcessPoolExecutor and managers start their workers under
    process="all" with fork, spawn and forkserver, and nothing is recorded."""
    results = run_script(POOLS, tmp_path, policy="strict")
    del results["__stderr__"]
    assert results.pop("__report__") == []
    assert results == {"pools_fork": "ok", "pools_spawn": "ok", "pools_forkserver": "ok"}


HANDED_TO_PROCESS = """
import multiprocessing, subprocess

if __name__ == "__main__":
    @outcome
    def process_target_is_a_spawn_function():
        context = multiprocessing.get_context("fork")
        process = context.Process(target=subprocess.run, args=(["touch", sys.argv[2]],))
        process.start()
        process.join()
        assert process.exitcode == 1, process.exitcode
"""


def test_a_forked_child_running_a_handed_spawn_function_is_refused(tmp_path: Path) -> None:
    """E13: Process(target=subprocess.run) under process="all": multiprocessing may fork
    its worker, but the worker's call of the handed spawn function is refused."""
    results = run_script(HANDED_TO_PROCESS, tmp_path, policy="strict")
    assert results["process_target_is_a_spawn_function"] == "ok"
    assert "BlockedOperation: safeops blocked subprocess.Popen (process.spawn)" in results[
        "__stderr__"
    ]
    assert not (tmp_path / "canary").exists()


# --- E4: programs handed code, under the default "shells" process rule ----------------

CODE_PROGRAMS = """
import os, subprocess, textwrap
from pathlib import Path
from safeops import CommandPolicy, Program, run_cmd

HERE = Path(sys.argv[2]).parent
(HERE / "hello.py").write_text("print('script')\\n")
(HERE / "script.sh").write_text("echo shell-script\\n")
(HERE / "data.txt").write_text("root:x:0\\nuser:y:1\\n")
PROGRAM = textwrap.dedent(
    '''
    import sys
    print("module constant", sys.version_info[0])
    '''
)

def run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=HERE, **kwargs)
    return result.stdout

@outcome
def python_script_module_and_literal_code():
    assert run([sys.executable, "hello.py"]) == "script\\n"
    assert run([sys.executable, "-m", "json.tool", "--help"]).startswith("usage")
    assert run([sys.executable, "-c", "print(6 * 7)"]) == "42\\n"
    assert run([sys.executable, "-I", "-c", PROGRAM]).startswith("module constant")
    assert run([sys.executable, "-V"]).startswith("Python")
    assert run(["env", sys.executable, "hello.py"]) == "script\\n"

@outcome
def shells_with_a_script_file():
    assert run(["sh", "script.sh"]) == "shell-script\\n"
    assert run(["sh", "-e", "script.sh"]) == "shell-script\\n"
    assert run(["bash", "--version"]).startswith("GNU bash")

@outcome
def git_with_plain_configuration():
    run(["git", "init", "-q", "repo"])
    repo = str(HERE / "repo")
    run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid",
         "commit", "-q", "--allow-empty", "-m", "a message with -c and !bang"])
    run(["git", "-C", repo, "-c", "safe.directory=*", "-c", "core.fsmonitor=false",
         "-c", "alias.st=status", "st", "--short"])

@outcome
def awk_and_sed_programs_that_run_no_command():
    assert run(["awk", "-F:", '$1 == "root" || $2 == "y" {print $3}', "data.txt"]) == "0\\n1\\n"
    assert run(["mawk", "{ n += length($0) } END { print n }", "data.txt"]) == "16\\n"
    assert run(["sed", "-n", "-e", "s/e/E/gp", "data.txt"]) == "usEr:y:1\\n"
    assert run(["sed", "/root/d; s/user/u/", "data.txt"]) == "u:y:1\\n"
    assert run(["gawk", "--sandbox", "BEGIN { print 1 }"]) == "1\\n"

@outcome
def perl_and_node_literal_code():
    assert run(["perl", "-le", "print 6 * 7"]) == "42\\n"
    assert run(["node", "-e", "console.log(6 * 7)"]) == "42\\n"

@outcome
def run_cmd_with_an_opted_in_interpreter():
    python = Program("python", unsafe_allow_code=True, path=os.path.realpath(sys.executable))
    code = "print(" + "6 * 7" + ")"  # built at run time: run_cmd's permit covers it
    result = run_cmd([sys.executable, "-c", code],
                     allow=CommandPolicy(programs=(python,), unsafe_allow_writable_locations=True))
    assert result.stdout == "42\\n"
"""


@pytest.fixture(scope="module")
def code_programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_script(CODE_PROGRAMS, tmp_path_factory.mktemp("code-programs"))


@pytest.mark.parametrize(
    "name",
    [
        "python_script_module_and_literal_code",
        "shells_with_a_script_file",
        "git_with_plain_configuration",
        "awk_and_sed_programs_that_run_no_command",
        "perl_and_node_literal_code",
        "run_cmd_with_an_opted_in_interpreter",
    ],
)
def test_programs_without_injected_code_keep_working(
    code_programs: dict[str, Any], name: str
) -> None:
    """E4: scripts, -m modules, literal -c/-e code, plain git/awk/sed and run_cmd's
    opted-in interpreters run under the default policy."""
    assert code_programs[name] == "ok"


def test_programs_without_injected_code_leave_an_empty_report(
    code_programs: dict[str, Any],
) -> None:
    """E4: none of the legitimate code-program workloads is even recorded."""
    assert code_programs["__report__"] == []


LIBRARY = '''
import subprocess, sys

def interpreter_version():
    code = f"import sys; print(sys.version_info[{0}])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout

def run_snippet(snippet):
    return subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True).stdout
'''

INSTALLED_LIBRARY = """
sys.path.insert(0, str(__import__("pathlib").Path(sys.argv[2]).parent / "site-packages"))
import fakelib

@outcome
def library_writes_its_own_code():
    assert fakelib.interpreter_version() == "3\\n"

@outcome
def library_runs_code_handed_by_the_application():
    fakelib.run_snippet(sys.argv[2] and "open(" + repr(sys.argv[2]) + ", 'w')")
"""


def test_inline_code_is_judged_by_who_wrote_it(tmp_path: Path) -> None:
    """E4: an installed library's own generated -c code runs; the same library running
    code the application handed it is refused, like a text runner for eval."""
    (tmp_path / "site-packages").mkdir()
    (tmp_path / "site-packages" / "fakelib.py").write_text(LIBRARY, encoding="utf-8")
    results = run_script(INSTALLED_LIBRARY, tmp_path)
    assert results["library_writes_its_own_code"] == "ok"
    assert results["library_runs_code_handed_by_the_application"] == "blocked process.code"
    assert not (tmp_path / "canary").exists()


# --- E9: template code starting processes ---------------------------------------------

TEMPLATES = """
import subprocess
with safeops.permit("dynamic_code", reason="jinja2's import is not what this test pins"):
    import jinja2

def git_version():
    return subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.split()[0]

@outcome
def template_calling_an_application_helper_that_spawns():
    rendered = jinja2.Template("{{ helper() }} {{ 6 * 7 }}").render(helper=git_version)
    assert rendered == "git 42"

@outcome
def application_spawning_around_template_rendering():
    text = jinja2.Environment().from_string("Hello {{ name }}").render(name="world")
    assert subprocess.run(["echo", text], capture_output=True, text=True).stdout == "Hello world\\n"

@outcome
def template_calling_popen_directly():
    jinja2.Template("{{ popen(['true']).wait() }}").render(popen=subprocess.Popen)

@outcome
def sandboxed_template_calling_popen_directly():
    import jinja2.sandbox
    environment = jinja2.sandbox.SandboxedEnvironment()
    environment.from_string("{{ popen(['true']).wait() }}").render(popen=subprocess.Popen)
"""


def test_templates_spawn_only_through_application_helpers(tmp_path: Path) -> None:
    """E9: a template may call an application helper that starts a process; template code
    starting one itself (what SSTI does) is refused."""
    pytest.importorskip("jinja2")
    results = run_script(TEMPLATES, tmp_path)
    assert results["template_calling_an_application_helper_that_spawns"] == "ok"
    assert results["application_spawning_around_template_rendering"] == "ok"
    assert results["template_calling_popen_directly"] == "blocked process.template"
    assert results["sandboxed_template_calling_popen_directly"] == "blocked process.template"


# --- E11: fexecve --------------------------------------------------------------------

FEXECVE = """
import os, shutil

@outcome
def fexecve_of_a_plain_program():
    fd = os.open(shutil.which("true"), os.O_RDONLY)
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ["true"], {})
        finally:
            os._exit(7)
    assert os.waitpid(pid, 0)[1] == 0
"""


def test_fexecve_of_a_program_that_is_not_a_shell_runs(tmp_path: Path) -> None:
    """E11: os.execve of a descriptor is judged by the file it refers to: /bin/true runs."""
    results = run_script(FEXECVE, tmp_path)
    assert results["fexecve_of_a_plain_program"] == "ok"
    assert results["__report__"] == []


# --- E2: BUILD on allow-listed classes --------------------------------------------------

CLASSES = """
import collections, copy, pickle, uuid
from unittest import mock

@outcome
def allow_listed_classes_round_trip_through_pickle():
    values = [collections.Counter(a=2), collections.ChainMap({"a": 1}, {"b": 2}),
              uuid.UUID(int=7), uuid.SafeUUID.safe, collections.OrderedDict(a=1)]
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        for value in values:
            assert pickle.loads(pickle.dumps(value, protocol)) == value
            assert pickle._loads(pickle._dumps(value, protocol)) == value

@outcome
def instances_keep_their_attributes_through_pickle_and_copy():
    chain = collections.ChainMap({"a": 1})
    chain.note = "kept"
    assert pickle.loads(pickle.dumps(chain, 4)).note == "kept"
    assert copy.deepcopy(chain).note == "kept"
    assert not hasattr(collections.Counter(), "__setstate__")

@outcome
def python_code_still_sets_class_attributes():
    with mock.patch.object(collections.Counter, "most_common", lambda self, n=None: ["m"]):
        assert collections.Counter(a=1).most_common() == ["m"]
    setattr(collections.ChainMap, "reviewed_helper", 1)
    collections.Counter.reviewed_flag = True
    assert collections.ChainMap.reviewed_helper == 1 and collections.Counter.reviewed_flag
"""


def test_allow_listed_classes_keep_working_under_the_build_guard(tmp_path: Path) -> None:
    """E2: pickling, copying and Python-level patching of Counter, ChainMap, UUID and
    SafeUUID work as before under block mode, with nothing recorded."""
    results = run_script(CLASSES, tmp_path)
    assert results["allow_listed_classes_round_trip_through_pickle"] == "ok"
    assert results["instances_keep_their_attributes_through_pickle_and_copy"] == "ok"
    assert results["python_code_still_sets_class_attributes"] == "ok"
    assert results["__report__"] == []


WARNED_BUILD = """
import collections, pickle, warnings
HANDLE = safeops.enforce("warn", unsafe_relax=True)
warnings.simplefilter("ignore")

@outcome
def build_on_a_class_goes_through_in_warn_mode():
    pickle.loads(b"ccollections\\nCounter\\n(N}Vreviewed\\ncbuiltins\\nslice\\nstb.")
    assert collections.Counter.reviewed is slice
"""


def test_build_on_a_class_is_recorded_and_applied_in_warn_mode(tmp_path: Path) -> None:
    """E2: in warn mode the BUILD goes through as pickle would do it, and is recorded."""
    results = run_script(WARNED_BUILD, tmp_path)
    assert results["build_on_a_class_goes_through_in_warn_mode"] == "ok"
    assert [(r["rule"], r["decision"]) for r in results["__report__"]] == [
        ("pickle.build_class", "warned")
    ]
    assert results["__report__"][0]["detail"] == "collections.Counter: reviewed"


# --- E12: details in messages ----------------------------------------------------------

FORGED = """
import os, warnings

@outcome
def blocked_message_escapes_control_characters():
    try:
        os.system("ls\\n2026-11-28 INFO user admin logged in OK\\x1b[2K")
    except BlockedOperation as error:
        message = str(error)
        assert "\\n" not in message and "\\x1b" not in message, message
        assert "Detail: ls\\\\n2026-11-28 INFO user admin logged in OK\\\\x1b[2K." in message
    else:
        raise AssertionError("not blocked")

@outcome
def warning_escapes_control_characters():
    safeops.enforce("warn", unsafe_relax=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.system("true\\rforged\\u202e")
    text = str(caught[0].message)
    assert "\\r" not in text and "\\u202e" not in text and "true\\\\rforged\\\\u202e" in text

@outcome
def printable_details_stay_readable():
    try:
        os.system("tar czf /backups/2024.tgz /srv/data")
    except BlockedOperation as error:
        assert "Detail: tar czf /backups/2024.tgz /srv/data." in str(error)
"""


def test_block_and_warn_messages_never_carry_raw_control_characters(tmp_path: Path) -> None:
    """E12: newlines, ANSI escapes and bidi overrides from a refused command are escaped in
    the BlockedOperation message and the warning; printable commands are quoted as written."""
    results = run_script(FORGED, tmp_path)
    assert results["blocked_message_escapes_control_characters"] == "ok"
    assert results["warning_escapes_control_characters"] == "ok"
    assert results["printable_details_stay_readable"] == "ok"


# --- E4: the argument-vector knowledge, as a pure function ------------------------------

CODE_USES = [
    # (argv split at spaces, "_" standing for a space inside one word; expected kind)
    ("python3 -c CODE", "inline"),
    ("python -IBc CODE", "inline"),
    ("python -W ignore -X dev -c CODE", "inline"),
    ("python -", "stdin"),
    ("python", "stdin"),
    ("python -m pytest -c pytest.ini", None),
    ("python script.py -c x", None),
    ("python -V", None),
    ("perl -lne CODE", "inline"),
    ("perl -i.bak -pe CODE file", "inline"),
    ("perl -I lib script.pl", None),
    ("ruby -W0 -e CODE", "inline"),
    ("node --eval=CODE", "inline"),
    ("node -pe CODE", "inline"),
    ("node app.js", None),
    ("php -r CODE", "inline"),
    ("gdb -batch -ex CODE", "inline"),
    ("sh", "command"),
    ("bash -s arg", "command"),
    ("sh -", "command"),
    ("bash --norc", "command"),
    ("sh script.sh", None),
    ("bash -o errexit script.sh", None),
    ("bash --version", None),
    ("sh -c CMD", None),  # a command string: find_shell_command's case
    ("xargs sh", None),  # xargs appends the script operand
    ("xargs -0 python3", None),
    ("xargs -0 python3 -c CODE", "inline"),
    ("env -i PATH=/bin python3 -c CODE", "inline"),
    ("timeout 5 nice -n 3 perl -e CODE", "inline"),
    ("find . -name x -exec python -c CODE ;", "inline"),
    ("busybox sh", "command"),
    ("git -c alias.x=!cmd x", "command"),
    ("git -c ALIAS.X=!cmd x", "command"),
    ("git -c alias.st=status st", None),
    ("git -c core.sshCommand=cmd fetch", "command"),
    ("git -c core.fsmonitor=false status", None),
    ("git -c safe.directory=* status", None),
    ("git --exec-path=/tmp/x status", "command"),
    ("git rebase -x make", "command"),
    ("git rebase --exec=make main", "command"),
    ("git cherry-pick -x abc", None),
    ("git submodule foreach cmd", "command"),
    ("git commit -m -c", None),
    ("awk {print}", None),
    ("awk -F: BEGIN{system(CMD)}", "command"),
    ("gawk -e BEGIN{x=1} -e END{print|CMD}", "command"),
    ("awk $1||$2", None),
    ("awk /foo|bar/", None),
    ("awk {print_\"a|b\"}", None),
    ("awk x=a/2;print|CMD;y=b/3", "command"),
    ("awk BEGIN{CMD|getline}", "command"),
    ("gawk --sandbox BEGIN{system(CMD)}", None),
    ("awk -f prog.awk file", None),
    ("awk -l ext BEGIN{}", "command"),
    ("sed -n 1e", "command"),
    ("sed /x/e", "command"),
    ("sed s/a/b/ge", "command"),
    ("sed -e s/a/b/g -e 5e", "command"),
    ("sed s/e/E/g", None),
    ("sed /e/d", None),
    ("sed y/abc/efg/", None),
    ("sed --sandbox 1e", None),
    ("sed -i.e s/x/y/ file", None),
    ("sqlite3 db .shell", "command"),
    ("sqlite3 db .tables", None),
    ("sqlite3 db .once_'|cmd'", "command"),
    ("git clone ext::sh_-c_cmd dir", "command"),
    ("php -f script.php", None),
    ("php", "stdin"),
]


@pytest.mark.parametrize(("command", "kind"), CODE_USES, ids=[c for c, _ in CODE_USES])
def test_find_code_use_recognises_code_handed_to_programs(command: str, kind: str | None) -> None:
    """E4: each argument vector is classified as inline code, stdin code, a command, or none."""
    found = find_code_use([word.replace("_", " ") for word in command.split(" ")])
    assert (found.kind if found is not None else None) == kind


def test_find_code_use_reports_the_inline_code() -> None:
    """E4: the inline code itself is reported (bundled and attached forms included)."""
    for argv in (["python", "-cprint(1)"], ["perl", "-ne", "print(1)"], ["node", "--eval=print(1)"],
                 ["env", "python3", "-Bc", "print(1)"]):
        found = find_code_use(argv)
        assert found is not None and found.text == "print(1)"


def test_sed_script_before_a_double_dash_is_judged() -> None:
    """E4 variant: GNU sed permutes operands and `--` only ends the options, so
    `sed 'e CMD' -- FILE` runs CMD; the script before `--` must be judged."""
    found = find_code_use(["sed", "e touch x", "--", "file"])
    assert found is not None and found.kind == "command"


SED_SCRIPTS = [
    ("1e touch x", True),
    ("/re/ e", True),
    ("$!e", True),
    ("1,5{e\n}", True),
    ("s/a/b/w out\ne", True),
    ("s|a|b|e", True),
    ("s/a/b/;e", True),
    ("s/e/E/g", False),
    ("/e/d", False),
    ("y/e/f/", False),
    ("a text e", False),
    ("a\\\ne not a command\np", False),
    ("1i\\\nline one\\\ne line two", False),
    ("# e comment\np", False),
    ("b end\n:end", False),
    ("s/[/]/x/", False),
]


@pytest.mark.parametrize(("script", "runs"), SED_SCRIPTS)
def test_sed_script_parser_finds_the_e_command(script: str, runs: bool) -> None:
    """E4: GNU sed's e command and s///e flag are found; text, labels, comments and
    patterns containing the letter e are not commands."""
    assert sed_runs_commands(script) is runs


@given(st.lists(st.sampled_from(
    ["python", "sh", "perl", "awk", "sed", "git", "env", "xargs", "-c", "-e", "-s", "-", "--",
     "-x", "e", "s/a/b/e", "alias.x=!y", "BEGIN{system(1)}", "-m", "x", "--eval", "1e"]
), max_size=8))
def test_find_code_use_never_raises(argv: list[str]) -> None:
    """E4: any argument vector is classified without an exception (it runs inside the hook)."""
    found = find_code_use(argv)
    assert found is None or found.kind in ("inline", "stdin", "command")


@pytest.mark.parametrize(
    ("argv", "script"),
    [
        (["sed", "--expr=e touch x", "file"], "e touch x"),
        (["sed", "--exp", "e touch x", "-e", "p", "file"], "e touch x"),
        (["gawk", "--sourc=BEGIN{system(\"touch x\")}"], "BEGIN{system(\"touch x\")}"),
        # POSIXLY_CORRECT: sed stops at the first operand, which is then the script.
        (["sed", "e touch x", "-e", "p", "in.txt"], "e touch x"),
    ],
)
def test_abbreviated_long_options_and_posix_order_are_judged(
    argv: list[str], script: str
) -> None:
    """Review of 2026-11-28 (session 3): getopt_long takes unambiguous prefixes of long
    options, and POSIXLY_CORRECT sed does not permute."""
    found = find_code_use(argv)
    assert found is not None and found.kind == "command" and found.text == script


@pytest.mark.parametrize(
    "argv",
    [["sed", "--sand", "e touch x", "file"], ["gawk", "--sandb", "BEGIN{system(\"x\")}"],
     ["sed", "-e", "p", "data.txt"], ["sed", "data.txt", "-e", "p"], ["sed", "--quiet", "p"]],
)  # fmt: skip
def test_sandboxed_or_harmless_sed_and_awk_stay_allowed(argv: list[str]) -> None:
    assert find_code_use(argv) is None

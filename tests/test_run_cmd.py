"""run_cmd: argument handling, resolution, environment, execution limits."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

from safeops import CommandPolicy, CommandResult, Program, run_cmd
from safeops.errors import (
    CommandFailedError,
    CommandNotFoundError,
    CommandTimeoutError,
    ConfigurationError,
    OutputLimitError,
    UnsafeCommandError,
)

SH = Program("sh", unsafe_allow_code=True)
PYTHON = Program("python", unsafe_allow_code=True, path=os.path.realpath(sys.executable))


def test_runs_a_program_and_returns_its_output() -> None:
    """A plain program runs and its output comes back as text."""
    result = run_cmd(["echo", "hello"])
    assert isinstance(result, CommandResult)
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello\n", "")


def test_argv_records_the_resolved_executable() -> None:
    """The result's argv starts with the absolute path that ran."""
    result = run_cmd(["echo", "x"])
    assert os.path.isabs(result.argv[0])
    assert os.path.basename(result.argv[0]) == "echo"


def test_bytes_output_when_text_is_false() -> None:
    """text=False returns bytes."""
    assert run_cmd(["printf", "\\377"], text=False).stdout == b"\xff"


def test_string_argv_is_refused_with_the_list_form() -> None:
    """A command line string is refused and the message shows the list to pass."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd("ls -l /tmp")  # type: ignore[call-overload]
    assert "['ls', '-l', '/tmp']" in str(caught.value)
    assert caught.value.context["rule"] == "string-argv"


@pytest.mark.parametrize("bad", ["a\0b", "a\nb", "a\rb"])
def test_control_characters_are_refused(bad: str) -> None:
    """NUL, CR and LF inside an argument are refused."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["echo"], args=[bad])
    assert caught.value.context["rule"] == "control-character"


def test_bytes_and_pathlike_arguments_are_accepted(tmp_path: pathlib.Path) -> None:
    """argv may hold bytes and os.PathLike objects."""
    (tmp_path / "f").write_text("data")
    result = run_cmd([b"cat", tmp_path / "f"])
    assert result.stdout == "data"


def test_non_zero_exit_raises_command_failed() -> None:
    """check=True turns a failing exit status into CommandFailedError."""
    with pytest.raises(CommandFailedError) as caught:
        run_cmd(["false"])
    assert caught.value.returncode == 1
    assert isinstance(caught.value, subprocess.CalledProcessError)


def test_check_false_returns_the_failure() -> None:
    """check=False returns the result of a failing command."""
    assert run_cmd(["false"], check=False).returncode == 1


def test_unknown_program_raises_not_found() -> None:
    """A program absent from the safe search path raises CommandNotFoundError."""
    with pytest.raises(CommandNotFoundError):
        run_cmd(["no-such-program-safeops"])


def test_callers_path_is_ignored(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake program first on the caller's PATH is never chosen."""
    fake = tmp_path / "echo"
    fake.write_text("#!/bin/sh\necho fake\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert run_cmd(["echo", "real"]).stdout == "real\n"


def test_relative_program_path_is_refused() -> None:
    """./tool is refused unless the policy allows relative paths."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["./tool"])
    assert caught.value.context["rule"] == "relative-path"


def test_program_in_temporary_directory_is_refused(tmp_path: pathlib.Path) -> None:
    """An executable inside a temporary directory is refused."""
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd([str(tool)])
    assert caught.value.context["rule"] == "writable-location"


def test_writable_location_can_be_allowed_deliberately(tmp_path: pathlib.Path) -> None:
    """CommandPolicy(unsafe_allow_writable_locations=True) lets it run."""
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\necho ran\n")
    tool.chmod(0o755)
    policy = CommandPolicy(any_program=True, unsafe_allow_writable_locations=True)
    assert run_cmd([str(tool)], allow=policy).stdout == "ran\n"


def test_allow_list_refuses_other_programs() -> None:
    """With allow=[...] only the listed programs run."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["echo", "x"], allow=["git"])
    assert caught.value.context["rule"] == "allow-list"


def test_shell_is_refused_even_when_allow_listed() -> None:
    """A plain allow entry is not an opt-in for a shell."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["sh", "-c", "echo x"], allow=["sh"])
    assert caught.value.context["rule"] == "shell"


def test_shell_through_symlinked_name_is_refused() -> None:
    """/bin/sh is recognised through its real path (dash, bash, busybox)."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["/bin/sh", "-c", "echo x"])
    assert caught.value.context["rule"] in ("shell", "multicall")


def test_interpreter_is_refused() -> None:
    """Language interpreters are refused by default."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["perl", "-e", "print 1"])
    assert caught.value.context["rule"] == "interpreter"


def test_shell_runs_with_a_named_opt_in() -> None:
    """Program('sh', unsafe_allow_code=True) opts in deliberately."""
    assert run_cmd(["sh", "-c", "echo $0", "x"], allow=[SH]).stdout == "x\n"


def test_busybox_is_refused_unless_a_rule_names_it() -> None:
    """Multi-call binaries run whatever applet is named: refused."""
    if shutil.which("busybox") is None:
        pytest.skip("busybox not installed")
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["busybox", "echo", "x"], allow=["busybox"])
    assert caught.value.context["rule"] == "multicall"


def test_untrusted_args_go_after_double_dash() -> None:
    """args are appended after `--`, so they are never options."""
    result = run_cmd(["ls"], args=["--help"], check=False)
    assert result.argv[-2:] == ("--", "--help")
    assert result.returncode != 0


def test_dash_args_refused_where_double_dash_is_not_honoured() -> None:
    """find does not honour `--`: option-like args are refused."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["find", "."], args=["-delete"])
    assert caught.value.context["rule"] == "option-like-arg"


def test_env_names_are_checked() -> None:
    """An environment variable outside the allow-list is refused."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["true"], env={"LD_PRELOAD": "/x.so"})
    assert caught.value.context["rule"] == "environment"
    assert "loader" in str(caught.value)


def test_allowed_env_names_pass() -> None:
    """Locale and time zone variables are passed."""
    result = run_cmd(["env"], env={"TZ": "UTC", "LC_ALL": "C"})
    assert "TZ=UTC" in result.stdout.splitlines()


def test_program_rule_declares_env_names() -> None:
    """Program(env={...}) lets that program receive the names it declares."""
    result = run_cmd(["env"], env={"MY_SETTING": "1"}, allow=[Program("env", env={"MY_SETTING"})])
    assert "MY_SETTING=1" in result.stdout.splitlines()


def test_program_rule_cannot_declare_dangerous_env() -> None:
    """Program(env={'LD_PRELOAD'}) is a configuration error: it needs unsafe_env."""
    with pytest.raises(ConfigurationError):
        Program("git", env={"LD_PRELOAD"})


def test_unsafe_env_opts_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """unsafe_env=[...] passes a refused name deliberately."""
    result = run_cmd(["env"], env={"GIT_DIR": "/x"}, unsafe_env=["GIT_DIR"])
    assert "GIT_DIR=/x" in result.stdout.splitlines()


def test_environment_is_minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the caller's environment leaks except locale and time zone."""
    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    monkeypatch.setenv("LD_PRELOAD", "/nonexistent.so")
    lines = run_cmd(["env"]).stdout.splitlines()
    names = {line.partition("=")[0] for line in lines}
    assert "SECRET_TOKEN" not in names and "LD_PRELOAD" not in names
    assert "PATH=" + os.pathsep.join(CommandPolicy().search_path) in lines


def test_cwd_must_exist(tmp_path: pathlib.Path) -> None:
    """A missing working directory is refused before anything runs."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["true"], cwd=tmp_path / "missing")
    assert caught.value.context["rule"] == "cwd"


def test_cwd_is_used(tmp_path: pathlib.Path) -> None:
    """The command runs in cwd."""
    assert run_cmd(["pwd"], cwd=tmp_path).stdout.strip() == os.path.realpath(tmp_path)


def test_stdin_is_closed_without_input() -> None:
    """Without input, stdin is at EOF (cat returns at once)."""
    assert run_cmd(["cat"], timeout=10).stdout == ""


def test_input_is_fed_to_stdin() -> None:
    """input= is written to stdin, even when larger than a pipe buffer."""
    data = "x" * 300_000
    assert run_cmd(["cat"], input=data).stdout == data


def test_timeout_raises_with_partial_output() -> None:
    """A command past its timeout is killed; the error carries its earlier output."""
    with pytest.raises(CommandTimeoutError) as caught:
        run_cmd(["sh", "-c", "echo started; exec sleep 30"], allow=[SH], timeout=0.5)
    assert caught.value.output == b"started\n"
    assert isinstance(caught.value, subprocess.TimeoutExpired)


@pytest.mark.slow
def test_timeout_kills_grandchildren(tmp_path: pathlib.Path) -> None:
    """The whole process group dies: a backgrounded grandchild does not survive."""
    pidfile = tmp_path / "pid"
    script = f"sleep 30 & echo $! > {pidfile}; wait"
    with pytest.raises(CommandTimeoutError):
        run_cmd(["sh", "-c", script], allow=[SH], timeout=0.5)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    if not os.path.isdir("/proc/self"):  # macOS: no /proc; a zombie counts as alive here
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_output_cap_holds_against_yes() -> None:
    """`yes` is killed when its output passes max_output."""
    with pytest.raises(OutputLimitError) as caught:
        run_cmd(["yes"], max_output=100_000, timeout=20)
    assert len(caught.value.output) == 100_000


def test_output_cap_on_stderr() -> None:
    """stderr is capped the same way."""
    with pytest.raises(OutputLimitError):
        run_cmd(["sh", "-c", "yes >&2"], allow=[SH], max_output=50_000, timeout=20)


_LINUX_PROC = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc")


@_LINUX_PROC
def test_no_file_descriptors_leak(tmp_path: pathlib.Path) -> None:
    """The child inherits only stdin, stdout and stderr."""
    leaked = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    os.set_inheritable(leaked, True)
    try:
        result = run_cmd(["ls", "/proc/self/fd"])
    finally:
        os.close(leaked)
    fds = {int(fd) for fd in result.stdout.split()}
    assert fds - {0, 1, 2} <= {3}  # 3 is ls's own directory handle
    assert leaked not in fds or leaked == 3


@_LINUX_PROC
def test_new_session_is_started() -> None:
    """The command leads its own session, away from the caller's terminal."""
    result = run_cmd(["sh", "-c", "cut -d' ' -f6 /proc/$$/stat; echo $$"], allow=[SH])
    session, pid = result.stdout.split()
    assert session == pid


@pytest.mark.parametrize("timeout", [0, -1, None, True])
def test_timeout_must_be_positive(timeout: object) -> None:
    """timeout must be a positive number: None is not 'no limit'."""
    with pytest.raises(ConfigurationError):
        run_cmd(["true"], timeout=timeout)  # type: ignore[arg-type]


def test_interpreter_opt_in_with_pinned_path() -> None:
    """An interpreter pinned by Program(path=...) runs fixed code."""
    result = run_cmd([sys.executable, "-c", "print(6 * 7)"],
                     allow=CommandPolicy(programs=(PYTHON,), unsafe_allow_writable_locations=True))
    assert result.stdout == "42\n"


def test_wrapped_command_is_checked() -> None:
    """timeout/nice/env are unwrapped and the command they run is checked in turn."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["timeout", "5", "nice", "sh", "-c", "x"])
    assert caught.value.context["rule"] == "shell"


def test_wrapped_command_runs() -> None:
    """A wrapper around an allowed program works, resolved to absolute paths."""
    result = run_cmd(["timeout", "5", "nice", "-n", "1", "echo", "ok"])
    assert result.stdout == "ok\n"
    assert result.argv[-2] == shutil.which("echo", path="/usr/bin:/bin")


def test_wrapper_command_from_args_is_refused() -> None:
    """The program a wrapper runs cannot come from untrusted args."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["timeout", "5"], args=["rm"])
    assert caught.value.context["rule"] == "wrapper-command"


def test_env_wrapper_assignments_are_checked() -> None:
    """`env NAME=value prog` is checked like env=."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["env", "BASH_ENV=/x", "true"])
    assert caught.value.context["rule"] == "environment"


def test_subcommand_allow_list() -> None:
    """Program(subcommands=...) refuses other subcommands."""
    rule = Program("git", subcommands={"--version", "status"})
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["git", "push"], allow=[rule])
    assert caught.value.context["rule"] == "subcommands"


def test_refusal_happens_before_spawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused command never reaches subprocess.Popen."""
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("spawned")

    monkeypatch.setattr(subprocess, "Popen", boom)
    with pytest.raises(UnsafeCommandError):
        run_cmd(["tar", "-cf", "x.tar", "--to-command=touch x", "."])


def test_spawn_holds_a_process_permit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spawn happens inside granted('process') naming the executable."""
    from safeops import _permits

    seen: list[object] = []
    real = subprocess.Popen

    def spy(*args: object, **kwargs: object) -> object:
        permit = _permits.active("process")
        seen.append(permit.subject if permit else None)
        return real(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", spy)
    run_cmd(["true"])
    assert seen and os.path.basename(str(seen[0])) == "true"


@pytest.mark.parametrize(
    "name",
    ["LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "GCONV_PATH", "BASH_ENV", "ENV",
     "BASH_FUNC_echo%%", "SHELLOPTS", "PS4", "IFS", "PYTHONPATH", "PYTHONSTARTUP",
     "NODE_OPTIONS", "PERL5OPT", "PERL5LIB", "RUBYOPT", "LESSOPEN", "PAGER", "EDITOR",
     "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS", "GIT_SSH_COMMAND", "GIT_EXTERNAL_DIFF",
     "TAR_OPTIONS", "WGETRC", "CURL_HOME", "OPENSSL_CONF", "RSYNC_RSH", "PATH", "HOME",
     "XDG_CONFIG_HOME", "SOME_UNKNOWN_NAME"],
)
def test_refused_environment_variables(name: str) -> None:
    """Loader, shell, interpreter, pager, tool-config and location variables are refused."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["true"], env={name: "x"})
    assert caught.value.context["rule"] == "environment"


def test_windows_batch_files_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows a .bat/.cmd target is refused (CVE-2024-24576)."""
    from safeops.command._policy import DEFAULT_POLICY
    from safeops.command._resolve import resolve_executable

    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(UnsafeCommandError) as caught:
        resolve_executable("build.bat", DEFAULT_POLICY, None, None)
    assert caught.value.context["rule"] == "windows-batch"


def test_allow_as_a_single_string_is_a_configuration_error() -> None:
    """allow='git' (a string, not a list) is refused rather than read as letters."""
    with pytest.raises(ConfigurationError):
        run_cmd(["git", "--version"], allow="git")  # type: ignore[arg-type]


def test_policy_objects_are_frozen() -> None:
    """Program and CommandPolicy cannot be changed after they are built."""
    import dataclasses

    rule = Program("git")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.unsafe_allow_code = True  # type: ignore[misc]


@pytest.mark.parametrize(
    "env", [{"LANGUAGE": "../../tmp/x"}, {"LANG": "/tmp/locale"}, {"LC_ALL": "a/b"},
            {"TERM": "../../tmp/terminfo"}, {"COLUMNS": "80x"},
            {"TZ": "../../etc/evil"}, {"TZ": "/etc/evil"}]
)
def test_locale_values_must_not_be_paths(env: dict[str, str]) -> None:
    """Locale and time zone values that are paths (catalogs, locale data) are refused."""
    with pytest.raises(UnsafeCommandError) as caught:
        run_cmd(["true"], env=env)
    assert caught.value.context["rule"] == "environment"


def test_ordinary_locale_values_pass() -> None:
    """Zone names with a slash and LANGUAGE lists pass."""
    result = run_cmd(["env"], env={"TZ": "Europe/Paris", "LANGUAGE": "en:fr"})
    assert {"TZ=Europe/Paris", "LANGUAGE=en:fr"} <= set(result.stdout.splitlines())


def test_result_check_returncode_raises_for_failures() -> None:
    """CommandResult.check_returncode mirrors CompletedProcess.check_returncode."""
    result = run_cmd(["false"], check=False)
    with pytest.raises(CommandFailedError):
        result.check_returncode()
    run_cmd(["true"]).check_returncode()

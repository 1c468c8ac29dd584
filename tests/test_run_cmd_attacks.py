"""Regressions for the attack review of run_cmd (/work/notes/attacks/run_cmd.md).

Each test pins one refused spelling or one hardening found missing by the attacker;
the end-to-end proofs with real programs and marker files are in
tests/vectors/cmd/corpus.json.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeops import run_cmd
from safeops.command._runner import Prepared, prepare
from safeops.errors import CommandError, ConfigurationError, SafeOpsError, UnsafeCommandError


def _prepared(argv: list[str], args: list[str] = (), **kwargs: object) -> Prepared:  # type: ignore[assignment]
    options: dict[str, object] = {
        "args": list(args), "allow": None, "timeout": 10.0, "cwd": None, "env": None,
        "input": None, "max_output": 1000, "unsafe_env": (),
    }
    options.update(kwargs)
    return prepare(argv, **options)  # type: ignore[arg-type]


def _refused(argv: list[str], args: list[str] = (), **kwargs: object) -> str:  # type: ignore[assignment]
    with pytest.raises(UnsafeCommandError) as caught:
        _prepared(argv, args, **kwargs)
    return str(caught.value.context["rule"])


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} not installed")


# --- F0: ssh -J / ProxyJump -----------------------------------------------------------

SSH_JUMP = [
    ["ssh", "-Jx`touch$IFS'm'`", "h", "true"],
    ["ssh", "-J", "x`id`", "h"],
    ["ssh", "-vJ", "x", "h"],
    ["ssh", "-oProxyJump=x", "h"],
    ["ssh", "-oproxyjump x", "h"],
    ["ssh", "-o", "ProxyJump=x", "h"],
    ["ssh", "-o", "PROXYJUMP x", "h"],
    ["ssh", "-o", " proxyJump = x", "h"],
    ["scp", "-Jx", "a", "h:b"],
    ["scp", "-oProxyJump=x", "a", "h:b"],
    ["sftp", "-J", "x", "h"],
    ["sftp", "-oproxyjump=x", "h"],
]


@pytest.mark.parametrize("argv", SSH_JUMP, ids=" ".join)
def test_ssh_jump_host_is_refused(argv: list[str]) -> None:
    """ssh/scp/sftp -J and ProxyJump (an implicit sh -c ProxyCommand) are refused."""
    _need(argv[0])
    assert _refused(argv)


def test_ssh_jump_host_from_args_is_refused() -> None:
    """A -J word in args is refused as an option-like argument."""
    _need("ssh")
    assert _refused(["ssh"], ["-Jx`id`", "h"]) == "option-like-arg"


# --- F0b: openssl URIs ------------------------------------------------------------------

OPENSSL_URIS = [
    (["openssl", "verify", "-CAfile", "/ca.pem"], ["org.openssl.engine:/up/cert.pem:k"]),
    (["openssl", "verify", "-CAfile", "/ca.pem"], ["ORG.OpenSSL.Engine:/up/cert.pem:k"]),
    (["openssl", "x509", "-noout", "-in", "org.openssl.engine:/x:k"], []),
    (["openssl", "pkey", "-in", "file:/etc/x", "-noout"], []),
    (["openssl", "x509", "-in", "foo:/x"], []),
    (["openssl", "verify", "-CAfile", "org.openssl.engine:/x:k", "/c.pem"], []),
    (["openssl", "req", "-new", "-newkey", "rsa:org.openssl.engine:/x:k"], []),
    (["openssl", "pkey", "-passin", "org.openssl.engine:/x:k", "-in", "/k"], []),
    (["openssl", "verify"], ["scheme:whatever"]),
]


@pytest.mark.parametrize(("argv", "args"), OPENSSL_URIS, ids=" ".join)
def test_openssl_uri_arguments_are_refused(argv: list[str], args: list[str]) -> None:
    """openssl arguments with a URI scheme (org.openssl.engine: loads a library) are refused."""
    _need("openssl")
    assert _refused(argv, args) == "openssl-uri"


OPENSSL_ALLOWED = [
    ["openssl", "req", "-new", "-newkey", "rsa:2048", "-passout", "pass:x", "-subj", "/CN=x"],
    ["openssl", "s_client", "-connect", "localhost:443"],
    ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    ["openssl", "x509", "-noout", "-in", "/etc/ssl/cert.pem"],
    ["openssl", "verify", "-CAfile", "./ca.pem", "c.pem"],
]


@pytest.mark.parametrize("argv", OPENSSL_ALLOWED, ids=" ".join)
def test_openssl_plain_paths_and_colon_values_are_allowed(argv: list[str]) -> None:
    """Plain paths, host:port, pass:x and key:value option values still work."""
    _need("openssl")
    assert _prepared(argv).argv[1:] == tuple(argv[1:])


# --- F1: GNU programs with one code-running option -------------------------------------

GNU_CODE = [
    ["split", "--filter=touch x", "f"],
    ["split", "--fil=touch x", "f"],
    ["split", "-l", "5", "--filter", "x", "f"],
    ["sort", "--compress-program=sh", "f"],
    ["sort", "--compress=sh", "f"],
    ["install", "-s", "--strip-program=x", "a", "b"],
    ["install", "--strip-p=x", "a", "b"],
    ["sdiff", "--diff-program=x", "a", "b"],
    ["sdiff", "-o", "out", "a", "b"],
    ["diff3", "--diff-program=x", "a", "b", "c"],
    ["diff3", "--diff-p=x", "a", "b", "c"],
]


@pytest.mark.parametrize("argv", GNU_CODE, ids=" ".join)
def test_gnu_code_running_options_are_refused(argv: list[str]) -> None:
    """split --filter, sort --compress-program, install --strip-program, --diff-program."""
    _need(argv[0])
    assert _refused(argv).endswith("-options")


GNU_ALLOWED = [
    ["split", "-l", "100", "f", "out-"],
    ["sort", "-k", "2", "-o", "out", "f"],
    ["install", "-m", "0644", "a", "b"],
    ["diff3", "a", "b", "c"],
    ["sdiff", "a", "b"],
]


@pytest.mark.parametrize("argv", GNU_ALLOWED, ids=" ".join)
def test_gnu_programs_still_run_with_ordinary_options(argv: list[str]) -> None:
    """The new rules refuse only the code-running options."""
    _need(argv[0])
    assert _prepared(argv).argv[1:] == tuple(argv[1:])


def test_split_dash_args_still_go_after_double_dash() -> None:
    """split keeps the GNU `--` handling: a dash-leading arg is an operand."""
    _need("split")
    assert _prepared(["split"], ["--filter=x"]).argv[1:] == ("--", "--filter=x")


# --- F6/F7: programs that run code from operands, names under versions and aliases ------

CODE_PROGRAMS = [
    ["perl5.36-x86_64-linux-gnu", "-e", "1"],
    ["setarch", "x86_64", "true"],
    ["x86_64", "true"],
    ["linux64", "true"],
    ["i386", "true"],
    ["capsh", "--print"],
    ["ld.so", "/bin/true"],
    ["make", "all"],
    ["tmux", "-L", "x", "new-session", "-d"],
    ["screen", "-dm", "true"],
    ["sqlite3", ":memory:"],
    ["pdb3", "x.py"],
    ["run-parts", "/etc/cron.daily"],
    ["gdb", "-batch"],
    ["strace", "true"],
    ["ltrace", "true"],
    ["watch", "true"],
    ["expect", "-c", "x"],
    ["m4", "f"],
    ["dc", "-e", "1"],
    ["msgexec", "-i", "f", "true"],
]


@pytest.mark.parametrize("argv", CODE_PROGRAMS, ids=" ".join)
def test_code_running_programs_are_refused_by_default(argv: list[str]) -> None:
    """Interpreters under versioned names, setarch/capsh/ld.so and operand-code programs."""
    _need(argv[0])
    assert _refused(argv) in ("interpreter", "wrapper", "shell")


@pytest.mark.parametrize("argv", CODE_PROGRAMS[:9], ids=" ".join)
def test_a_plain_allow_entry_does_not_opt_in(argv: list[str]) -> None:
    """allow=[name] is not an opt-in for code-running programs."""
    _need(argv[0])
    assert _refused(argv, allow=[argv[0]]) in ("interpreter", "wrapper", "shell")


@pytest.mark.parametrize(
    ("name", "family"),
    [("perl5.36-x86_64-linux-gnu", "perl"), ("python3.11-dbg", "python"),
     ("x86_64-linux-gnu-python3.11", "python"), ("pdb3.12", "pdb"), ("pydoc3", "pydoc"),
     ("ruby3.1", "ruby"), ("lua5.4", "lua"), ("node18", "node"), ("php8.2", "php"),
     ("ld-linux-x86-64.so.2", "ld.so"), ("ld-musl-x86_64.so.1", "ld.so"),
     ("luajit-2.1.0-beta3", "luajit"), ("sqlite3", "sqlite")],
)
def test_program_names_include_the_family(name: str, family: str) -> None:
    """Versioned, triplet and debug names are recognised as their family."""
    from safeops.command._knowledge import program_names

    assert family in program_names(name)


def test_ordinary_programs_are_still_allowed() -> None:
    """The broader name matching leaves everyday programs alone."""
    for argv in (["sha256sum", "f"], ["b2sum", "f"], ["base64", "f"], ["bzip2", "-t", "f"]):
        if shutil.which(argv[0]):
            assert _prepared(argv).argv[1:] == tuple(argv[1:])


# --- F2/F3: git in untrusted repositories, init.templateDir ----------------------------


@pytest.mark.parametrize(
    "argv",
    [["git", "-c", "init.templateDir=/t", "clone", "a", "b"],
     ["git", "-c", "INIT.TEMPLATEDIR=/t", "clone", "a", "b"],
     ["git", "-cinit.templatedir=/t", "init"],
     ["git", "clone", "--config=init.templateDir=/t", "a", "b"],
     ["git", "-c", "core.attributesFile=/a", "status"]],
    ids=" ".join,
)
def test_git_template_and_attribute_keys_are_refused(argv: list[str]) -> None:
    """init.templateDir (hooks run on clone) and core.attributesFile are refused in -c."""
    _need("git")
    assert _refused(argv) == "git-config-key"


def test_git_runs_with_dangerous_config_pinned() -> None:
    """Every git run pins fsmonitor, hooksPath, pager, editors, helpers through the env."""
    _need("git")
    env = _prepared(["git", "status"]).env
    pinned = {env[f"GIT_CONFIG_KEY_{n}"]: env[f"GIT_CONFIG_VALUE_{n}"]
              for n in range(int(env["GIT_CONFIG_COUNT"]))}
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert pinned["core.fsmonitor"] == "false"
    assert pinned["core.hooksPath"] == "/dev/null"
    assert pinned["diff.external"] == ""
    assert pinned["protocol.ext.allow"] == "never"
    assert pinned["init.templateDir"] == ""


def test_git_pins_cannot_be_replaced_through_env() -> None:
    """env= cannot reset the pinned GIT_CONFIG_COUNT."""
    _need("git")
    assert _refused(["git", "status"], env={"GIT_CONFIG_COUNT": "0"}) == "environment"


def test_git_wrapped_by_timeout_keeps_the_pins() -> None:
    """The pins follow git through wrappers such as timeout."""
    _need("git")
    assert _prepared(["timeout", "5", "git", "status"]).env["GIT_CONFIG_COUNT"] != "0"


# --- F4: curl globbing and schemes ---------------------------------------------------------


def test_curl_runs_with_globoff_and_fixed_protocols() -> None:
    """curl gets --globoff and --proto/--proto-redir before the programmer's words."""
    _need("curl")
    argv = _prepared(["curl", "-sS"], ["https://example.invalid/"]).argv
    assert argv[1:6] == ("--globoff", "--proto", "=http,https,ftp,ftps", "--proto-redir",
                         "=http,https")
    assert argv[-2:] == ("--", "https://example.invalid/")


def test_curl_programmer_proto_comes_later_and_wins() -> None:
    """A --proto the programmer writes in argv follows the default one (curl uses the last)."""
    _need("curl")
    argv = _prepared(["curl", "--proto", "=https", "https://example.invalid/"]).argv
    assert argv.index("=https") > argv.index("=http,https,ftp,ftps")


# --- F5: values of the always-allowed environment variables -----------------------------

BAD_VALUES = [
    ("LANGUAGE", "../../../../tmp/attack/loc2"),
    ("LANGUAGE", "de:..:en"),
    ("LANGUAGE", "en:"),
    ("LANG", "/tmp/locale"),
    ("LANG", ".."),
    ("LC_MESSAGES", "../x"),
    ("LC_ALL", "en_US.UTF-8/../../x"),
    ("TZ", "/etc/passwd"),
    ("TZ", ":/tmp/zone"),
    ("TZ", "Europe/../../../tmp/zone"),
    ("TERM", "../../tmp/terminfo"),
    ("COLUMNS", "80x"),
    ("LINES", "1" * 30),
    ("LANG", "en_US." + "A" * 300),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES, ids=lambda v: str(v)[:20])
def test_path_like_locale_tz_term_values_are_refused(name: str, value: str) -> None:
    """Locale, TZ, TERM and size values must be names or numbers, never paths."""
    assert _refused(["true"], env={name: value}) == "environment"


GOOD_VALUES = [
    ("LANG", "en_US.UTF-8"), ("LC_ALL", "C.UTF-8"), ("LANGUAGE", "de_DE:de:en"),
    ("LC_TIME", "sr_RS@latin"), ("TZ", "America/Argentina/Buenos_Aires"),
    ("TZ", "CET-1CEST,M3.5.0,M10.5.0/3"), ("TZ", ":Europe/Paris"), ("TZ", "<+03>-3"),
    ("TERM", "xterm-256color"), ("COLUMNS", "120"),
]


@pytest.mark.parametrize(("name", "value"), GOOD_VALUES, ids=lambda v: str(v)[:20])
def test_ordinary_locale_tz_term_values_pass(name: str, value: str) -> None:
    """Real locale names, zone names, POSIX TZ strings and terminal names still pass."""
    assert _prepared(["true"], env={name: value}).env[name] == value


def test_inherited_path_like_language_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A LANGUAGE inherited from the caller with a path value is not passed on."""
    monkeypatch.setenv("LANGUAGE", "../../../../tmp/x")
    monkeypatch.setenv("LC_TIME", "de_DE.UTF-8")
    env = _prepared(["true"]).env
    assert "LANGUAGE" not in env
    assert env["LC_TIME"] == "de_DE.UTF-8"


# --- F9: hostile input never raises anything but SafeOpsError ---------------------------


class _BrokenPath:
    """A PathLike whose __fspath__ raises."""

    def __fspath__(self) -> str:
        raise RuntimeError("hostile __fspath__")


@pytest.mark.parametrize(
    "kwargs",
    [{"argv": ["echo", "\ud800"]}, {"argv": ["echo"], "args": ["\udbff"]},
     {"argv": ["true"], "env": {"LANG": "\ud800"}}, {"argv": ["cat"], "input": "\ud800"}],
    ids=["argv", "args", "env", "input"],
)
def test_lone_surrogates_are_refused(kwargs: dict[str, object]) -> None:
    """A lone surrogate (e.g. from JSON) is an UnsafeCommandError, not UnicodeEncodeError."""
    argv = kwargs.pop("argv")
    assert _refused(argv, **kwargs) in ("encoding", "environment")  # type: ignore[arg-type]


def test_surrogate_escaped_bytes_still_pass() -> None:
    """Undecodable file-name bytes (surrogateescape) remain valid arguments."""
    assert _prepared(["echo"], [b"\xff".decode("utf-8", "surrogateescape")]).argv[-1] == "\udcff"


def test_failing_fspath_is_refused() -> None:
    """A PathLike whose __fspath__ raises gives UnsafeCommandError."""
    assert _refused(["echo", _BrokenPath()]) == "argument-type"  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("argv", "args"),
    [(["echo", "a" * 200_000], []), (["echo"], ["a" * 1000] * 2000)],
    ids=["one-word", "many-words"],
)
def test_oversized_command_lines_are_a_command_error(argv: list[str], args: list[str]) -> None:
    """argv + env past the kernel's limits is refused before spawning, not OSError(E2BIG)."""
    with pytest.raises(CommandError) as caught:
        _prepared(argv, args)
    assert caught.value.context["rule"] == "size"


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), 1e300])
def test_unbounded_timeouts_are_a_configuration_error(timeout: float) -> None:
    """Infinite, NaN or absurd timeouts are refused (selectors would overflow)."""
    with pytest.raises(ConfigurationError):
        _prepared(["true"], timeout=timeout)


def test_non_iterable_unsafe_env_is_a_configuration_error() -> None:
    """unsafe_env=5 is a ConfigurationError, not TypeError."""
    with pytest.raises(ConfigurationError):
        _prepared(["true"], unsafe_env=5)


_text = st.text(max_size=30)
_word = st.one_of(_text, st.binary(max_size=30))


@given(st.lists(_word, min_size=1, max_size=4), st.lists(_word, max_size=4))
@settings(deadline=None)
def test_any_words_give_a_prepared_command_or_a_safeops_error(
    argv: list[str | bytes], args: list[str | bytes]
) -> None:
    """Arbitrary str/bytes argv and args are vetted or refused with a SafeOpsError only."""
    with contextlib.suppress(SafeOpsError):
        _prepared(argv, args)  # type: ignore[arg-type]


@given(st.lists(st.one_of(_text, st.binary(max_size=30)), max_size=4))
@settings(deadline=None, max_examples=30)
def test_any_args_to_echo_run_or_raise_a_safeops_error(args: list[str | bytes]) -> None:
    """Through a real spawn, arbitrary args give a result or a SafeOpsError."""
    try:
        result = run_cmd(["echo"], args=args, text=False, timeout=10)  # type: ignore[arg-type]
    except SafeOpsError:
        return
    assert result.returncode == 0


# --- F8/F10: new roots and leaving the process group ------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["chroot", "/", "true"], ["unshare", "--root=/", "true"], ["nsenter", "-r", "true"],
     ["setsid", "true"], ["setsid", "-f", "sleep", "1"]],
    ids=" ".join,
)
def test_new_root_and_new_session_wrappers_are_refused(argv: list[str]) -> None:
    """chroot/unshare/nsenter (another file-system view) and setsid are refused."""
    _need(argv[0])
    assert _refused(argv, allow=[argv[0]]) == "wrapper"


def test_group_members_left_behind_are_killed_after_a_normal_exit(
    tmp_path: pathlib.Path,
) -> None:
    """A background child that stays in the group with its output closed is killed."""
    from safeops import Program

    pidfile = tmp_path / "pid"
    script = f"sleep 30 >/dev/null 2>&1 & echo $! > {pidfile}"
    run_cmd(["sh", "-c", script], allow=[Program("sh", unsafe_allow_code=True)])
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    if not os.path.isdir("/proc/self"):  # no /proc: signal 0 (a zombie counts as alive)
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

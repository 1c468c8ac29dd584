"""run_cmd's built-in program rules and option matching, checked before anything runs."""

from __future__ import annotations

import contextlib
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeops import Program
from safeops.command._check import check_words
from safeops.command._runner import prepare
from safeops.errors import SafeOpsError, UnsafeCommandError


def _prepare(argv: list[str], args: list[str] = (), **kwargs: object) -> tuple[str, ...]:  # type: ignore[assignment]
    options: dict[str, object] = {
        "args": list(args), "allow": None, "timeout": 10.0, "cwd": None, "env": None,
        "input": None, "max_output": 1000, "unsafe_env": (),
    }
    options.update(kwargs)
    return prepare(argv, **options).argv  # type: ignore[arg-type]


def _refused(argv: list[str], args: list[str] = (), **kwargs: object) -> str:  # type: ignore[assignment]
    with pytest.raises(UnsafeCommandError) as caught:
        _prepare(argv, args, **kwargs)
    return str(caught.value.context["rule"])


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} not installed")


REFUSED = [
    ["git", "clone", "--upload-pack=x", "a"],
    ["git", "clone", "--upload-pack", "x", "a"],
    ["git", "clone", "--up=x", "a"],
    ["git", "clone", "-ux", "a"],
    ["git", "fetch", "--upload-pack=x"],
    ["git", "push", "--receive-pack=x"],
    ["git", "push", "--exec=x"],
    ["git", "archive", "--remote=x", "--exec=y"],
    ["git", "rebase", "-x", "make"],
    ["git", "grep", "-Ocmd", "x"],
    ["git", "grep", "--open-files-in-pager=cmd", "x"],
    ["git", "clone", "--template=/t", "a"],
    ["git", "-c", "core.sshCommand=x", "fetch"],
    ["git", "-ccore.pager=x", "log"],
    ["git", "-c", "Core.Pager=x", "log"],
    ["git", "-c", "alias.x=!y", "x"],
    ["git", "-c", "credential.helper=!x", "fetch"],
    ["git", "-c", "filter.lfs.smudge=x", "checkout"],
    ["git", "-c", "url.ext::sh.insteadOf=https://", "fetch"],
    ["git", "-c", "include.path=/x", "log"],
    ["git", "-c", "includeIf.gitdir:/.path=/x", "log"],
    ["git", "-c", "diff.x.textconv=y", "log"],
    ["git", "-c", "protocol.ext.allow=always", "fetch"],
    ["git", "clone", "-c", "core.sshCommand=x", "a"],
    ["git", "clone", "--config=core.hooksPath=/x", "a"],
    ["git", "--config-env=alias.x=VAR", "x"],
    ["git", "--exec-path=/tmp", "status"],
    ["git", "config", "alias.x", "!y"],
    ["git", "submodule", "foreach", "x"],
    ["git", "bisect", "run", "x"],
    ["git", "filter-branch", "--tree-filter", "x"],
    ["git", "difftool", "-x", "x"],
    ["git", "send-email", "--sendmail-cmd=x"],
    ["tar", "-cf", "a.tar", "--to-command=x", "b"],
    ["tar", "-cf", "a.tar", "--to-c=x", "b"],
    ["tar", "-cf", "a.tar", "--use=x", "b"],
    ["tar", "-xvIcmd", "-f", "a.tar"],
    ["tar", "xIf", "cmd", "a.tar"],
    ["tar", "-cf", "a.tar", "--rsh-command=x", "b"],
    ["tar", "-cf", "a.tar", "--rmt-command=x", "b"],
    ["tar", "-cf", "a.tar", "-F", "x", "b"],
    ["tar", "-cf", "a.tar", "--new-volume-script=x", "b"],
    ["find", ".", "-exec", "x", ";"],
    ["find", ".", "-execdir", "x", "+"],
    ["find", ".", "-ok", "x", ";"],
    ["find", ".", "-okdir", "x", ";"],
    ["zip", "a.zip", "b", "-T", "-TT", "x"],
    ["zip", "a.zip", "b", "-T", "--unzip-command", "x"],
    ["zip", "a.zip", "b", "-T", "--unzip=x"],
    ["ssh", "-o", "ProxyCommand=x", "h"],
    ["ssh", "-oProxyCommand=x", "h"],
    ["ssh", "-o", "proxycommand x", "h"],
    ["ssh", "-o", " ProxyCommand = x", "h"],
    ["ssh", "-o", '"ProxyCommand" x', "h"],
    ["ssh", "-o", "LocalCommand=x", "-o", "PermitLocalCommand=yes", "h"],
    ["ssh", "-o", "KnownHostsCommand=x", "h"],
    ["ssh", "-o", "PKCS11Provider=/x.so", "h"],
    ["ssh", "-o", "Include=/x", "h"],
    ["ssh", "-vo", "ProxyCommand=x", "h"],
    ["ssh", "-F", "/x", "h"],
    ["ssh", "-I", "/x.so", "h"],
    ["scp", "-S", "x", "a", "h:b"],
    ["scp", "-oProxyCommand=x", "a", "h:b"],
    ["sftp", "-D", "/x", "h"],
    ["rsync", "-e", "x", "a", "h:b"],
    ["rsync", "--rsh=x", "a", "h:b"],
    ["rsync", "-avex", "a", "h:b"],
    ["rsync", "--rsync-path=x", "a", "h:b"],
    ["curl", "-K", "f"],
    ["curl", "--config", "f"],
    ["curl", "--conf=f"],
    ["curl", "--engine", "x", "u"],
    ["wget", "-e", "x=y", "u"],
    ["wget", "--execute=x", "u"],
    ["wget", "--exec=x", "u"],
    ["wget", "--use-askpass=x", "u"],
    ["wget", "--config=x", "u"],
    ["openssl", "rand", "-engine", "x", "1"],
    ["openssl", "rand", "--engine=x", "1"],
    ["openssl", "req", "-config", "x"],
    ["openssl", "list", "-provider-path", "x", "-provider", "y"],
    ["openssl", "engine", "dynamic"],
    ["less", "-k", "f", "x"],
    ["less", "--lesskey-src=f", "x"],
    ["less", "+!cmd", "x"],
    ["vim", "-c", "!x"],
    ["vim", "--cmd", "!x"],
    ["vim", "+!x"],
    ["vim", "-S", "f"],
    ["vim", "-u", "f"],
    ["vim", "--remote-send", "x"],
    ["env", "-S", "git status"],
    ["env", "-i", "git", "status"],
    ["env", "-u", "GIT_ALLOW_PROTOCOL", "git", "status"],
    ["env", "LD_PRELOAD=/x", "true"],
    ["timeout", "5", "git", "-c", "alias.x=!y", "x"],
    ["nice", "-n", "5", "env", "sh", "-c", "x"],
    ["flock", "/l", "-c", "x"],
    ["xargs", "git"],
    ["sudo", "git", "status"],
    ["su", "-c", "x"],
    ["watch", "ls"],
    ["parallel", "ls"],
    ["chroot", "/"],
    ["setsid", "git", "status"],
    ["unshare", "-r", "git", "status"],
    ["strace", "ls"],
]


@pytest.mark.parametrize("argv", REFUSED, ids=" ".join)
def test_code_running_options_are_refused(argv: list[str]) -> None:
    """Each spelling of a code-running option or wrapper is refused before running."""
    _need(argv[0])
    assert _refused(argv)


ALLOWED = [
    ["git", "status"],
    ["git", "-C", "/", "log", "--oneline"],
    ["git", "-c", "user.name=x", "commit", "-m", "x"],
    ["git", "clone", "--depth=1", "a", "b"],
    ["git", "add", "-u"],
    ["tar", "-cf", "a.tar", "--checkpoint=10", "b"],
    ["tar", "-czf", "a.tgz", "b"],
    ["tar", "xf", "a.tar"],
    ["find", ".", "-name", "*.py", "-type", "f"],
    ["find", ".", "-fprint", "out"],
    ["sed", "-i", "s/a/b/", "f"],
    ["zip", "-r", "a.zip", "d"],
    ["ssh", "-o", "BatchMode=yes", "-p", "22", "h"],
    ["curl", "-o", "out", "https://example.invalid/"],
    ["wget", "-O", "out", "https://example.invalid/"],
    ["openssl", "rand", "-hex", "8"],
    ["less", "-R", "f"],
    ["vim", "-es", "f"],
    ["timeout", "5", "nice", "git", "status"],
    ["env", "LANG=C", "git", "status"],
]


@pytest.mark.parametrize("argv", ALLOWED, ids=" ".join)
def test_ordinary_options_are_allowed(argv: list[str]) -> None:
    """Everyday options are not refused (the rules are not a blanket ban)."""
    _need(argv[0])
    assert _prepare(argv)


def test_unsafe_allow_options_opts_in() -> None:
    """Program(unsafe_allow_options={...}) lets a refused option through deliberately."""
    _need("git")
    rule = Program("git", unsafe_allow_options={"--upload-pack"})
    assert _prepare(["git", "ls-remote", "--upload-pack=x", "a"], allow=[rule])


def test_program_refuse_options_adds_refusals() -> None:
    """Program(refuse_options={...}) refuses more options, abbreviations included."""
    _need("git")
    rule = Program("git", refuse_options={"--force"})
    assert _refused(["git", "push", "--forc"], allow=[rule]) == "git-options"


def test_gnu_sed_runs_sandboxed() -> None:
    """GNU sed gets --sandbox so e/r/w commands are refused by sed itself."""
    _need("sed")
    argv = _prepare(["sed", "s/a/b/", "f"])
    assert argv[1] == "--sandbox" or not argv[0].startswith("/usr")


def test_vim_runs_restricted() -> None:
    """vim gets -Z (restricted mode: no shell commands)."""
    _need("vim")
    assert _prepare(["vim", "-es", "f"])[1] == "-Z"


def test_script_text_must_come_from_argv() -> None:
    """awk's and sed's program text cannot come from untrusted args."""
    _need("awk")
    assert _refused(["awk"], ["BEGIN{}"]) == "script-from-args"


def test_awk_assignment_operands_are_refused_in_args() -> None:
    """awk reads NAME=value operands as assignments: refused as untrusted args."""
    _need("awk")
    assert _refused(["awk", "{print}"], ["FS=x"]) == "awk-assignment"


def test_curl_file_urls_refused_in_args() -> None:
    """A file: URL from args would read a local file: refused."""
    _need("curl")
    assert _refused(["curl", "-s"], ["file:///etc/passwd"]) == "curl-scheme"


def test_file_option_value_from_args_is_refused() -> None:
    """find -fprint VALUE may be written in argv but its value never comes from args."""
    _need("find")
    assert _refused(["find", ".", "-fprint"], ["out"]) == "file-option-from-args"


def test_ssh_args_starting_with_dash_are_refused() -> None:
    """ssh reads its destination as options even after `--` in some versions."""
    _need("ssh")
    assert _refused(["ssh"], ["-oProxyCommand=x"]) == "option-like-arg"


def test_env_fixed_variables_for_git() -> None:
    """git runs with GIT_ALLOW_PROTOCOL restricting transports (no ext::)."""
    _need("git")
    opts = {"args": [], "allow": None, "timeout": 10.0, "cwd": None, "env": None,
            "input": None, "max_output": 1000, "unsafe_env": ()}
    prepared = prepare(["git", "status"], **opts)  # type: ignore[arg-type]
    assert "ext" not in prepared.env["GIT_ALLOW_PROTOCOL"].split(":")


def test_error_names_rule_and_opt_in() -> None:
    """A refusal names the rule and the deliberate way to allow it."""
    _need("tar")
    with pytest.raises(UnsafeCommandError) as caught:
        _prepare(["tar", "-cf", "a", "--to-command=x", "b"])
    message = str(caught.value)
    assert "tar-options" in message and "unsafe_allow_options" in message


def test_error_messages_truncate_payloads() -> None:
    """A huge payload is quoted bounded in the message."""
    _need("tar")
    with pytest.raises(UnsafeCommandError) as caught:
        _prepare(["tar", "-cf", "a", "--to-command=" + "x" * 100_000, "b"])
    assert len(str(caught.value)) < 2000


_vocabulary = st.sampled_from(
    ["-c", "-e", "-o", "-I", "-x", "--", "-", "--exec", "--upload-pack=x", "-oProxyCommand=x",
     "x", "f", "alias.x=!y", "ProxyCommand=z", "+!x", "-exec", ";", "a=b", "file:///x", ""]
)
_programs = st.sampled_from(["git", "tar", "find", "sed", "awk", "zip", "ssh", "curl", "wget",
                             "openssl", "less", "vim", "env", "timeout", "ls", "rsync"])


@given(_programs, st.lists(_vocabulary, max_size=8), st.lists(st.text(max_size=10), max_size=4))
def test_vetting_raises_only_safeops_errors(program: str, argv: list[str], args: list[str]) -> None:
    """Any argv/args either vets or raises a SafeOpsError, never anything else."""
    if shutil.which(program) is None:
        return
    with contextlib.suppress(SafeOpsError):
        _prepare([program, *argv], args)


@given(_programs, st.lists(st.text(min_size=1, max_size=12).filter(lambda s: "\0" not in s
                                                                  and "\n" not in s
                                                                  and "\r" not in s),
                           min_size=1, max_size=4))
def test_untrusted_args_end_up_as_operands(program: str, args: list[str]) -> None:
    """Vetted args are either refused or placed after `--` (or do not look like options)."""
    if shutil.which(program) is None:
        return
    try:
        argv = _prepare([program, "x"] if program in ("awk", "sed", "timeout") else [program],
                        args)
    except SafeOpsError:
        return
    tail = list(argv[-len(args):])
    assert tail == args
    before = argv[: -len(args)]
    # "+word" is a command only for vim and less (which take args after `--`).
    optionish = ("-", "+") if program in ("vim", "less") else ("-",)
    assert "--" in before or not any(a.startswith(optionish) for a in args)


def test_check_words_rejects_non_text() -> None:
    """Numbers and other objects are refused as arguments."""
    with pytest.raises(UnsafeCommandError):
        check_words(["ls", 3], "argv")


_wrappers = st.lists(
    st.sampled_from([["timeout", "5"], ["nice", "-n", "2"], ["nohup"], ["stdbuf", "-oL"],
                     ["env", "LANG=C"], ["ionice", "-c", "3"], ["taskset", "1"]]),
    min_size=1, max_size=5,
)
_code = st.sampled_from([["sh", "-c", "x"], ["bash", "-lc", "x"], ["perl", "-e", "1"],
                         ["xargs", "echo"], ["setsid", "true"], ["busybox", "sh"]])


@given(_wrappers, _code)
def test_wrapper_chains_never_hide_code_runners(chain: list[list[str]], code: list[str]) -> None:
    """However many wrappers come first, a shell/interpreter/executor at the end is refused."""
    argv = [word for link in chain for word in link] + code
    if any(shutil.which(word[0]) is None for word in [*chain, code]):
        return
    with pytest.raises(UnsafeCommandError):
        _prepare(argv)

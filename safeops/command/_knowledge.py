"""What safeops knows about shells and programs that execute their arguments.

Shared by ``run_cmd`` (which refuses shells and unwraps wrappers before checking the
program that really runs) and by ``safeops.enforce`` (whose audit hook asks, for every
process creation, "does this start a shell with a command string?").

Contract of :func:`find_shell_command`: a pure function of *argv* (plus ``realpath`` of
program paths given with a directory), stdlib-only, no imports from safeops, fast enough
for an audit hook. It follows wrapper chains (``env -S``, ``timeout``, ``nice``,
``sudo``, ``xargs``, ``find -exec`` ...) the way each wrapper parses its own options,
and recognises shells by every name they are known under: the basename as written, the
basename of its real path (``/bin/sh`` -> ``dash``, an Alpine ``/bin/sh`` ->
``busybox``), lower-cased, without ``.exe`` and version suffixes (``python3.12``,
``ksh93``).

Limits (documented, deliberate): the parsing follows the GNU/util-linux/sudo option
syntax; an unknown wrapper option is taken as a flag. For wrappers whose syntax is not
modelled in detail (:data:`_GENERIC_WRAPPERS`) every later argument that names a shell
or wrapper is tried, which over-approximates rather than misses.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Callable, Sequence
from typing import Union

__all__ = [
    "ARG_EXECUTING_WRAPPERS",
    "INTERPRETERS",
    "SHELLS",
    "find_shell_command",
    "normalise_name",
    "program_names",
    "wrapped_command",
]

Arg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: Program basenames (normalised, see :func:`program_names`) of command shells.
SHELLS: frozenset[str] = frozenset(
    {
        "sh", "bash", "rbash", "dash", "ash", "hush", "zsh", "ksh", "mksh", "pdksh", "oksh",
        "loksh", "lksh", "yash", "posh", "csh", "tcsh", "fish", "rc", "es", "sash", "elvish",
        "nu", "xonsh", "pwsh", "powershell", "cmd", "busybox", "toybox",
    }
)

#: Language interpreters: they run code from ``-c``/``-e``, script files and stdin alike.
INTERPRETERS: frozenset[str] = frozenset(
    {
        "python", "pypy", "ipython", "perl", "ruby", "irb", "node", "nodejs", "deno", "bun",
        "php", "lua", "luajit", "tclsh", "wish", "expect", "rscript", "julia", "osascript",
        "jshell", "groovy", "scala", "erl", "escript", "elixir", "iex", "guile", "racket",
        "sbcl", "clisp", "ghci", "runghc", "swift", "jjs", "qjs", "gdb", "pwsh", "wscript",
        "cscript", "mshta",
        # Python under other names, and programs whose operands or input are code:
        # makefiles (and VAR=$(shell ...) operands), sqlite3 .shell, m4 syscmd, dc !,
        # debuggers that run commands.
        "pdb", "ipdb", "pydoc", "cpan", "jrunscript", "java", "r", "octave", "php-cgi",
        "ts-node", "tsx", "npx", "make", "gmake", "bmake", "pmake", "remake", "sqlite",
        "m4", "gm4", "dc", "emacs", "bpftrace", "gdbtui", "gdb-multiarch", "vgdb", "lldb",
    }
)

#: Programs that run a command taken from their arguments (or from stdin for xargs).
ARG_EXECUTING_WRAPPERS: frozenset[str] = frozenset(
    {
        "env", "xargs", "timeout", "nice", "nohup", "setsid", "stdbuf", "ionice", "chrt",
        "taskset", "flock", "sudo", "doas", "su", "runuser", "script", "chroot", "unshare",
        "nsenter", "time", "watch", "sg", "find", "parallel", "pkexec", "systemd-run",
        "firejail", "bwrap", "prlimit", "numactl", "setpriv", "runcon", "cgexec", "valgrind",
        "strace", "ltrace", "fakeroot", "proot", "torsocks", "proxychains", "proxychains4",
        "unbuffer", "caffeinate", "chpst", "softlimit", "setuidgid", "daemonize",
        "start-stop-daemon", "dbus-launch", "dbus-run-session", "xvfb-run", "faketime",
        "eatmydata", "trickle", "tsp", "rlwrap", "catchsegv", "ssh-agent", "busybox",
        "toybox", "command", "exec", "builtin", "gtimeout", "gnice", "gstdbuf", "genv",
        "gxargs", "gfind",
        # util-linux setarch and its personality aliases, libcap's capsh (execs bash with
        # its arguments), the dynamic loader (runs any program), and programs that run
        # commands from their operands or keep them running (terminal multiplexers).
        "setarch", "linux32", "linux64", "x86_64", "i386", "i686", "uname26", "capsh",
        "ld.so", "run-parts", "tmux", "screen", "byobu", "dtach", "abduco", "msgexec", "at",
        "batch", "perf", "socat", "nc", "ncat", "netcat", "entr", "pee", "chronic", "ifne",
        "cpulimit", "sshpass", "newgrp",
    }
)

_SUFFIX = re.compile(r"(\.exe|\.com)$")
_VERSION = re.compile(r"[-_]?[0-9][0-9.]*$")
# Debian/GNU target triplets around a name: x86_64-linux-gnu-python3.11,
# perl5.36-x86_64-linux-gnu; and debug builds (python3.11-dbg).
_TRIPLET_PREFIX = re.compile(r"^[a-z0-9_]+(?:-[a-z0-9_]+)?-linux-(?:gnu|musl|android)[a-z0-9_]*-")
_TRIPLET_SUFFIX = re.compile(r"-[a-z0-9_]+(?:-[a-z0-9_]+)?-linux-(?:gnu|musl|android)[a-z0-9_]*$")
_DEBUG = re.compile(r"-(?:dbg|debug)$")
# The letters before a version anywhere in the name: perl5.36.0, lua5.4, node18, pdb3.11.
_FAMILY = re.compile(r"([a-z][a-z_-]*?)[-_.]?[0-9]")
# The dynamic loader under its file names: ld-linux-x86-64.so.2, ld-musl-x86_64.so.1.
_LOADER = re.compile(r"ld(?:-linux[a-z0-9_.-]*|-musl[a-z0-9_.-]*)?\.so(?:\.[0-9]+)*")
_MAX_HOPS = 32


def _text(arg: Arg) -> str:
    value = os.fspath(arg)
    return os.fsdecode(value) if isinstance(value, bytes) else value


def _normalise(name: str) -> str:
    name = _SUFFIX.sub("", name.lower().lstrip("-"))
    stripped = _VERSION.sub("", name)
    return stripped or name


def normalise_name(name: str) -> str:
    """The family name of a program basename: ``Python3.12.EXE`` -> ``python``."""
    return _normalise(name)


@functools.lru_cache(maxsize=2048)
def _names(base: str) -> frozenset[str]:
    """Every name one basename is matched under: as written (lower case, no ``.exe``),
    without its version, without a target triplet or ``-dbg``, and the letters before
    an interior version (``perl5.36-x86_64-linux-gnu`` -> ``perl``)."""
    raw = _SUFFIX.sub("", base.lower().lstrip("-"))
    core = _DEBUG.sub("", _TRIPLET_SUFFIX.sub("", _TRIPLET_PREFIX.sub("", raw)))
    names = {raw, _VERSION.sub("", raw) or raw, core, _VERSION.sub("", core) or core}
    family = _FAMILY.match(core)
    if family:
        names.add(family.group(1).rstrip("-_"))
    if _LOADER.fullmatch(raw):
        names.add("ld.so")
    names.discard("")
    return frozenset(names)


def program_names(program: str) -> frozenset[str]:
    """Every name *program* is known under (as written and its real path, see _names).

    ``realpath`` is only consulted when *program* contains a directory separator: a bare
    name is matched as written (the caller resolves it; ``run_cmd`` passes the absolute
    path it resolved).
    """
    names = _names(os.path.basename(program))
    if os.sep in program or (os.altsep and os.altsep in program):
        try:  # noqa: SIM105 - the audit hook's hot path: no contextmanager overhead
            names = names | _names(os.path.basename(os.path.realpath(program)))
        except (OSError, ValueError):  # unreadable link, NUL byte: keep the written name
            pass
    return names


# --- a small getopt, enough to find where a wrapper's command starts ----------------


class _Opts:
    """Options parsed from a wrapper's arguments; ``rest`` is what follows them."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str | None]] = []
        self.operands: list[str] = []

    def has(self, *names: str) -> bool:
        return any(name in names for name, _ in self.found)

    def value(self, *names: str) -> str | None:
        for name, value in self.found:
            if name in names and value is not None:
                return value
        return None


def _long(name: str, known: Sequence[str]) -> str:
    """GNU ``getopt_long`` matching: exact name, else a unique prefix."""
    if name in known:
        return name
    matches = [candidate for candidate in known if candidate.startswith(name)]
    return matches[0] if len(matches) == 1 else name


def _getopt(
    args: Sequence[str],
    short_arg: str = "",
    long_arg: Sequence[str] = (),
    long_flag: Sequence[str] = (),
    *,
    short_optional: str = "",
    long_optional: Sequence[str] = (),
    permute: bool = False,
) -> _Opts:
    opts = _Opts()
    known = (*long_arg, *long_flag, *long_optional)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            opts.operands.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            name = _long(name, known)
            if name in long_arg and not eq:
                value = args[i] if i < len(args) else ""
                i += 1
            opts.found.append(("--" + name, value if (eq or name in long_arg) else None))
            continue
        if arg.startswith("-") and len(arg) > 1:
            for j in range(1, len(arg)):
                letter = arg[j]
                if letter in short_arg:
                    value = arg[j + 1 :]
                    if not value:
                        value = args[i] if i < len(args) else ""
                        i += 1
                    opts.found.append(("-" + letter, value))
                    break
                if letter in short_optional:
                    opts.found.append(("-" + letter, arg[j + 1 :] or None))
                    break
                opts.found.append(("-" + letter, None))
            continue
        if permute:
            opts.operands.append(arg)
            continue
        opts.operands.extend(args[i - 1 :])
        break
    return opts


# --- shells -------------------------------------------------------------------------

#: What a wrapper step yields: the next argv to examine, a shell command string, or None.
_Step = list[str] | str | None


def _posix_shell(args: Sequence[str], appended: bool) -> str | None:
    """sh/bash/dash/ksh/zsh/...: ``-c`` anywhere in the option bundles, then the first
    operand is the command string (``sh -ec CMD``, ``bash --norc -c CMD``, ``sh -c -- CMD``)."""
    command_flag = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("--", "-"):
            break
        if arg.startswith("--"):
            if arg[2:] in ("rcfile", "init-file", "emulate"):
                i += 1
            if arg[2:] in ("command",):  # xonsh/elvish style
                command_flag = True
            continue
        if len(arg) > 1 and arg[0] in "-+":
            if arg[0] == "-" and "c" in arg[1:]:
                command_flag = True
            # -o NAME / -O NAME (and +o/+O) take the next argument, once per letter.
            i += sum(1 for letter in arg[1:] if letter in "oO")
            continue
        i -= 1
        break
    if not command_flag:
        return None
    if i < len(args):
        return args[i]
    return "" if appended else None


def _csh(args: Sequence[str], appended: bool) -> str | None:
    """csh/tcsh: ``-c`` takes the argument after its option bundle, whatever it looks like."""
    for i, arg in enumerate(args):
        if not arg.startswith("-") or arg == "-":
            return None
        if "c" in arg[1:]:
            if i + 1 < len(args):
                return args[i + 1]
            return "" if appended else None
        if "b" in arg[1:]:
            return None
    return None


def _fish(args: Sequence[str], appended: bool) -> str | None:
    opts = _getopt(
        args,
        "cCpdofD",
        ("command", "init-command", "features", "debug", "debug-output", "profile",
         "profile-startup", "debug-stack-frames"),
        ("interactive", "login", "no-config", "no-execute", "private", "help", "version"),
    )
    return opts.value("-c", "--command", "-C", "--init-command")


def _pwsh(args: Sequence[str], appended: bool) -> str | None:
    for i, arg in enumerate(args):
        lowered = arg.lower().lstrip("-/")
        if lowered in ("c", "command", "e", "ec", "encodedcommand", "commandwithargs", "cwa"):
            rest = args[i + 1 :]
            return " ".join(rest) if rest else ("" if appended else None)
    return None


def _cmd_exe(args: Sequence[str], appended: bool) -> str | None:
    for i, arg in enumerate(args):
        if arg.lower() in ("/c", "/k", "/r"):
            return " ".join(args[i + 1 :])
    return None


def _multicall(args: Sequence[str], appended: bool) -> list[str] | None:
    """busybox/toybox: the applet is the first argument (``busybox sh -c CMD``)."""
    rest = [arg for arg in args if not arg.startswith("--")] if args else []
    return rest or None


_SHELL_PARSERS: dict[str, Callable[[Sequence[str], bool], str | None]] = {
    "csh": _csh,
    "tcsh": _csh,
    "fish": _fish,
    "pwsh": _pwsh,
    "powershell": _pwsh,
    "cmd": _cmd_exe,
}


# --- wrappers -----------------------------------------------------------------------


def _env(args: list[str]) -> _Step:
    for _ in range(_MAX_HOPS):
        opts = _getopt(
            args,
            "uCSPa",
            ("unset", "chdir", "split-string", "argv0"),
            ("ignore-environment", "null", "debug", "list-signal-handling", "help", "version"),
            short_optional="",
            long_optional=("block-signal", "default-signal", "ignore-signal"),
        )
        split = next(
            (index for index, (name, _) in enumerate(opts.found)
             if name in ("-S", "--split-string")),
            None,
        )
        if split is None:
            break
        # GNU env -S: the string is split into arguments that env itself parses next.
        value = opts.found[split][1] or ""
        args = _split(value) + opts.operands
    operands = opts.operands
    while operands and "=" in operands[0]:
        operands = operands[1:]
    return operands or None


def _split(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError:  # unbalanced quotes: env refuses too, but stay conservative
        return value.split()


def _skip(count: int, operands: list[str]) -> _Step:
    return operands[count:] or None


def _timeout(args: list[str]) -> _Step:
    opts = _getopt(args, "sk", ("signal", "kill-after"),
                   ("preserve-status", "foreground", "verbose", "help", "version"))
    return _skip(1, opts.operands)


def _nice(args: list[str]) -> _Step:
    if args and re.fullmatch(r"-[0-9]+|--[0-9]+", args[0]):
        args = args[1:]
    return _getopt(args, "n", ("adjustment",), ("help", "version")).operands or None


def _plain(args: list[str]) -> _Step:
    return _getopt(args, "", (), ("help", "version")).operands or None


def _setsid(args: list[str]) -> _Step:
    return _getopt(args, "", (), ("ctty", "fork", "wait", "help", "version")).operands or None


def _stdbuf(args: list[str]) -> _Step:
    return _getopt(args, "ioe", ("input", "output", "error"), ("help",)).operands or None


def _ionice(args: list[str]) -> _Step:
    opts = _getopt(args, "cnpPu", ("class", "classdata", "pid", "pgid", "uid"),
                   ("ignore", "help", "version"))
    if opts.has("-p", "-P", "-u", "--pid", "--pgid", "--uid"):
        return None
    return opts.operands or None


def _chrt(args: list[str]) -> _Step:
    opts = _getopt(args, "TPD", ("sched-runtime", "sched-period", "sched-deadline"),
                   ("all-tasks", "batch", "deadline", "fifo", "idle", "other", "rr",
                    "reset-on-fork", "max", "pid", "verbose", "help", "version"))
    if opts.has("-p", "-m", "--pid", "--max"):
        return None
    operands = opts.operands
    if operands and operands[0].isdigit():
        operands = operands[1:]
    return operands or None


def _taskset(args: list[str]) -> _Step:
    opts = _getopt(args, "", (), ("all-tasks", "cpu-list", "pid", "help", "version"))
    return None if opts.has("-p", "--pid") else _skip(1, opts.operands)


def _flock(args: list[str]) -> _Step:
    opts = _getopt(args, "wEc", ("timeout", "wait", "conflict-exit-code", "command"),
                   ("shared", "exclusive", "unlock", "nonblock", "nb", "no-fork", "close",
                    "verbose", "help", "version"))
    command = opts.value("-c", "--command")
    if command is not None:
        return _as_shell(command)
    operands = opts.operands
    # `flock FILE -c COMMAND`: util-linux checks the word after FILE itself.
    if len(operands) > 2 and operands[1] in ("-c", "--command"):
        return _as_shell(operands[2])
    return _skip(1, operands)


def _as_shell(command: str) -> list[str]:
    """The argv a wrapper runs for a command string: ``/bin/sh -c COMMAND``."""
    return ["sh", "-c", command]


def _sudo(args: list[str]) -> _Step:
    opts = _getopt(
        args,
        "aCcDgpRrTtUu",
        ("askpass", "close-from", "chdir", "chroot", "group", "host", "prompt", "role", "type",
         "command-timeout", "other-user", "user", "login-class"),
        ("background", "bell", "edit", "set-home", "help", "login", "remove-timestamp",
         "reset-timestamp", "list", "non-interactive", "preserve-groups", "stdin", "shell",
         "version", "validate"),
        short_optional="h",
        long_optional=("preserve-env",),
    )
    if opts.has("-e", "--edit", "-l", "--list", "-v", "--validate", "-k", "-K"):
        return None
    operands = opts.operands
    while operands and "=" in operands[0] and not operands[0].startswith("="):
        operands = operands[1:]
    if opts.has("-s", "--shell", "-i", "--login"):
        return _as_shell(" ".join(operands)) if operands else None
    return operands or None


def _doas(args: list[str]) -> _Step:
    opts = _getopt(args, "uC", (), ())
    if opts.has("-s", "-C"):
        return None
    return opts.operands or None


def _su(args: list[str]) -> _Step:
    opts = _getopt(
        args,
        "cgGswu",
        ("command", "session-command", "group", "supp-group", "shell", "whitelist-environment",
         "user"),
        ("login", "preserve-environment", "pty", "fast", "help", "version"),
        permute=True,
    )
    command = opts.value("-c", "--command", "--session-command")
    if command is not None:
        return _as_shell(command)
    if opts.has("-u", "--user"):  # runuser -u USER COMMAND...
        return opts.operands or None
    operands = [arg for arg in opts.operands if arg != "-"]
    # Arguments after the user name go to the user's shell: `su root -- -c CMD`.
    return ["sh", *operands[1:]] if len(operands) > 1 else None


def _script(args: list[str]) -> _Step:
    opts = _getopt(args, "BcEIOoTm", ("command", "echo", "log-in", "log-out", "log-io",
                   "log-timing", "output-limit", "logging-format"), (), short_optional="t",
                   long_optional=("timing",), permute=True)
    command = opts.value("-c", "--command")
    return _as_shell(command) if command is not None else None


def _xargs(args: list[str]) -> _Step:
    opts = _getopt(
        args,
        "adEILnPs",
        ("arg-file", "delimiter", "max-args", "max-procs", "max-chars", "process-slot-var"),
        ("null", "open-tty", "interactive", "no-run-if-empty", "verbose", "exit",
         "show-limits", "help", "version"),
        short_optional="eil",
        long_optional=("eof", "replace", "max-lines"),
    )
    return opts.operands or ["echo"]


def _chroot(args: list[str]) -> _Step:
    opts = _getopt(args, "", ("userspec", "groups"), ("skip-chdir", "help", "version"))
    return _skip(1, opts.operands)


def _unshare(args: list[str]) -> _Step:
    opts = _getopt(
        args,
        "RwSGl",
        ("setgroups", "propagation", "map-user", "map-group", "map-users", "map-groups", "root",
         "wd", "monotonic", "boottime", "setuid", "setgid", "load-interp"),
        ("fork", "map-root-user", "map-current-user", "map-auto", "keep-caps", "help",
         "version"),
        long_optional=("mount", "uts", "ipc", "net", "pid", "user", "cgroup", "time",
                       "kill-child", "mount-proc", "mount-binfmt"),
    )
    return opts.operands or None


def _nsenter(args: list[str]) -> _Step:
    opts = _getopt(
        args,
        "tSGW",
        ("target", "setuid", "setgid", "wdns", "env"),
        ("all", "preserve-credentials", "no-fork", "follow-context", "help", "version"),
        short_optional="muinpCUTrw",
        long_optional=("mount", "uts", "ipc", "net", "pid", "cgroup", "user", "time", "root",
                       "wd", "user-parent"),
    )
    return opts.operands or None


def _time(args: list[str]) -> _Step:
    opts = _getopt(args, "fo", ("format", "output"),
                   ("append", "portability", "quiet", "verbose", "help", "version"))
    return opts.operands or None


def _watch(args: list[str]) -> _Step:
    opts = _getopt(args, "nq", ("interval", "equexit"),
                   ("beep", "color", "no-color", "chgexit", "errexit", "exec", "no-title",
                    "no-wrap", "precise", "help", "version"),
                   short_optional="d", long_optional=("differences",))
    if opts.has("-x", "--exec"):
        return opts.operands or None
    return _as_shell(" ".join(opts.operands)) if opts.operands else None


def _sg(args: list[str]) -> _Step:
    rest = [arg for arg in args[1:] if arg != "-c"]
    return _as_shell(" ".join(rest)) if rest else None


def _parallel(args: list[str]) -> _Step:
    # GNU parallel runs every job through a shell; the command may also come from stdin.
    words = []
    for arg in args:
        if arg.startswith(":::"):
            break
        if not arg.startswith("-"):
            words.append(arg)
    return _as_shell(" ".join(words))


def _setarch(args: list[str]) -> _Step:
    # `setarch ARCH [flags] [PROGRAM [ARGS]]`; with no program it starts a shell.
    return _setarch_alias(args[1:]) if args else None


def _setarch_alias(args: list[str]) -> _Step:
    # linux32/linux64/i386/x86_64: setarch with the architecture implied by the name.
    opts = _getopt(args, "", (), ("verbose", "addr-no-randomize", "fdpic-funcptrs",
                   "mmap-page-zero", "addr-compat-layout", "read-implies-exec", "32bit",
                   "short-inode", "whole-seconds", "sticky-timeouts", "3gb", "4gb",
                   "uname-2.6", "list", "help", "version"))
    return opts.operands or None


def _capsh(args: list[str]) -> _Step:
    # capsh runs its --shell (default /bin/bash) with everything after `--`; `==`
    # re-runs capsh itself with the rest.
    shell = "bash"
    for index, arg in enumerate(args):
        if arg.startswith("--shell="):
            shell = arg.partition("=")[2] or shell
        elif arg == "--":
            return [shell, *args[index + 1 :]]
        elif arg == "==":
            return ["capsh", *args[index + 1 :]]
    return None


def _ld_so(args: list[str]) -> _Step:
    opts = _getopt(args, "", ("library-path", "inhibit-rpath", "audit", "preload", "argv0",
                   "glibc-hwcaps-prepend", "glibc-hwcaps-mask"),
                   ("list", "verify", "inhibit-cache", "list-tunables", "list-diagnostics",
                    "help", "version"))
    if opts.has("--list", "--verify"):
        return None
    return opts.operands or None


_TMUX_COMMANDS = frozenset({
    "new-session", "new", "new-window", "neww", "split-window", "splitw", "run-shell", "run",
    "respawn-pane", "respawnp", "respawn-window", "respawnw", "if-shell", "if", "pipe-pane",
    "pipep", "display-popup", "popup",
})


def _tmux(args: list[str]) -> _Step:
    # tmux runs a command word of these commands through its default shell (-c).
    # Approximation: the last word after the command, unless it is an option.
    for index, arg in enumerate(args):
        if arg in _TMUX_COMMANDS:
            rest = args[index + 1 :]
            if rest and not rest[-1].startswith("-"):
                return rest[-1]
            return None
    return None


_WRAPPERS: dict[str, Callable[[list[str]], _Step]] = {
    "setarch": _setarch, "linux32": _setarch_alias, "linux64": _setarch_alias,
    "x86_64": _setarch_alias, "i386": _setarch_alias, "i686": _setarch_alias,
    "uname26": _setarch_alias, "capsh": _capsh, "ld.so": _ld_so, "tmux": _tmux,
    "env": _env, "genv": _env, "timeout": _timeout, "gtimeout": _timeout, "nice": _nice,
    "gnice": _nice, "nohup": _plain, "setsid": _setsid, "stdbuf": _stdbuf, "gstdbuf": _stdbuf,
    "ionice": _ionice, "chrt": _chrt, "taskset": _taskset, "flock": _flock, "sudo": _sudo,
    "doas": _doas, "su": _su, "runuser": _su, "script": _script, "xargs": _xargs,
    "gxargs": _xargs, "chroot": _chroot, "unshare": _unshare, "nsenter": _nsenter,
    "time": _time, "watch": _watch, "sg": _sg, "parallel": _parallel, "command": _plain,
    "exec": _plain, "builtin": _plain,
}

#: Wrappers whose option syntax is not modelled: every later argument is tried.
_GENERIC_WRAPPERS = ARG_EXECUTING_WRAPPERS - set(_WRAPPERS) - {"find", "gfind", "busybox",
                                                                 "toybox"}

_MULTICALL = frozenset({"busybox", "toybox"})
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})


def _find_commands(args: list[str]) -> list[list[str]]:
    commands = []
    i = 0
    while i < len(args):
        if args[i] in _FIND_EXEC:
            end = i + 1
            while end < len(args) and args[end] not in (";", "+"):
                end += 1
            commands.append(args[i + 1 : end])
            i = end
        i += 1
    return commands


def find_shell_command(argv: Sequence[Arg]) -> str | None:
    """The command string a shell started by *argv* would run, or ``None``.

    Follows argument-executing wrappers (``env``, ``timeout``, ``sudo``, ``xargs``,
    ``find -exec``, ...) and multi-call binaries, resolving program symlinks. Returns
    ``""`` when a shell gets ``-c`` but its command string is supplied at run time
    outside *argv* (``xargs sh -c`` appends it from stdin): callers must test
    ``is not None``, never truthiness.
    """
    words = [_text(arg) for arg in argv]
    return _search(words, appended=False, hops=0)


def _search(words: list[str], *, appended: bool, hops: int) -> str | None:
    if not words or hops > _MAX_HOPS:
        return None
    names = program_names(words[0])
    args = words[1:]
    if _normalise(os.path.basename(words[0])) in _MULTICALL:
        # Written as `busybox APPLET ...`: the applet is what runs. (A link named after
        # the applet, /bin/sh -> busybox, is matched by its written name below.)
        step = _multicall(args, appended)
        return _search(step, appended=appended, hops=hops + 1) if step else None
    shell = names & (SHELLS - _MULTICALL)
    if shell:
        parser = next((_SHELL_PARSERS[name] for name in shell if name in _SHELL_PARSERS),
                      _posix_shell)
        return parser(args, appended)
    if names & {"find", "gfind"}:
        for command in _find_commands(args):
            found = _search(command, appended=appended, hops=hops + 1)
            if found is not None:
                return found
        return None
    for name in names:
        handler = _WRAPPERS.get(name)
        if handler is not None:
            wrapped = handler(args)
            if isinstance(wrapped, str):
                return wrapped
            if wrapped is None:
                return None
            return _search(wrapped, appended=appended or name in ("xargs", "gxargs"),
                           hops=hops + 1)
    if names & _GENERIC_WRAPPERS:
        for start in range(len(args)):
            if args[start].startswith("-"):
                continue
            inner = program_names(args[start])
            if inner & (SHELLS | ARG_EXECUTING_WRAPPERS):
                found = _search(args[start:], appended=appended, hops=hops + 1)
                if found is not None:
                    return found
    return None


def wrapped_command(name: str, args: Sequence[str]) -> list[str] | None:
    """What the wrapper *name* (normalised) runs when given *args*, one level deep.

    Returns the wrapped argv (a suffix of *args* when the wrapper runs it as given; a
    synthesised ``["sh", "-c", COMMAND]`` when it runs a command string, as ``flock -c``
    and ``sudo -s`` do; re-split words for ``env -S``), or None when it runs no command.
    Only the wrappers with a modelled syntax are known; others give None.
    """
    handler = _WRAPPERS.get(name)
    if handler is None:
        return None
    wrapped = handler(list(args))
    if isinstance(wrapped, str):
        return _as_shell(wrapped)
    return wrapped

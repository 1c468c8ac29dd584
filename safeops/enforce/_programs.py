"""Programs that are handed code to run, other than a shell given ``-c``.

Helpers of :mod:`._processes` for the default ``process="shells"`` policy (attack
review 2026-11-28, E4). :func:`find_shell_command` (shared with ``run_cmd``) finds a
shell given a command string; :func:`find_code_use` finds the other ways an argument
vector turns text into code:

- *commands*, refused like a shell whoever asks (rule ``process.shell``): a shell that
  reads its commands from stdin (no ``-c`` and no script operand, or ``-s``), and the
  programs of :mod:`._command_programs` (awk ``system()``, sed ``e``, git aliases...);
- *inline code* (rule ``process.code``): an interpreter given its program in an
  argument (``python -c``, ``perl -e``, ``node --eval``, ``ruby -e``, ``php -r``...) or
  reading it from stdin, judged by who wrote the code (:func:`._processes.code_author`).

Wrapper programs (``env``, ``timeout``, ``xargs``, ``sudo``, ``find -exec``, busybox)
are followed with the shared knowledge of :mod:`safeops.command._knowledge`.

Limits (documented in docs/enforce.md): a program reading its code from a *file* is
not judged (``python script.py``); only the interpreters in :data:`_SPECS` are parsed;
modules run with ``python -m`` that take code (``timeit``, ``pdb -c``) are not
recognised.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from safeops.command._knowledge import (
    ARG_EXECUTING_WRAPPERS,
    INTERPRETERS,
    SHELLS,
    program_names,
    wrapped_command,
)
from safeops.enforce._command_programs import (
    AWKS,
    SEDS,
    SQLITES,
    CodeUse,
    awk_code_use,
    git_code_use,
    sed_code_use,
    sqlite_code_use,
)

__all__ = ["CodeUse", "find_code_use"]

_MAX_HOPS: Final = 16
_MULTICALL: Final = frozenset({"busybox", "toybox"})
_APPENDING: Final = frozenset({"xargs", "gxargs"})
_FIND: Final = frozenset({"find", "gfind"})
_FIND_EXEC: Final = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
#: Script operands that are the process's standard input under another name (attack
#: review 3, G5): `python /dev/stdin`, `sh /proc/self/fd/0`.
_STDIN_PATHS: Final = frozenset(
    {"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/proc/thread-self/fd/0"}
)
#: Shells whose option syntax is not POSIX-like: their stdin use is not judged here.
_OTHER_SHELLS: Final = frozenset({"pwsh", "powershell", "cmd"})
#: Program names worth following through a wrapper whose syntax is not modelled.
_JUDGED: Final = (SHELLS | INTERPRETERS | AWKS | SEDS | SQLITES | ARG_EXECUTING_WRAPPERS
                  | frozenset({"git"}))


@dataclass(frozen=True)
class _Spec:
    """How one interpreter family takes its program: whole-word options whose value is
    code (``--eval``, ``-eval``), option letters whose value is code inside a bundle
    (``perl -ne CODE``), letters whose value is attached or next (``-m MOD``), letters
    that take the rest of the word (``perl -i.bak``) or only the digits that follow
    (``perl -l0ne``), letters after whose value the
    program's own arguments start (``python -m``), options that only print and exit,
    and whether the program is read from stdin when no script is named."""

    code_words: frozenset[str] = frozenset()
    code_letters: str = ""
    valued_words: frozenset[str] = frozenset()
    valued_letters: str = ""
    attached_letters: str = ""
    digit_letters: str = ""
    stop_letters: str = ""
    exit_words: frozenset[str] = frozenset({"--version", "--help", "-h", "-v", "-V"})
    stdin: bool = False


def _words(*items: str) -> frozenset[str]:
    return frozenset(items)


_PYTHON = _Spec(
    code_words=_words("-c"), code_letters="c", valued_words=_words("--check-hash-based-pycs"),
    valued_letters="mWXQ", stop_letters="m",
    exit_words=_words("--version", "--help", "--help-env", "--help-xoptions", "--help-all",
                      "-h", "-V", "-?"),
    stdin=True,
)
_PERL = _Spec(code_words=_words("-e", "-E"), code_letters="eE", valued_letters="IMm",
              attached_letters="ixdDV", digit_letters="l0C", stdin=True)
_RUBY = _Spec(code_words=_words("-e"), code_letters="e", valued_letters="ICrE",
              attached_letters="FKix", digit_letters="0WT",
              exit_words=_words("--version", "--help", "-h", "-v"), stdin=True)
_NODE = _Spec(code_words=_words("-e", "--eval", "-p", "--print"), code_letters="ep",
              valued_words=_words("--require", "--import", "--loader", "--experimental-loader",
                                  "--env-file", "--conditions", "--input-type"),
              valued_letters="rC", stdin=True)
_PHP = _Spec(code_words=_words("-r", "-B", "-R", "-E"), code_letters="rBRE",
             valued_letters="cdFtz", exit_words=_words("--version", "--help", "-h", "-v",
                                                        "-i", "-m"), stdin=True)
_LUA = _Spec(code_words=_words("-e"), code_letters="e", valued_letters="l", stdin=True)
_E = _Spec(code_words=_words("-e", "--eval"))

#: Interpreter families (names as in ``INTERPRETERS``) and how each takes inline code.
_SPECS: Final[dict[str, _Spec]] = {
    "python": _PYTHON, "pypy": _PYTHON, "ipython": _Spec(code_words=_words("-c")),
    "perl": _PERL, "ruby": _RUBY, "node": _NODE, "nodejs": _NODE,
    "bun": _Spec(code_words=_words("-e", "--eval", "-p", "--print")),
    "qjs": _E, "php": _PHP, "php-cgi": _PHP, "lua": _LUA, "luajit": _LUA,
    "rscript": _Spec(code_words=_words("-e")), "r": _Spec(code_words=_words("-e")),
    "julia": _Spec(code_words=_words("-e", "--eval", "-E", "--print")),
    "osascript": _Spec(code_words=_words("-e")), "groovy": _Spec(code_words=_words("-e")),
    "scala": _Spec(code_words=_words("-e")), "erl": _Spec(code_words=_words("-eval")),
    "elixir": _E, "iex": _Spec(code_words=_words("--eval")),
    "guile": _Spec(code_words=_words("-c")), "racket": _E,
    "sbcl": _Spec(code_words=_words("--eval")), "clisp": _Spec(code_words=_words("-x")),
    "ghci": _Spec(code_words=_words("-e")), "expect": _Spec(code_words=_words("-c")),
    "gdb": _Spec(code_words=_words("-ex", "--eval-command", "-iex", "--init-eval-command")),
    "lldb": _Spec(code_words=_words("-o", "--one-line", "-O", "--one-line-before-file")),
    "emacs": _Spec(code_words=_words("--eval")), "octave": _Spec(code_words=_words("--eval")),
    "bpftrace": _Spec(code_words=_words("-e")), "dc": _Spec(code_words=_words("-e",
                                                                              "--expression")),
    "make": _Spec(code_words=_words("--eval", "-E")),
    "gmake": _Spec(code_words=_words("--eval", "-E")),
}


def find_code_use(argv: Sequence[str]) -> CodeUse | None:
    """How running *argv* (directly or through wrappers) hands a program code to run,
    beyond a shell's ``-c`` (which :func:`find_shell_command` reports), or ``None``."""
    for words, appended in _commands(list(argv), appended=False, hops=0):
        found = _judge(words, appended)
        if found is not None:
            return found
    return None


def _commands(words: list[str], *, appended: bool, hops: int) -> Iterator[tuple[list[str], bool]]:
    """*words* and every command a wrapper in it would run (``appended``: the wrapper
    adds arguments read at run time, as xargs does)."""
    if not words or hops > _MAX_HOPS:
        return
    yield words, appended
    names = program_names(words[0])
    args = words[1:]
    if names & _MULTICALL:
        applet = [arg for arg in args if not arg.startswith("--")]
        yield from _commands(applet, appended=appended, hops=hops + 1)
        return
    if names & _FIND:
        for start, arg in enumerate(args):
            if arg in _FIND_EXEC:
                end = start + 1
                while end < len(args) and args[end] not in (";", "+"):
                    end += 1
                yield from _commands(args[start + 1 : end], appended=appended, hops=hops + 1)
        return
    wrapper = names & ARG_EXECUTING_WRAPPERS
    if not wrapper:
        return
    appends = appended or bool(names & _APPENDING)
    for name in sorted(wrapper):
        wrapped = wrapped_command(name, args)
        if wrapped is not None:
            yield from _commands(wrapped, appended=appends, hops=hops + 1)
            return
    # A wrapper whose syntax is not modelled: every later word that names a program
    # handed code is tried (over-approximates rather than misses).
    for start, arg in enumerate(args):
        if not arg.startswith("-") and program_names(arg) & _JUDGED:
            yield from _commands(args[start:], appended=appends, hops=hops + 1)


def _judge(words: list[str], appended: bool) -> CodeUse | None:
    names = program_names(words[0])
    args = words[1:]
    program = words[0]
    if names & (SHELLS - _MULTICALL - _OTHER_SHELLS):
        if not appended and _shell_reads_stdin(args):
            return CodeUse("command", program, " ".join(words),
                           "a shell reading its commands from stdin (like shell=True)")
        return None
    if names & AWKS:
        return awk_code_use(program, args)
    if names & SEDS:
        return sed_code_use(program, args)
    if "git" in names:
        return git_code_use(program, args)
    if names & SQLITES:
        return sqlite_code_use(program, args)
    for name in sorted(names & _SPECS.keys()):
        found = _inline_code(_SPECS[name], args)
        if found is not None and not (appended and found[0] == "stdin"):
            kind, text = found
            how = ("an interpreter given its program in an argument" if kind == "inline"
                   else "an interpreter reading its program from stdin")
            return CodeUse(kind, program, text, how)
    return None


def _shell_reads_stdin(args: Sequence[str]) -> bool:
    """A POSIX-like shell with no ``-c`` and no script operand, or with ``-s``."""
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("--", "-"):
            return i >= len(args)
        if arg.startswith("--"):
            if arg[2:] in ("version", "help"):
                return False
            if arg[2:] in ("rcfile", "init-file", "emulate"):
                i += 1
            continue
        if len(arg) > 1 and arg[0] in "-+":
            if arg[0] == "-" and "c" in arg[1:]:
                return False  # a command string: find_shell_command reports it
            if arg[0] == "-" and "s" in arg[1:]:
                return True
            i += sum(1 for letter in arg[1:] if letter in "oO")
            continue
        return arg in _STDIN_PATHS  # a script operand: stdin when it names stdin
    return True


def _inline_code(spec: _Spec, args: Sequence[str]) -> tuple[str, str] | None:
    """``("inline", code)``, ``("stdin", "")`` or None for one interpreter's arguments."""
    exits = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if arg == "-":
            return ("stdin", "") if spec.stdin else None
        if not arg.startswith("-"):
            if spec.stdin and arg in _STDIN_PATHS:
                return "stdin", ""  # `python /dev/stdin`: stdin spelled as a path
            return None  # a script file: its contents are not judged
        name, eq, value = arg.partition("=")
        if arg in spec.code_words or (eq and name in spec.code_words):
            if eq and name in spec.code_words:
                return "inline", value
            return "inline", args[i] if i < len(args) else ""
        if arg in spec.exit_words:
            exits = True
            continue
        if name in spec.valued_words:
            i += 0 if eq else 1
            continue
        if arg.startswith("--"):
            continue
        j = 1
        while j < len(arg):
            letter = arg[j]
            j += 1
            if letter in spec.digit_letters:
                while j < len(arg) and (arg[j].isdigit() or arg[j] in "xX"):
                    j += 1
                continue
            if letter in spec.code_letters:
                rest = arg[j:]
                return "inline", rest if rest else (args[i] if i < len(args) else "")
            if letter in spec.valued_letters:
                if not arg[j:]:
                    i += 1
                if letter in spec.stop_letters:
                    return None  # python -m MODULE: the module's own arguments follow
                break
            if letter in spec.attached_letters:
                break
    if i < len(args):  # stopped at "--": the next word is the script
        return ("stdin", "") if spec.stdin and args[i] in _STDIN_PATHS else None
    return ("stdin", "") if spec.stdin and not exits else None

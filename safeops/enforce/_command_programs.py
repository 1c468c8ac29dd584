"""Programs that run a shell command given in their arguments, other than a shell.

Helpers of :mod:`._programs` (attack review 2026-11-28, E4): an awk program that calls
``system()``, pipes to or from a command or loads an extension; a GNU sed script with
the ``e`` command or the ``s///e`` flag; git given a command through ``-c``
configuration (``alias.x=!cmd``, ``core.sshCommand``...) or a command option
(``--upload-pack``, ``rebase --exec``...); sqlite3's ``.shell``/``.system``. Refused
like a shell with ``-c``, whoever asks (rule ``process.shell``).

Limits: a program read from a file (``awk -f``, ``sed -f``) is not judged; gawk and GNU
sed started with ``--sandbox`` are allowed (they refuse these commands themselves); git
commands configured outside argv (environment, config files) are not seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "AWKS",
    "SEDS",
    "SQLITES",
    "CodeUse",
    "awk_code_use",
    "git_code_use",
    "sed_code_use",
    "sed_runs_commands",
    "sqlite_code_use",
]

AWKS: Final = frozenset({"awk", "gawk", "mawk", "nawk", "original-awk", "bwk-awk"})
SEDS: Final = frozenset({"sed", "gsed"})
SQLITES: Final = frozenset({"sqlite", "sqlite3"})
#: awk options that take a value (attached or next): gawk's -f -v -F -e -E -i -l, and
#: -W (POSIX's vendor options: ``-W sandbox``, mawk's ``-W exec FILE``).
_AWK_VALUED: Final = "fvFeEilW"


@dataclass(frozen=True)
class CodeUse:
    """How an argument vector hands code to a program.

    ``kind`` is ``"command"`` (a shell command runs: shell on stdin, awk ``system()``,
    sed ``e``, git alias...), ``"inline"`` (an interpreter's program in an argument,
    ``text``) or ``"stdin"`` (an interpreter reads its program from stdin)."""

    kind: str
    program: str
    text: str
    how: str


def _words(*items: str) -> frozenset[str]:
    return frozenset(items)


#: awk program text that runs a command: system(), a pipe to or from a command
#: (``print | "cmd"``, ``"cmd" | getline``, gawk's ``|&``), or an extension load. Searched
#: in the program without its string and regular-expression literals (``/a|b/``).
_AWK_COMMAND = re.compile(r"\bsystem\s*\(|(?<!\|)\|(?!\|)|@load\b")
#: After these characters an awk ``/`` starts a regular expression; after an operand
#: (a name, a number, ``)``, ``]``) it divides.
_AWK_REGEX_AFTER = frozenset("(,{};!~&|?:=+-*%<>^\n")

#: git configuration keys whose value git runs as a command (lower case; subsections
#: are matched loosely). ``alias.*`` only when the value starts with ``!``.
_GIT_COMMAND_KEYS = re.compile(
    r"core\.(sshcommand|pager|editor|askpass|fsmonitor|gitproxy|hookspath)|sequence\.editor"
    r"|pager\..+|diff\.external|diff\..+\.(command|textconv)|difftool\..+\.cmd"
    r"|mergetool\..+\.cmd|merge\..+\.driver|filter\..+\.(clean|smudge|process)"
    r"|credential(\..+)?\.helper|gpg(\..+)?\.program|gpg\.ssh\.defaultkeycommand"
    r"|uploadpack\.packobjectshook|remote\..+\.(uploadpack|receivepack)|tar\..+\.command"
    r"|web\.browser|browser\..+\.cmd|man\..+\.cmd|imap\.tunnel|interactive\.difffilter"
    r"|submodule\..+\.update|hook\..+\.command|sendemail\.(sendmailcmd|tocmd|cccmd)"
    r"|init\.templatedir"
)
_GIT_OFF_VALUES = _words("", "false", "true", "no", "yes", "off", "on", "0", "1")
_GIT_GLOBAL_VALUED = _words("-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix",
                            "--list-cmds", "--attr-source")
#: Options of git subcommands whose value is a command git runs through the shell.
_GIT_COMMAND_OPTIONS = _words("--upload-pack", "--receive-pack", "--exec", "--extcmd",
                              "--open-files-in-pager", "--sendmail-cmd", "--to-cmd",
                              "--cc-cmd", "--header-cmd")
_GIT_COMMAND_SHORT = {"rebase": "-x", "difftool": "-x", "clone": "-u", "ls-remote": "-u",
                      "grep": "-O"}


class _Options:
    """A getopt-style walk over argv: iterating yields each option, :meth:`value` takes
    the value of the one just yielded, and :attr:`operands` collects the rest. The first
    operand ends the options unless *permute* (GNU); so does ``--``, and the arguments
    after it join the operands collected so far (GNU sed permutes, so in
    ``sed 'e CMD' -- FILE`` the script is the operand *before* ``--``)."""

    def __init__(self, args: Sequence[str], *, permute: bool) -> None:
        self.operands: list[str] = []
        self._args = args
        self._permute = permute
        self._next = 0

    def __iter__(self) -> Iterator[str]:
        args = self._args
        while self._next < len(args):
            arg = args[self._next]
            self._next += 1
            if arg == "--":
                self.operands.extend(args[self._next :])
                return
            if arg.startswith("-") and arg != "-":
                yield arg
            elif self._permute:
                self.operands.append(arg)
            else:
                self.operands = list(args[self._next - 1 :])
                return

    def value(self, attached: str | None) -> str:
        """*attached* (the value given in the option's own argument), or else the next
        argument, which is consumed (``""`` past the end)."""
        if attached is not None:
            return attached
        index = self._next
        self._next += 1
        return self._args[index] if index < len(self._args) else ""


#: GNU sed's and gawk's long options: getopt_long takes any unambiguous prefix of one
#: (``sed --expr=...``, ``gawk --sourc=...``), so names are resolved against these lists.
_SED_LONG = (
    "--quiet", "--silent", "--debug", "--expression", "--file", "--follow-symlinks",
    "--in-place", "--line-length", "--null-data", "--zero-terminated", "--posix",
    "--regexp-extended", "--separate", "--sandbox", "--unbuffered", "--binary", "--help",
    "--version",
)  # fmt: skip
_GAWK_LONG = (
    "--field-separator", "--assign", "--characters-as-bytes", "--traditional",
    "--copyright", "--dump-variables", "--debug", "--source", "--exec", "--gen-pot",
    "--help", "--include", "--trace", "--csv", "--load", "--lint", "--bignum",
    "--use-lc-numeric", "--non-decimal-data", "--pretty-print", "--optimize",
    "--no-optimize", "--profile", "--posix", "--re-interval", "--sandbox", "--lint-old",
    "--version", "--file",
)  # fmt: skip


def _long_option(name: str, known: tuple[str, ...]) -> str:
    """*name* as the program reads it: itself, or the one long option it abbreviates (an
    ambiguous abbreviation makes the program refuse to run, so it is left as is)."""
    if name in known:
        return name
    matches = [option for option in known if option.startswith(name)]
    return matches[0] if len(matches) == 1 else name


def _command_text(
    program: str, texts: list[str], options: _Options, *, from_file: bool,
    runs: Callable[[str], bool], how: str,
) -> CodeUse | None:
    """The first program text (given with an option, or else the first operand, unless
    the program is read from a file) that *runs* a command."""
    if not texts and not from_file and options.operands:
        texts = [options.operands[0]]
    for text in texts:
        if runs(text):
            return CodeUse("command", program, text, how)
    return None


def awk_code_use(program: str, args: Sequence[str]) -> CodeUse | None:
    sources: list[str] = []
    from_file = False
    options = _Options(args, permute=False)
    for arg in options:
        if arg in ("--sandbox", "-S"):
            return None  # gawk: system(), pipes and redirections are off
        name, eq, value = arg.partition("=")
        if arg.startswith("--"):
            name = _long_option(name, _GAWK_LONG)
            if name == "--sandbox":
                return None
            if name in ("--load", "--source", "--file", "--exec", "--include", "--assign",
                        "--field-separator"):
                value = options.value(value if eq else None)
                if name == "--load":
                    return CodeUse("command", program, value, "awk loading an extension")
                if name == "--source":
                    sources.append(value)
                from_file = from_file or name in ("--file", "--exec")
            continue
        letter, attached = arg[1], arg[2:]
        if letter == "S":
            return None  # gawk -S: --sandbox
        if letter not in _AWK_VALUED:
            continue  # flags, and options taking an optional attached value (-d[file])
        value = options.value(attached or None)
        if letter == "l":
            return CodeUse("command", program, value, "awk loading an extension")
        if letter == "W" and value.startswith("sandbox"):
            return None
        if letter == "e":
            sources.append(value)
        from_file = from_file or letter in "fE" or (letter == "W" and value.startswith("exec"))
    return _command_text(
        program, sources, options, from_file=from_file, runs=_awk_runs_commands,
        how="an awk program running commands (system(), pipes, @load)",
    )


def _awk_runs_commands(source: str) -> bool:
    return _AWK_COMMAND.search(_awk_code_only(source)) is not None


def _awk_code_only(source: str) -> str:
    """*source* with its string literals and regular-expression literals blanked out,
    so a ``|`` in ``/a|b/`` or in ``"a|b"`` is not taken for a pipe. A ``/`` after an
    operand is a division and is kept, so text between two divisions is still searched."""
    kept: list[str] = []
    previous = "\n"  # the last significant character kept
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char == '"' or (char == "/" and previous in _AWK_REGEX_AFTER):
            end = i + 1
            while end < n and source[end] != char and source[end] != "\n":
                end += 2 if source[end] == "\\" else 1
            kept.append(" ")
            previous = "x"  # a literal is an operand
            i = end + 1
            continue
        kept.append(char)
        if not char.isspace() or char == "\n":
            previous = char
        i += 1
    return "".join(kept)


def sed_code_use(program: str, args: Sequence[str]) -> CodeUse | None:
    scripts: list[str] = []
    from_file = False
    options = _Options(args, permute=True)  # GNU sed permutes options and operands
    # With POSIXLY_CORRECT in its environment, sed stops at the first operand: an operand
    # before the first -e/-f is then the script. It is judged too (a file so named is
    # rare; a missed script runs commands).
    leading: list[str] | None = None
    for arg in options:
        name, eq, value = arg.partition("=")
        if arg.startswith("--"):
            name = _long_option(name, _SED_LONG)
            if name == "--sandbox":
                return None  # GNU sed refuses e, r and w
            if name in ("--expression", "--file", "--line-length"):
                if leading is None and name != "--line-length":
                    leading = list(options.operands)
                value = options.value(value if eq else None)
                if name == "--expression":
                    scripts.append(value)
                from_file = from_file or name == "--file"
            continue
        for j in range(1, len(arg)):
            letter = arg[j]
            if letter in "efl":
                if leading is None and letter != "l":
                    leading = list(options.operands)
                value = options.value(arg[j + 1 :] or None)
                if letter == "e":
                    scripts.append(value)
                from_file = from_file or letter == "f"
                break
            if letter == "i":
                break  # -i[SUFFIX]
    if leading:
        scripts.append(leading[0])
    return _command_text(
        program, scripts, options, from_file=from_file, runs=sed_runs_commands,
        how="a sed script running commands (the e command or s///e)",
    )


def _skip_delimited(script: str, i: int, delimiter: str) -> int:
    """Index just past the next unescaped *delimiter* from *i*."""
    while i < len(script):
        char = script[i]
        if char == "\\":
            i += 2
            continue
        i += 1
        if char == delimiter:
            return i
    return i


def _skip_address(script: str, i: int) -> int:
    n = len(script)
    if i < n and script[i] in "/\\":
        if script[i] == "\\" and i + 1 < n:
            i = _skip_delimited(script, i + 2, script[i + 1])
        else:
            i = _skip_delimited(script, i + 1, "/")
        while i < n and script[i] in "IM":
            i += 1
    else:
        while i < n and (script[i].isdigit() or script[i] in "$~+"):
            i += 1
    return i


def _end_of_line(script: str, i: int, *, continued: bool) -> int:
    """Index of the newline ending the argument that starts at *i*; with *continued*
    (the text of ``a``, ``i``, ``c``), lines ending with a backslash go on."""
    while True:
        end = script.find("\n", i)
        if end < 0:
            return len(script)
        if not (continued and script[i:end].endswith("\\")):
            return end
        i = end + 1


def sed_runs_commands(script: str) -> bool:
    """True if the sed *script* has GNU sed's ``e`` command or an ``s`` command with the
    ``e`` flag (both run a shell command). A small parser of sed's command syntax:
    addresses, ``s``/``y`` arguments, text and file-name arguments to end of line."""
    i, n = 0, len(script)
    while i < n:
        if script[i] in " \t\n;{}!":
            i += 1
            continue
        if script[i] == "#":
            end = script.find("\n", i)
            i = n if end < 0 else end
            continue
        i = _skip_address(script, i)
        while i < n and script[i] in " \t":
            i += 1
        if i < n and script[i] == ",":
            i = _skip_address(script, i + 1)
        while i < n and script[i] in " \t!":
            i += 1
        if i >= n:
            break
        command = script[i]
        i += 1
        if command == "e":
            return True
        if command in "sy" and i < n:
            delimiter = script[i]
            i = _skip_delimited(script, i + 1, delimiter)
            i = _skip_delimited(script, i, delimiter)
            flags_start = i
            while i < n and script[i] not in ";\n}w":
                i += 1
            if command == "s" and "e" in script[flags_start:i]:
                return True
        if command in "aicrRwWbtTv:" or (command == "s" and i < n and script[i] == "w"):
            i = _end_of_line(script, i, continued=command in "aic")
    return False


def git_code_use(program: str, args: Sequence[str]) -> CodeUse | None:
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "-c" or (arg.startswith("-c") and "=" in arg):
            item = arg[2:] if arg != "-c" else (args[i] if i < len(args) else "")
            i += 1 if arg == "-c" else 0
            found = _git_config(program, item)
            if found is not None:
                return found
            continue
        if arg.startswith("--exec-path="):
            return CodeUse("command", program, arg, "git running its commands from a directory")
        if arg in _GIT_GLOBAL_VALUED:
            i += 1
            continue
        if arg.startswith("-"):
            continue
        return _git_subcommand(program, arg, args[i:])
    return None


#: A git URL whose transport is a command (``ext::sh -c ...``; git runs it when
#: ``protocol.ext.allow`` permits, which a ``-c`` can set).
_GIT_COMMAND_URL = re.compile(r"ext::", re.IGNORECASE)


def _git_config(program: str, item: str) -> CodeUse | None:
    key, _, value = item.partition("=")
    key = key.strip().lower()
    stripped = value.strip()
    if key.startswith("alias."):
        runs = stripped.startswith("!")
    else:
        runs = _GIT_COMMAND_KEYS.fullmatch(key) is not None and (
            stripped.lower() not in _GIT_OFF_VALUES
        )
    if runs:
        return CodeUse("command", program, item, "git configuration naming a command to run")
    return None


def _git_subcommand(program: str, sub: str, rest: Sequence[str]) -> CodeUse | None:
    for arg in rest:
        if _GIT_COMMAND_URL.match(arg.partition("=")[2] or arg):
            return CodeUse("command", program, arg, "a git ext:: URL runs a command")
    if sub == "filter-branch" or (sub, rest[:1]) in (("submodule", ["foreach"]),
                                                     ("bisect", ["run"])):
        return CodeUse("command", program, " ".join([sub, *rest]),
                       "a git subcommand running a command given as an argument")
    short = _GIT_COMMAND_SHORT.get(sub)
    for index, arg in enumerate(rest):
        if arg == "--":
            break
        following = rest[index + 1] if index + 1 < len(rest) else ""
        name, eq, value = arg.partition("=")
        if name in _GIT_COMMAND_OPTIONS:
            command = value if eq else following
        elif short is not None and arg.startswith(short):
            command = arg[len(short) :] or following
        else:
            continue
        return CodeUse("command", program, f"{name} {command}",
                       "a git option naming a command to run")
    return None


#: sqlite3 dot-commands that run a command: .shell/.system, and output or input piped
#: through one (``.once '|cmd'``, ``.output |cmd``, ``.import '|cmd' t``, ``.read '|cmd'``).
_SQLITE_COMMAND = re.compile(
    r"(^|\n)\s*\.(shell|system)\b|(^|\n)\s*\.(once|output|import|read)\s+(-\S+\s+)*['\"]?\|"
)


def sqlite_code_use(program: str, args: Sequence[str]) -> CodeUse | None:
    """sqlite3 arguments after the database are SQL or dot-commands: ``.shell``,
    ``.system`` and piped ``.once``/``.output``/``.import``/``.read`` run a command."""
    for arg in args[1:]:
        if _SQLITE_COMMAND.search(arg):
            return CodeUse("command", program, arg, "sqlite3 .shell/.system runs a command")
    return None

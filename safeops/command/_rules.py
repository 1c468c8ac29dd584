"""Built-in rules for programs whose options can run code, read or write files.

Each rule lists the options that make the program run other code (a command, a script,
a pager, a helper, a library, or a config file that can name one): those are refused
wherever they appear. ``file_options`` read or write arbitrary files: the programmer may
write them in argv, but their value may never come from untrusted ``args``. docs/run_cmd.md
explains each rule; the option spellings follow each program's manual.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from safeops.command._options import Occurrence, Scan, Syntax, matches
from safeops.errors import UnsafeCommandError, quote

__all__ = [
    "RULES",
    "UNWRAPPED_WRAPPERS",
    "WRAPPER_RULES",
    "Rule",
    "occurrence_refused",
    "refuse",
    "rule_for",
]


def refuse(program: str, rule: str, what: str, why: str, how: str) -> UnsafeCommandError:
    """The error every refusal raises: which rule refused what, why, how to allow it."""
    return UnsafeCommandError(
        f"refused {what} for {program}: {why} (rule {rule!r}). {how}",
        rule=rule,
        program=program,
        refused=what,
    )


_PLAIN = Syntax()


@dataclass(frozen=True)
class Rule:
    """The built-in knowledge about one program family."""

    names: frozenset[str]
    why: str
    syntax: Syntax = _PLAIN
    code_options: frozenset[str] = frozenset()
    file_options: frozenset[str] = frozenset()
    prepend: tuple[str, ...] = ()
    fixed_env: tuple[tuple[str, str], ...] = ()
    dash_args: bool = False
    check: Callable[[str, Scan, Rule, frozenset[str]], None] | None = field(
        default=None, compare=False
    )


def _set(*items: str) -> frozenset[str]:
    return frozenset(items)


def _how(option: str) -> str:
    return (
        f"If this program must run with {option}, opt in deliberately with "
        f"Program(name, unsafe_allow_options={{{option!r}}})"
    )


# --- git ----------------------------------------------------------------------------

#: git config keys whose value is a command, a program, a hook location, a config file
#: or a URL rewrite (which can turn a URL into ext::). Matched case-insensitively.
_GIT_CODE_KEYS = re.compile(
    r"(core\.(sshcommand|pager|editor|askpass|fsmonitor|hookspath|gitproxy"
    r"|alternaterefscommand|worktree)|sequence\.editor|pager\..*|alias\..*|diff\.external"
    r"|diff\..*\.(command|textconv)|difftool\..*|mergetool\..*|merge\..*\.driver"
    r"|filter\..*|credential(\..*)?\.helper|gpg(\..*)?\.program|gpg\.ssh\..*command"
    r"|uploadpack\.packobjectshook|remote\..*\.(uploadpack|receivepack|vcs)|protocol(\..*)?\.allow"
    r"|url\..*|include\..*|includeif\..*|web\.browser|browser\..*|man\..*|sendemail\..*"
    r"|instaweb\..*|guitool\..*|submodule\..*\.update|interactive\.difffilter|imap\.tunnel"
    r"|tar\..*\.command|hook\..*|trace2\..*|safe\.directory|core\.sshcommand)"
)

_GIT_SUB = Syntax(
    short_with_value="bcjmoC",
    long_with_value=_set("config", "depth", "branch", "origin", "message", "jobs"),
    known_long=_set("exec-path"),
)
_GIT = Syntax(
    short_with_value="cC",
    long_with_value=_set("git-dir", "work-tree", "namespace", "config-env", "super-prefix",
                         "list-cmds", "attr-source"),
    abbreviations=False,
    permute=False,
    subcommand=_GIT_SUB,
)
_GIT_SUB_SHORT = {"clone": "u", "ls-remote": "u", "rebase": "x", "difftool": "x", "grep": "O"}
_GIT_REFUSED_SUBCOMMANDS = {
    "filter-branch": "runs shell commands given as arguments",
    "instaweb": "starts a web server through a configured command",
    "daemon": "runs access hooks and serves repositories",
}


def _git_config_key(program: str, key_value: str, where: str) -> None:
    key = key_value.partition("=")[0].strip().lower()
    if _GIT_CODE_KEYS.fullmatch(key):
        raise refuse(
            program, "git-config-key", f"{where} {quote(key)}",
            "this configuration names a command, program, hook directory, config file or "
            "URL rewrite that git would run or follow",
            "Set it in a config file you control, or opt in with "
            f"Program('git', unsafe_allow_options={{{where.split(maxsplit=1)[0]!r}}})",
        )


def _check_git(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
    sub = parsed.subcommand
    if sub in _GIT_REFUSED_SUBCOMMANDS:
        raise refuse(program, "git-subcommand", f"git {sub}", _GIT_REFUSED_SUBCOMMANDS[sub],
                     "Run it without run_cmd if you really mean it")
    operands = [word.text for word in parsed.operands]
    if (sub, operands[:1]) in (("submodule", ["foreach"]), ("bisect", ["run"])):
        raise refuse(program, "git-subcommand", f"git {sub} {operands[0]}",
                     "it runs a command given as an argument", "Run the steps yourself")
    if sub == "config":
        for text in operands:
            if _GIT_CODE_KEYS.fullmatch(text.lower()):
                _git_config_key(program, text, "git config key")
    for occurrence in parsed.options:
        if occurrence.name in allowed:
            continue
        if occurrence.name == "-c" or (
            occurrence.section == "command" and matches(occurrence, "--config", _GIT_SUB)
        ):
            _git_config_key(program, occurrence.value or "", f"{occurrence.name} key")
        if occurrence.name == "--config-env":
            _git_config_key(program, occurrence.value or "", "--config-env key")
        if occurrence.name == "--exec-path" and occurrence.value is not None:
            raise refuse(program, "git-exec-path", "--exec-path=DIR",
                         "git would run its subcommands from that directory",
                         _how("--exec-path"))
        letters = _GIT_SUB_SHORT.get(sub or "", "")
        if occurrence.section == "command" and not occurrence.long and (
            occurrence.name[1:] in letters
        ):
            raise refuse(program, "git-options", f"{occurrence.name} in git {sub}",
                         "this option names a command git runs", _how(occurrence.name))


# --- ssh family ---------------------------------------------------------------------

_SSH_CODE_KEYS = frozenset(
    {"proxycommand", "localcommand", "permitlocalcommand", "knownhostscommand",
     "pkcs11provider", "securitykeyprovider", "xauthlocation", "include", "match",
     "proxyusefdpass", "remotecommand", "controlpath", "controlmaster", "identityagent",
     "sshaskpass", "canonicalizehostname"}
)


def _ssh_key(value: str) -> str:
    text = value.strip().lstrip("\"'")
    return re.split(r"[\s=\"']", text, maxsplit=1)[0].lower()


def _check_ssh(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
    for occurrence in parsed.options:
        if occurrence.name == "-o" and "-o" not in allowed:
            key = _ssh_key(occurrence.value or "")
            if key in _SSH_CODE_KEYS or not key:
                raise refuse(
                    program, "ssh-option", f"-o {quote(occurrence.value)}",
                    "this ssh_config key runs a local command, loads a library, reads "
                    "another config file or controls connection sharing",
                    _how("-o"),
                )


_SSH = Syntax(short_with_value="BbcDEeFIiJLlmOoPpQRSWw", abbreviations=False)
_SCP = Syntax(short_with_value="cDFiJlloPSX", abbreviations=False)
_SFTP = Syntax(short_with_value="BbcDFiJlloPRSsX", abbreviations=False)


# --- awk / sed ----------------------------------------------------------------------

_AWK_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def _program_text_in_argv(program: str, parsed: Scan, script_options: tuple[str, ...]) -> None:
    if any(o.name in script_options for o in parsed.options):
        return
    if parsed.operands and not parsed.operands[0].trusted:
        raise refuse(program, "script-from-args", "a program text taken from args",
                     "the first operand is the program this tool runs",
                     "Write the program text in argv; args are data")


def _check_awk(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
    _program_text_in_argv(program, parsed, ("-f", "-e", "--file", "--source", "-E", "--exec"))
    for word in parsed.operands:
        if not word.trusted and _AWK_ASSIGNMENT.match(word.text):
            raise refuse(program, "awk-assignment", f"the argument {quote(word.text)}",
                         "awk treats NAME=value operands as variable assignments",
                         "Prefix file names with ./")
    if rule.prepend:  # gawk runs with --sandbox: system(), pipes and redirections are off
        return
    sources = [o.value or "" for o in parsed.options if o.name in ("-e", "--source")]
    if not any(o.name in ("-e", "--source") for o in parsed.options) and parsed.operands:
        sources.append(parsed.operands[0].text)
    for source in sources:
        if "system" in source or re.search(r"(?<!\|)\|(?!\|)", source) or "getline" in source:
            raise refuse(program, "awk-commands", "an awk program using system(), pipes or "
                         "getline", "this awk has no sandbox mode, and these run shell commands",
                         "Use gawk (run with --sandbox), or Program('awk', unsafe_allow_code=True)")


def _check_sed(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
    _program_text_in_argv(program, parsed, ("-e", "-f", "--expression", "--file"))


def _check_openssl(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
    if parsed.subcommand == "engine":
        raise refuse(program, "openssl-engine", "openssl engine",
                     "it loads engine shared libraries named in its arguments",
                     "Run it without run_cmd if you really mean it")


def _check_plus_commands(
    program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]
) -> None:
    """vim and less run `+command` words as commands (before `--`)."""
    if "+" in allowed:
        return
    for word in parsed.operands:
        if word.trusted and word.text.startswith("+"):
            raise refuse(program, "plus-command", quote(word.text),
                         "this program runs +words as commands at start-up",
                         "Opt in with Program(name, unsafe_allow_options={'+'})")


_CURL_SCHEMES = frozenset({"http", "https", "ftp", "ftps"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def _check_curl(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
    for word in parsed.operands:
        match = _SCHEME.match(word.text)
        if not word.trusted and match and match.group(1).lower() not in _CURL_SCHEMES:
            raise refuse(program, "curl-scheme", f"the URL {quote(word.text)} from args",
                         "curl would read local files (file:) or speak other protocols",
                         "Only http, https, ftp and ftps URLs may come from args; write "
                         "other URLs in argv")


_LINUX = sys.platform.startswith("linux")

_WRAPPER_WHY = "runs the command in its arguments; the command is checked in its turn"

RULES: tuple[Rule, ...] = (
    Rule(
        _set("git"),
        "git runs commands named by -c config keys, --upload-pack/--receive-pack/--exec, "
        "templates with hooks, pagers, editors and ext:: URLs",
        _GIT,
        code_options=_set("--upload-pack", "--receive-pack", "--exec", "--template",
                          "--extcmd", "--open-files-in-pager", "--sendmail-cmd", "--to-cmd",
                          "--cc-cmd", "--header-cmd", "--smtp-server", "--access-hook",
                          "--config-env", "--upload-archive"),
        file_options=_set("-C", "--git-dir", "--work-tree", "--output", "--separate-git-dir",
                          "--reference", "--file"),
        fixed_env=(("GIT_ALLOW_PROTOCOL", "file:git:http:https:ssh"),),
        check=_check_git,
    ),
    Rule(
        _set("tar", "gtar", "bsdtar"),
        "tar runs commands from --checkpoint-action=exec, --to-command, "
        "--use-compress-program/-I, --rmt-command, --rsh-command and volume scripts",
        Syntax(short_with_value="bCfFgHIKLNTVX",
               long_with_value=_set("file", "directory", "files-from", "exclude-from"),
               known_long=_set("checkpoint", "file", "to-stdout", "totals", "use-compress-program"),
               old_style_first=True),
        code_options=_set("-I", "--use-compress-program", "--checkpoint-action", "--to-command",
                          "--rmt-command", "--rsh-command", "-F", "--info-script",
                          "--new-volume-script"),
        file_options=_set("-f", "--file", "-T", "--files-from", "-X", "--exclude-from",
                          "-C", "--directory", "--index-file", "-g", "--listed-incremental"),
    ),
    Rule(
        _set("find", "gfind"),
        "find runs commands with -exec/-execdir/-ok/-okdir and writes files with -fprint*",
        Syntax(single_dash_long=True, double_dash=False, abbreviations=False,
               long_with_value=_set("name", "iname", "path", "ipath", "newer", "fprint",
                                    "fprint0", "fprintf", "fls", "type", "perm", "user",
                                    "group", "regex", "iregex", "size", "mtime", "maxdepth",
                                    "mindepth", "files0-from")),
        code_options=_set("-exec", "-execdir", "-ok", "-okdir"),
        file_options=_set("-fprint", "-fprint0", "-fprintf", "-fls", "-files0-from", "-newer",
                          "-delete"),
    ),
    Rule(
        _set("sed", "gsed"),
        "sed scripts run commands (e) and write files (w); GNU sed runs with --sandbox",
        Syntax(short_with_value="efl", long_with_value=_set("expression", "file")),
        file_options=_set("-i", "--in-place", "-f", "--file"),
        prepend=("--sandbox",) if _LINUX else (),
        check=_check_sed,
    ),
    Rule(
        _set("gawk"),
        "awk programs run commands (system(), pipes); gawk runs with --sandbox",
        Syntax(short_with_value="fvFeEilLoWd",
               long_with_value=_set("file", "assign", "field-separator", "source", "exec",
                                    "include", "load")),
        code_options=_set("-l", "--load"),
        file_options=_set("-f", "--file", "-i", "--include", "-E", "--exec", "-o", "-d",
                          "-p", "--profile", "--dump-variables", "--pretty-print"),
        prepend=("--sandbox",),
        check=_check_awk,
    ),
    Rule(
        _set("awk", "mawk", "nawk", "original-awk", "bwk-awk"),
        "awk programs run commands (system(), pipes, getline); this awk has no sandbox",
        Syntax(short_with_value="fvFW"),
        code_options=_set("-f", "-W", "--file", "--exec"),
        check=_check_awk,
    ),
    Rule(
        _set("zip"),
        "zip -TT/--unzip-command runs a command to test the archive",
        Syntax(short_with_value="bOnit", long_with_value=_set("unzip-command")),
        code_options=_set("-TT", "--unzip-command"),
        file_options=_set("-O", "--output-file", "-b", "--temp-path", "-@"),
    ),
    Rule(
        _set("unzip"),
        "unzip reads options after the archive name and has no `--`",
        Syntax(short_with_value="d", double_dash=False),
        file_options=_set("-d"),
    ),
    Rule(
        _set("ssh"),
        "ssh runs local commands from -o ProxyCommand/LocalCommand/KnownHostsCommand, "
        "loads libraries (-I, PKCS11Provider) and reads config files (-F)",
        _SSH,
        code_options=_set("-F", "-I", "-S", "-M"),
        file_options=_set("-E", "-i", "-F"),
        dash_args=True,
        check=_check_ssh,
    ),
    Rule(
        _set("scp"),
        "scp runs the program named by -S and passes -o/-F to ssh",
        _SCP,
        code_options=_set("-S", "-F"),
        file_options=_set("-i"),
        dash_args=True,
        check=_check_ssh,
    ),
    Rule(
        _set("sftp"),
        "sftp runs the programs named by -S and -D and passes -o/-F to ssh",
        _SFTP,
        code_options=_set("-S", "-D", "-F", "-b", "-s"),
        file_options=_set("-i"),
        dash_args=True,
        check=_check_ssh,
    ),
    Rule(
        _set("rsync"),
        "rsync runs the remote shell named by -e/--rsh and the remote program of "
        "--rsync-path; --config and --daemon read daemon config",
        Syntax(short_with_value="efBTM",
               long_with_value=_set("rsh", "rsync-path", "filter", "files-from",
                                    "exclude-from", "include-from", "log-file",
                                    "password-file", "write-batch", "read-batch")),
        code_options=_set("-e", "--rsh", "--rsync-path", "--config", "--daemon", "-M",
                          "--remote-option", "--early-input"),
        file_options=_set("--files-from", "--exclude-from", "--include-from", "--log-file",
                          "--password-file", "--write-batch", "--only-write-batch",
                          "--read-batch", "--backup-dir", "--temp-dir", "-T", "-f",
                          "--filter"),
    ),
    Rule(
        _set("curl"),
        "curl reads a config file of arbitrary options with -K/--config and loads "
        "OpenSSL engines with --engine",
        Syntax(short_with_value="AbcCdDEeFHKmoPQrTuUwxXyYz",
               long_with_value=_set("config", "output", "data", "header", "user-agent",
                                    "upload-file", "cookie", "cookie-jar", "request")),
        code_options=_set("-K", "--config", "--engine", "--libcurl"),
        file_options=_set("-o", "--output", "-O", "--remote-name", "--output-dir", "-D",
                          "--dump-header", "-c", "--cookie-jar", "-T", "--upload-file",
                          "--trace", "--trace-ascii", "--stderr", "--netrc-file", "-b",
                          "--cookie", "-d", "--data", "--data-binary", "-F", "--form"),
        check=_check_curl,
    ),
    Rule(
        _set("wget"),
        "wget runs --use-askpass commands and wgetrc commands from -e/--execute and --config",
        Syntax(short_with_value="aABDeiIloOPQRtTUwXY",
               long_with_value=_set("execute", "use-askpass", "config", "output-document",
                                    "output-file", "input-file")),
        code_options=_set("-e", "--execute", "--use-askpass", "--config"),
        file_options=_set("-O", "--output-document", "-o", "--output-file", "-a",
                          "--append-output", "-i", "--input-file", "-P", "--directory-prefix",
                          "--post-file", "--body-file", "--load-cookies", "--save-cookies"),
    ),
    Rule(
        _set("openssl"),
        "openssl loads shared libraries with -engine/-provider/-provider-path and config "
        "files (-config) that can load them",
        Syntax(single_dash_long=True, abbreviations=False,
               long_with_value=_set("in", "out", "engine", "provider", "provider-path",
                                    "config", "rand", "writerand", "passin", "passout",
                                    "key", "keyform", "inkey", "CAfile", "cert"),
               subcommand=Syntax(single_dash_long=True, abbreviations=False,
                                 long_with_value=_set("in", "out", "engine", "provider",
                                                      "provider-path", "config", "rand",
                                                      "writerand", "passin", "passout",
                                                      "key", "inkey", "CAfile", "cert"))),
        code_options=_set("-engine", "-provider", "-provider-path", "-config",
                          "-ssl_client_engine", "-keyform", "-propquery"),
        file_options=_set("-in", "-out", "-rand", "-writerand", "-passin", "-passout",
                          "-inkey", "-key"),
        dash_args=True,
        check=_check_openssl,
    ),
    Rule(
        _set("less", "more", "most"),
        "less runs commands from +cmd, lesskey files and LESSOPEN; it runs with LESSSECURE=1",
        Syntax(short_with_value="bhjkoOpPtTxyz#D",
               long_with_value=_set("lesskey-file", "lesskey-src", "log-file", "LOG-FILE",
                                    "tag", "tag-file")),
        code_options=_set("-k", "--lesskey-file", "--lesskey-src", "--lesskey-content"),
        file_options=_set("-o", "-O", "--log-file", "--LOG-FILE", "-t", "--tag", "-T",
                          "--tag-file"),
        fixed_env=(("LESSSECURE", "1"),),
        check=_check_plus_commands,
    ),
    Rule(
        _set("vim", "vi", "nvim", "view", "ex", "rvim", "rview", "vimdiff", "gvim", "evim",
             "vim.basic", "vim.tiny", "vim.nox", "vim.gtk3"),
        "vim runs Ex commands from -c/--cmd/+cmd, scripts from -S/-s/-u and "
        "vimrc files; it runs in restricted mode (-Z)",
        Syntax(short_with_value="cuUiTwWqtS", abbreviations=False,
               long_with_value=_set("cmd", "startuptime", "servername")),
        code_options=_set("-c", "--cmd", "-S", "-u", "-U", "--remote-send", "--remote-expr",
                          "--remote", "--remote-silent", "--remote-wait",
                          "--remote-wait-silent", "--remote-tab", "-y"),
        file_options=_set("-w", "-W", "-i", "--startuptime", "-q", "-V"),
        prepend=("-Z",),
        check=_check_plus_commands,
    ),
)

#: Wrappers run_cmd unwraps: the wrapped command must be written in argv and passes the
#: same policy. ``env -S`` is refused (it re-splits a string into arguments).
UNWRAPPED_WRAPPERS = frozenset(
    {"env", "genv", "timeout", "gtimeout", "nice", "gnice", "nohup", "setsid", "stdbuf",
     "gstdbuf", "ionice", "chrt", "taskset", "time", "flock", "chroot", "unshare", "nsenter"}
)

WRAPPER_RULES: dict[str, Rule] = {
    "env": Rule(_set("env", "genv"), _WRAPPER_WHY + "; env -S re-splits a string",
                Syntax(short_with_value="uCSPa", long_with_value=_set("unset", "chdir",
                       "split-string", "argv0"), permute=False),
                code_options=_set("-S", "--split-string")),
    "unshare": Rule(_set("unshare"), _WRAPPER_WHY,
                    Syntax(short_with_value="RwSGl", permute=False),
                    code_options=_set("--load-interp")),
}

#: Programs with no dangerous options that are known to honour `--` (GNU coreutils,
#: grep, diff, compressors): untrusted args go after `--` and may start with "-".
_GNU_PLAIN = Rule(
    _set("ls", "cat", "cp", "mv", "rm", "mkdir", "rmdir", "touch", "chmod", "chown", "chgrp",
         "ln", "head", "tail", "wc", "sort", "uniq", "cut", "paste", "join", "grep", "egrep",
         "fgrep", "diff", "cmp", "stat", "du", "df", "file", "basename", "dirname",
         "realpath", "readlink", "md5sum", "sha1sum", "sha224sum", "sha256sum", "sha384sum",
         "sha512sum", "b2sum", "cksum", "gzip", "gunzip", "zcat", "bzip2", "bunzip2", "xz",
         "unxz", "zstd", "unzstd", "tee", "od", "base64", "base32", "nl", "tac", "shred",
         "truncate", "mktemp", "install", "id", "du", "split", "csplit", "fold", "fmt",
         "expand", "unexpand", "comm", "tsort", "numfmt"),
    "GNU programs that honour `--` and have no option that runs other code",
)
RULES = (*RULES, _GNU_PLAIN)

_BY_NAME: dict[str, Rule] = {name: rule for rule in RULES for name in rule.names}


def rule_for(names: frozenset[str]) -> Rule | None:
    """The built-in rule for a program known under *names*, or None.

    When names disagree (``awk`` linked to ``gawk``) the real program's rule wins, so
    the sandbox flag matches the binary that runs.
    """
    if "gawk" in names:
        return _BY_NAME["gawk"]
    found = [_BY_NAME[name] for name in sorted(names) if name in _BY_NAME]
    return found[0] if found else None


def occurrence_refused(occurrence: Occurrence, options: frozenset[str], syntax: Syntax) -> str:
    """The refused option *occurrence* stands for, or "" if none."""
    if occurrence.section == "command" and syntax.subcommand is not None:
        syntax = syntax.subcommand
    for option in options:
        if matches(occurrence, option, syntax):
            return option
        # Two-letter short options such as zip's -TT are read as one word.
        if (
            not occurrence.long and len(option) == 3 and option.startswith("-")
            and occurrence.word.text.startswith("-") and not occurrence.word.text.startswith("--")
            and option[1:] in occurrence.word.text
        ):
            return option
    return ""

"""Built-in rules for programs whose options can run code, read or write files.

Each rule lists the options that make the program run other code (a command, a script,
a pager, a helper, a library, or a config file that can name one): those are refused
wherever they appear. ``file_options`` read or write arbitrary files: the programmer may
write them in argv, but their value may never come from untrusted ``args``. docs/run_cmd.md
explains each rule; the option spellings follow each program's manual.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from safeops.command._checks import (
    GIT_PINNED_ENV,
    GIT_SUB,
    OPENSSL_COLON_OPTIONS,
    check_awk,
    check_curl,
    check_git,
    check_openssl,
    check_plus_commands,
    check_sed,
    check_ssh,
    refuse,
)
from safeops.command._options import Occurrence, Scan, Syntax, matches

__all__ = [
    "RULES",
    "UNWRAPPED_WRAPPERS",
    "WRAPPER_RULES",
    "Rule",
    "occurrence_refused",
    "refuse",
    "rule_for",
]


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



_GIT_SUB = GIT_SUB
_GIT = Syntax(
    short_with_value="cC",
    long_with_value=_set("git-dir", "work-tree", "namespace", "config-env", "super-prefix",
                         "list-cmds", "attr-source"),
    abbreviations=False,
    permute=False,
    subcommand=_GIT_SUB,
)

_SSH = Syntax(short_with_value="BbcDEeFIiJLlmOoPpQRSWw", abbreviations=False)
_SCP = Syntax(short_with_value="cDFiJlloPSX", abbreviations=False)
_SFTP = Syntax(short_with_value="BbcDFiJlloPRSsX", abbreviations=False)


_OPENSSL_VALUES = _set("in", "out", "engine", "provider", "provider-path", "config", "rand",
                       "writerand", "key", "keyform", "inkey", "CAfile", "cert") | (
    OPENSSL_COLON_OPTIONS
)

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
        fixed_env=(("GIT_ALLOW_PROTOCOL", "file:git:http:https:ssh"),
                   ("GIT_CONFIG_NOSYSTEM", "1"), *GIT_PINNED_ENV),
        check=check_git,
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
        check=check_sed,
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
        check=check_awk,
    ),
    Rule(
        _set("awk", "mawk", "nawk", "original-awk", "bwk-awk"),
        "awk programs run commands (system(), pipes, getline); this awk has no sandbox",
        Syntax(short_with_value="fvFW"),
        code_options=_set("-f", "-W", "--file", "--exec"),
        check=check_awk,
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
        "ssh runs local commands from -o ProxyCommand/LocalCommand/KnownHostsCommand and "
        "-J/ProxyJump (an implicit ProxyCommand run by /bin/sh -c), loads libraries "
        "(-I, PKCS11Provider) and reads config files (-F)",
        _SSH,
        code_options=_set("-F", "-I", "-S", "-M", "-J"),
        file_options=_set("-E", "-i", "-F"),
        dash_args=True,
        check=check_ssh,
    ),
    Rule(
        _set("scp"),
        "scp runs the program named by -S and passes -o/-F/-J to ssh",
        _SCP,
        code_options=_set("-S", "-F", "-J"),
        file_options=_set("-i"),
        dash_args=True,
        check=check_ssh,
    ),
    Rule(
        _set("sftp"),
        "sftp runs the programs named by -S and -D and passes -o/-F/-J to ssh",
        _SFTP,
        code_options=_set("-S", "-D", "-F", "-b", "-s", "-J"),
        file_options=_set("-i"),
        dash_args=True,
        check=check_ssh,
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
        "OpenSSL engines with --engine; it runs with --globoff and --proto "
        "=http,https,ftp,ftps",
        Syntax(short_with_value="AbcCdDEeFHKmoPQrTuUwxXyYz",
               long_with_value=_set("config", "output", "data", "header", "user-agent",
                                    "upload-file", "cookie", "cookie-jar", "request",
                                    "proto", "proto-redir")),
        code_options=_set("-K", "--config", "--engine", "--libcurl"),
        file_options=_set("-o", "--output", "-O", "--remote-name", "--output-dir", "-D",
                          "--dump-header", "-c", "--cookie-jar", "-T", "--upload-file",
                          "--trace", "--trace-ascii", "--stderr", "--netrc-file", "-b",
                          "--cookie", "-d", "--data", "--data-binary", "-F", "--form"),
        # curl expands {a,b} and [x-y] globs before it parses a URL ("[f-f]ile://..."),
        # so URL checks on args alone cannot hold: switch globbing off and let curl
        # itself enforce the schemes. A --proto the programmer writes in argv comes later
        # and wins.
        prepend=("--globoff", "--proto", "=http,https,ftp,ftps", "--proto-redir",
                 "=http,https"),
        check=check_curl,
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
               long_with_value=_OPENSSL_VALUES,
               subcommand=Syntax(single_dash_long=True, abbreviations=False,
                                 long_with_value=_OPENSSL_VALUES)),
        code_options=_set("-engine", "-provider", "-provider-path", "-config",
                          "-ssl_client_engine", "-keyform", "-propquery"),
        file_options=_set("-in", "-out", "-rand", "-writerand", "-passin", "-passout",
                          "-inkey", "-key"),
        dash_args=True,
        check=check_openssl,
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
        check=check_plus_commands,
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
        check=check_plus_commands,
    ),
)

#: Wrappers run_cmd unwraps: the wrapped command must be written in argv and passes the
#: same policy. ``env -S`` is refused (it re-splits a string into arguments).
#: Not here, so refused as argument-executing programs: setsid (it forks a child into a
#: new session, out of reach of the group kill), chroot/unshare/nsenter (the program
#: that runs is looked up in another filesystem view than the one run_cmd checked).
UNWRAPPED_WRAPPERS = frozenset(
    {"env", "genv", "timeout", "gtimeout", "nice", "gnice", "nohup", "stdbuf", "gstdbuf",
     "ionice", "chrt", "taskset", "time", "flock"}
)

WRAPPER_RULES: dict[str, Rule] = {
    "env": Rule(_set("env", "genv"), _WRAPPER_WHY + "; env -S re-splits a string",
                Syntax(short_with_value="uCSPa", long_with_value=_set("unset", "chdir",
                       "split-string", "argv0"), permute=False),
                code_options=_set("-S", "--split-string")),
}

#: GNU programs that honour `--` but have one option that runs a program or command
#: (audited against each program's --help, coreutils 9.1 / diffutils 3.8).
_GNU_CODE = (
    Rule(_set("split", "gsplit"), "split --filter runs a shell command per output chunk",
         Syntax(short_with_value="abClnt", long_with_value=_set("filter")),
         code_options=_set("--filter")),
    Rule(_set("sort", "gsort"),
         "sort --compress-program runs a program fed with the data being sorted",
         Syntax(short_with_value="kotST", long_with_value=_set("compress-program", "output")),
         code_options=_set("--compress-program")),
    Rule(_set("install", "ginstall"), "install --strip-program runs a program on each file",
         Syntax(short_with_value="gmoStT", long_with_value=_set("strip-program")),
         code_options=_set("--strip-program")),
    Rule(_set("sdiff"),
         "sdiff --diff-program runs a program; -o merges interactively and starts an "
         "editor (ed runs ! commands)",
         Syntax(short_with_value="owI", long_with_value=_set("diff-program", "output")),
         code_options=_set("--diff-program", "-o", "--output")),
    Rule(_set("diff3"), "diff3 --diff-program runs a program",
         Syntax(short_with_value="L", long_with_value=_set("diff-program", "label")),
         code_options=_set("--diff-program")),
)

#: Programs with no option that runs other code (audited against --help: file reads and
#: writes only) that are known to honour `--` (GNU coreutils, grep, diff, compressors):
#: untrusted args go after `--` and may start with "-".
_GNU_PLAIN = Rule(
    _set("ls", "cat", "cp", "mv", "rm", "mkdir", "rmdir", "touch", "chmod", "chown", "chgrp",
         "ln", "head", "tail", "wc", "uniq", "cut", "paste", "join", "grep", "egrep",
         "fgrep", "diff", "cmp", "stat", "du", "df", "file", "basename", "dirname",
         "realpath", "readlink", "md5sum", "sha1sum", "sha224sum", "sha256sum", "sha384sum",
         "sha512sum", "b2sum", "cksum", "gzip", "gunzip", "zcat", "bzip2", "bunzip2", "xz",
         "unxz", "zstd", "unzstd", "tee", "od", "base64", "base32", "nl", "tac", "shred",
         "truncate", "mktemp", "id", "csplit", "fold", "fmt", "expand", "unexpand", "comm",
         "tsort", "numfmt"),
    "GNU programs that honour `--` and have no option that runs other code",
)
RULES = (*RULES, *_GNU_CODE, _GNU_PLAIN)

_BY_NAME: dict[str, Rule] = {name: rule for rule in RULES for name in rule.names}


def rule_for(names: frozenset[str]) -> Rule | None:
    """The built-in rule for a program known under *names*, or None.

    When names disagree (``awk`` linked to ``gawk``) the real program's rule wins, so
    the sandbox flag matches the binary that runs.
    """
    if "gawk" in names:
        return _BY_NAME["gawk"]
    found = [_BY_NAME[name] for name in sorted(names) if name in _BY_NAME]
    # A specific rule beats the plain family (diff3 is also known as "diff").
    found.sort(key=lambda rule: rule is _GNU_PLAIN)
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

"""Per-program checks that go beyond option names: config keys, ssh -o keys, awk
programs, subcommands and URL schemes. Used by the rule table in _rules.py."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from safeops.command._options import Scan, Syntax, matches
from safeops.errors import UnsafeCommandError, quote

if TYPE_CHECKING:
    from safeops.command._rules import Rule

__all__ = [
    "GIT_PINNED_ENV",
    "GIT_SUB",
    "OPENSSL_COLON_OPTIONS",
    "check_awk",
    "check_curl",
    "check_git",
    "check_openssl",
    "check_plus_commands",
    "check_sed",
    "check_ssh",
    "refuse",
]


def refuse(program: str, rule: str, what: str, why: str, how: str) -> UnsafeCommandError:
    """The error every refusal raises: which rule refused what, why, how to allow it."""
    return UnsafeCommandError(
        f"refused {what} for {program}: {why} (rule {rule!r}). {how}",
        rule=rule,
        program=program,
        refused=what,
    )


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
    r"|tar\..*\.command|hook\..*|trace2\..*|safe\.directory|core\.sshcommand"
    r"|init\.templatedir|core\.attributesfile"
    r"|receive\.procreceiverefs|core\.alternaterefsprefixes)"
)

#: Config pinned for every git run through GIT_CONFIG_COUNT/KEY_n/VALUE_n, which git
#: reads after the system, global and repository files (so a repository's own
#: .git/config cannot name these commands; only the programmer's -c, read later, can).
#: Empty values switch a setting off (credential.helper="" also empties the helper list).
#: What this cannot reach (filter/textconv/merge drivers and remotes under names a
#: repository chooses) is listed in docs/run_cmd.md.
GIT_PINNED_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("core.sshCommand", "ssh"),
    ("core.editor", "false"),
    ("sequence.editor", "false"),
    ("core.askPass", ""),
    ("core.alternateRefsCommand", ""),
    ("credential.helper", ""),
    ("diff.external", ""),
    ("protocol.ext.allow", "never"),
    ("protocol.file.allow", "user"),
    ("init.templateDir", ""),
    ("remote.origin.uploadpack", "git-upload-pack"),
    ("remote.origin.receivepack", "git-receive-pack"),
    ("gpg.program", "gpg"),
    ("gpg.ssh.program", "ssh-keygen"),
    ("gpg.x509.program", "gpgsm"),
    ("gpg.ssh.defaultKeyCommand", ""),
)
GIT_PINNED_ENV: tuple[tuple[str, str], ...] = (
    ("GIT_CONFIG_COUNT", str(len(GIT_PINNED_CONFIG))),
    *(pair for index, (key, value) in enumerate(GIT_PINNED_CONFIG)
      for pair in ((f"GIT_CONFIG_KEY_{index}", key), (f"GIT_CONFIG_VALUE_{index}", value))),
)

GIT_SUB = Syntax(
    short_with_value="bcjmoC",
    long_with_value=frozenset({"config", "depth", "branch", "origin", "message", "jobs"}),
    known_long=frozenset({"exec-path"}),
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


def check_git(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
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
            occurrence.section == "command" and matches(occurrence, "--config", GIT_SUB)
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

#: ssh_config keys that run a local command, load a library, read another config file or
#: share connections. ProxyJump is an implicit ``ProxyCommand ssh -W ... HOST`` run by
#: ``/bin/sh -c`` with the jump host pasted in (backticks and $IFS survive ssh's check).

_SSH_CODE_KEYS = frozenset(
    {"proxycommand", "proxyjump", "localcommand", "permitlocalcommand", "knownhostscommand",
     "pkcs11provider", "securitykeyprovider", "xauthlocation", "include", "match",
     "proxyusefdpass", "remotecommand", "controlpath", "controlmaster", "identityagent",
     "sshaskpass", "canonicalizehostname"}
)


def _ssh_key(value: str) -> str:
    text = value.strip().lstrip("\"'")
    return re.split(r"[\s=\"']", text, maxsplit=1)[0].lower()


def check_ssh(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
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


# --- awk / sed ----------------------------------------------------------------------

_AWK_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def _program_text_in_argv(program: str, parsed: Scan, script_options: tuple[str, ...]) -> None:
    if any(o.name in script_options for o in parsed.options):
        return
    if parsed.operands and not parsed.operands[0].trusted:
        raise refuse(program, "script-from-args", "a program text taken from args",
                     "the first operand is the program this tool runs",
                     "Write the program text in argv; args are data")


def check_awk(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
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


def check_sed(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
    _program_text_in_argv(program, parsed, ("-e", "-f", "--expression", "--file"))


#: openssl options whose values use NAME:VALUE syntax that is not a URI (password
#: sources, -pkeyopt key:value, host:port, -newkey ALG:BITS). They are still searched for
#: the engine scheme below. Kept in the rule's long_with_value so the value is attached.
OPENSSL_COLON_OPTIONS = frozenset(
    {"passin", "passout", "pass", "kdfopt", "macopt", "pkeyopt", "sigopt", "vfyopt",
     "skeyopt", "connect", "host", "proxy", "accept", "newkey", "addext", "servername",
     "verify_hostname", "verify_ip", "verify_email", "dane_tlsa_rrdata", "nameopt",
     "certopt", "reqopt", "opt", "alpn", "nextprotoneg", "subj"}
)
_ENGINE_URI = "org.openssl.engine:"


def _openssl_uri(text: str) -> bool:
    return _SCHEME.match(text) is not None


def check_openssl(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
    """openssl 3 reads every key/certificate/file argument as an OSSL_STORE URI, and
    ``org.openssl.engine:/abs/file:key`` dlopen()s that file as an engine: refuse the
    engine scheme anywhere, and any ``scheme:`` prefix (before the first ``/``) on
    operands and option values, from argv and args alike. Plain paths only."""
    if parsed.subcommand == "engine":
        raise refuse(program, "openssl-engine", "openssl engine",
                     "it loads engine shared libraries named in its arguments",
                     "Run it without run_cmd if you really mean it")
    texts: list[str] = [word.text for word in parsed.operands]
    for occurrence in parsed.options:
        texts.append(occurrence.word.text)
        value = occurrence.value
        if value is None:
            continue
        if occurrence.name.lstrip("-") in OPENSSL_COLON_OPTIONS:
            texts.append(value.partition(":")[2] if occurrence.name.lstrip("-") == "newkey"
                         else "")
            texts.append(value if _ENGINE_URI in value.lower() else "")
        else:
            texts.append(value)
    for text in texts:
        if _ENGINE_URI in text.lower() or _openssl_uri(text):
            raise refuse(program, "openssl-uri", f"the URI {quote(text)}",
                         "openssl loads key, certificate and file arguments through URI "
                         "loaders; org.openssl.engine: loads any file as an engine library",
                         "Pass plain file paths (./name or an absolute path)")


def check_plus_commands(
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


def check_curl(program: str, parsed: Scan, rule: Rule, allowed: frozenset[str]) -> None:
    for word in parsed.operands:
        match = _SCHEME.match(word.text)
        if not word.trusted and match and match.group(1).lower() not in _CURL_SCHEMES:
            raise refuse(program, "curl-scheme", f"the URL {quote(word.text)} from args",
                         "curl would read local files (file:) or speak other protocols",
                         "Only http, https, ftp and ftps URLs may come from args; write "
                         "other URLs in argv")

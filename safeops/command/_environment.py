"""The environment a command gets: a small fixed base plus checked additions.

A process inherits nothing from the caller's environment except the locale and time
zone (when their values look like locale names). ``env=`` adds variables; each name must
be on the allow-list (locale, time zone, terminal size and colour, and names a Program
rule or the policy declares). Everything else is refused, and the message names the
category it falls in, because these variables change what code the program runs:

- loader: ``LD_PRELOAD``, ``LD_LIBRARY_PATH``, ``DYLD_*``, ``GCONV_PATH`` load native code;
- interpreter: ``PYTHONPATH``, ``PYTHONSTARTUP``, ``PERL5OPT``, ``PERL5LIB``, ``RUBYOPT``,
  ``NODE_OPTIONS`` ... make any script the program runs import attacker code;
- shell: ``BASH_ENV``, ``ENV``, ``BASH_FUNC_*``, ``SHELLOPTS``, ``PS4``, ``IFS`` run code
  in any shell or shell script the program starts;
- pager/editor: ``PAGER``, ``LESSOPEN``, ``EDITOR`` ... name commands;
- tool config: ``GIT_*``, ``SSH_*``, ``TAR_OPTIONS``, ``WGETRC``, ``CURL_HOME``,
  ``OPENSSL_CONF`` ... name commands or config files that can;
- location: ``PATH``, ``HOME``, ``XDG_CONFIG_HOME`` relocate where programs and config
  files are found.
"""

from __future__ import annotations

import functools
import os
import pwd
import re
from collections.abc import Iterable, Mapping

from safeops.errors import UnsafeCommandError, quote

__all__ = ["base_environment", "build_environment", "dangerous_reason"]

#: Names anyone may pass through ``env=`` (plus ``LC_*``).
ALWAYS_ALLOWED: frozenset[str] = frozenset(
    {"LANG", "LANGUAGE", "TZ", "TERM", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR",
     "CLICOLOR", "SOURCE_DATE_EPOCH"}
)

_CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("loader variable (loads native code into the program)",
     re.compile(r"LD_.*|DYLD_.*|GCONV_PATH|GETCONF_DIR|HOSTALIASES|LOCPATH|NLSPATH|MALLOC_.*"
                r"|GLIBC_TUNABLES|RESOLV_HOST_CONF|LOCALDOMAIN|RES_OPTIONS")),
    ("shell variable (runs code in any shell the program starts)",
     re.compile(r"BASH_ENV|ENV|BASH_FUNC_.*|BASHOPTS|SHELLOPTS|PS[0-4]|PROMPT_COMMAND|IFS"
                r"|CDPATH|FPATH|ZDOTDIR|SHELL|POSIXLY_CORRECT|GLOBIGNORE|HISTFILE|KSH_.*")),
    ("interpreter variable (makes scripts the program runs load other code)",
     re.compile(r"PYTHON.*|PERL.*|RUBY.*|GEM_.*|BUNDLE_.*|NODE_.*|NPM_.*|JAVA_TOOL_OPTIONS"
                r"|_JAVA_OPTIONS|JDK_JAVA_OPTIONS|CLASSPATH|LUA_.*|TCLLIBPATH|PHPRC"
                r"|PHP_INI_SCAN_DIR|R_.*|JULIA_.*|AWKPATH|AWKLIBPATH|DENO_.*|TCL_LIBRARY")),
    ("pager or editor variable (names a command to run)",
     re.compile(r".*PAGER|LESS.*|MORE|EDITOR|VISUAL|BROWSER|MANOPT|MANPATH|MANROFFOPT"
                r"|GROFF_.*|VIMINIT|EXINIT|MYVIMRC|VIMRUNTIME|VIM")),
    ("tool configuration variable (names a command or a config file that can)",
     re.compile(r"GIT_.*|SSH_.*|GPG_.*|GNUPGHOME|TAR_OPTIONS|WGETRC|SYSTEM_WGETRC|CURL_.*"
                r"|OPENSSL_.*|SSL_.*|RSYNC_.*|ZIPOPT|ZIP|UNZIP|UNZIPOPT|GZIP|BZIP2?|XZ_.*"
                r"|ZSTD_.*|SUDO_.*|GIT|TERMINFO.*|TERMCAP|INPUTRC|.*_CONFIG.*|.*RC"
                r"|.*_PROXY|.*_proxy|PROXY_.*|NETRC|KRB5.*|LESSKEY.*|FIND.*|XARGS.*")),
    ("location variable (relocates where programs or config files are found)",
     re.compile(r"PATH|HOME|XDG_.*|TMPDIR|TEMP|TMP|PWD|OLDPWD|USER|LOGNAME")),
)

#: Variables whose *presence* would be refused but whose value run_cmd sets itself.
_LOCALE = re.compile(r"LC_[A-Z_]+")
_INHERITED = (
    "LANG", "LANGUAGE", "TZ", "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES",
    "LC_MONETARY", "LC_NUMERIC", "LC_TIME", "LC_ADDRESS", "LC_IDENTIFICATION",
    "LC_MEASUREMENT", "LC_NAME", "LC_PAPER", "LC_TELEPHONE",
)
_INHERITED_KEYS = tuple((name, os.fsencode(name)) for name in _INHERITED)
# Value shapes for the always-allowed names. Locale values are names, never paths:
# glibc reads LANG/LC_*/LANGUAGE values as locale or message-catalog paths (gettext
# joins LANGUAGE into .../<value>/LC_MESSAGES/<domain>.mo without rejecting "..", and an
# attacker .mo file supplies printf format strings). TERM names a terminfo file.
_LOCALE_NAME = (
    r"(?:C|POSIX|[A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,3})?)"  # language and territory
    r"(?:\.[A-Za-z0-9_-]{1,20})?(?:@[A-Za-z0-9_-]{1,20})?"  # .codeset, @modifier
)
_SANE_LOCALE_VALUE = re.compile(f"(?:{_LOCALE_NAME})?")
_SANE_LANGUAGE_VALUE = re.compile(f"(?:{_LOCALE_NAME}(?::{_LOCALE_NAME}){{0,15}})?")
# A zone name (America/New_York, :Europe/Paris) or a POSIX TZ string (UTC0,
# CET-1CEST,M3.5.0,M10.5.0/3, <+03>-3); never a path: no leading "/", no "..", no "//".
_SANE_TZ_VALUE = re.compile(r"(?!.*\.\.)(?!.*//):?[A-Za-z0-9_+<-][A-Za-z0-9_+<>,./:-]{0,63}|")
_SANE_TERM_VALUE = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._+-]{0,63})?")
_NUMBER = re.compile(r"[0-9]{0,20}")
_SMALL_NUMBER = re.compile(r"[0-9]{0,5}")
_FLAG = re.compile(r"[A-Za-z0-9]{0,16}")
_VALUE_SHAPES = {"TZ": _SANE_TZ_VALUE, "COLUMNS": _SMALL_NUMBER, "LINES": _SMALL_NUMBER,
                 "SOURCE_DATE_EPOCH": _NUMBER, "LANGUAGE": _SANE_LANGUAGE_VALUE,
                 "TERM": _SANE_TERM_VALUE, "NO_COLOR": _FLAG, "FORCE_COLOR": _FLAG,
                 "CLICOLOR": _FLAG}


def _sane(name: str, value: str) -> bool:
    """Whether *value* has the shape of *name*'s values (locale name for LANG and LC_*)."""
    pattern = _VALUE_SHAPES.get(name, _SANE_LOCALE_VALUE)
    return pattern.fullmatch(value) is not None


def dangerous_reason(name: str) -> str | None:
    """Why *name* is refused for any program, or None if it is not in a danger category."""
    for reason, pattern in _CATEGORIES:
        if pattern.fullmatch(name) or pattern.fullmatch(name.upper()):
            return reason
    return None


@functools.lru_cache(maxsize=8)
def _home_of(uid: int) -> str:
    # From the password database, never from $HOME: the caller's environment may itself
    # have been set by someone else (a CGI server, a CI job) to relocate config files.
    try:
        return pwd.getpwuid(uid).pw_dir
    except KeyError:  # a uid with no passwd entry (containers): no home at all
        return "/nonexistent"


def base_environment(search_path: Iterable[str]) -> dict[str, str]:
    """The minimal environment every command starts from.

    A fixed ``PATH`` (the safe search path), ``HOME`` from the password database,
    ``LANG``/``LC_*``/``TZ`` copied from the caller only when their values look like
    locale names, and variables that switch off known command hooks: ``LESSSECURE=1``
    (less runs no shell, no LESSOPEN), ``PAGER=cat`` and ``GIT_PAGER=cat``.
    """
    data = getattr(os.environ, "_data", None)
    if os.name == "posix" and isinstance(data, dict):
        # os.environ.get() encodes every key on each call; reading CPython's encoded
        # mapping directly is 20x faster and this runs on every command.
        inherited = tuple(data.get(key) for _, key in _INHERITED_KEYS)
    else:
        inherited = tuple(os.environ.get(name) for name in _INHERITED)
    return dict(_base(tuple(search_path), inherited, os.getuid()))


@functools.lru_cache(maxsize=16)
def _base(
    search_path: tuple[str, ...], inherited: tuple[str | bytes | None, ...], uid: int
) -> dict[str, str]:
    # Cached on everything it depends on; callers get a copy.
    env = {
        "PATH": os.pathsep.join(search_path),
        "HOME": _home_of(uid),
        "LANG": "C.UTF-8",
        "LESSSECURE": "1",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "GIT_TERMINAL_PROMPT": "0",
    }
    for name, raw in zip(_INHERITED, inherited, strict=True):
        if raw is None:
            continue
        value = os.fsdecode(raw)
        if _sane(name, value):
            env[name] = value
    return env


def build_environment(
    search_path: Iterable[str],
    extra: Mapping[str, str] | None,
    *,
    allowed: frozenset[str],
    unsafe_allowed: frozenset[str],
    fixed: Mapping[str, str],
) -> dict[str, str]:
    """The base environment plus *extra*, after checking every name in *extra*.

    *allowed* are names a Program rule or the policy declared; *unsafe_allowed* names
    the caller opted in to with ``unsafe_env``. *fixed* are variables the built-in rule
    of the program sets (``GIT_ALLOW_PROTOCOL``); the caller cannot override them
    without ``unsafe_env``.
    """
    env = base_environment(search_path)
    env.update(fixed)
    if not extra:
        return env
    if not isinstance(extra, Mapping):
        raise UnsafeCommandError(
            f"env must be a mapping of names to values, got {type(extra).__name__}",
            rule="environment",
        )
    for name, value in extra.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise UnsafeCommandError(
                f"env names and values must be str, got {quote(name)}={quote(value)}",
                rule="environment",
            )
        if not _ENV_NAME.fullmatch(name):
            raise UnsafeCommandError(
                f"refused environment variable name {quote(name)}: not a portable name",
                rule="environment",
                variable=name,
            )
        try:
            os.fsencode(value)
        except UnicodeError:
            raise UnsafeCommandError(
                f"refused environment variable {name}: its value contains a lone surrogate, "
                "which has no encoding", rule="encoding", variable=name) from None
        if "\0" in value:
            raise UnsafeCommandError(
                f"refused environment variable {name}: its value contains a NUL byte",
                rule="environment",
                variable=name,
            )
        if name in unsafe_allowed:
            env[name] = value
            continue
        reason = dangerous_reason(name)
        permitted = (name in ALWAYS_ALLOWED or _LOCALE.fullmatch(name)) or (
            name in allowed and reason is None
        )
        if not permitted or name in fixed:
            why = reason or "not on the allow-list of environment variables"
            raise UnsafeCommandError(
                f"refused environment variable {name}: {why}. Only locale, time zone, "
                "terminal and names a Program rule declares (Program(..., env={...})) "
                "are passed; to pass it anyway, name it in unsafe_env=[...]",
                rule="environment",
                variable=name,
                category=why,
            )
        always = name in ALWAYS_ALLOWED or _LOCALE.fullmatch(name)
        if always and name not in allowed and not _sane(name, value):
            raise UnsafeCommandError(
                f"refused {name}={quote(value)}: locale, time zone and terminal values must "
                "be names or numbers (C.UTF-8, Europe/Paris, xterm-256color, 80), not paths: "
                "programs load locale data, message catalogs and terminfo from a path value",
                rule="environment",
                variable=name,
            )
        env[name] = value
    return env


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

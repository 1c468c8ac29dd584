"""run_cmd: the public entry point, and the preparation it shares with arun_cmd."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Union, overload

from safeops.command._check import check_words, vet
from safeops.command._environment import build_environment
from safeops.command._execute import Outcome, failed, run_process
from safeops.command._policy import DEFAULT_POLICY, CommandPolicy, CommandResult, Program
from safeops.errors import CommandError, ConfigurationError, UnsafeCommandError, quote

__all__ = ["DEFAULT_MAX_OUTPUT", "DEFAULT_TIMEOUT", "Prepared", "prepare", "result_of", "run_cmd"]

#: Seconds a command may run by default before its process group is killed.
DEFAULT_TIMEOUT = 60.0
#: Bytes each of stdout and stderr may reach by default before the command is killed.
DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024
#: The longest timeout accepted (about 115 days); selectors overflow on larger values.
MAX_TIMEOUT = 1e7
#: Linux MAX_ARG_STRLEN: the longest single argv or environment string execve accepts.
MAX_ARG_LENGTH = 32 * 4096
#: Total argv + environment bytes run_cmd accepts: well below the usual 2 MiB ARG_MAX
#: (a quarter of an 8 MiB stack), so no spawn fails with E2BIG.
MAX_COMMAND_SIZE = 1024 * 1024

Arg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Allow = CommandPolicy | Sequence[str | Program] | None


@dataclass(frozen=True)
class Prepared:
    """Everything needed to start the vetted command."""

    argv: tuple[str, ...]
    executable: str
    env: dict[str, str]
    cwd: str | None
    input: bytes | None
    timeout: float
    max_output: int


def _policy(allow: Allow) -> CommandPolicy:
    if allow is None:
        return DEFAULT_POLICY
    if isinstance(allow, CommandPolicy):
        return allow
    if isinstance(allow, (str, bytes, Program)):
        raise ConfigurationError(
            f"allow must be a list of programs or a CommandPolicy; write [{allow!r}]",
            rule="policy",
        )
    entries = tuple(allow)
    try:
        return _policy_of(entries)
    except TypeError:  # an unhashable entry: CommandPolicy reports what is wrong
        return CommandPolicy(programs=entries)


@functools.lru_cache(maxsize=64)
def _policy_of(entries: tuple[str | Program, ...]) -> CommandPolicy:
    # allow=[...] lists are usually literals repeated on every call: build each once.
    return CommandPolicy(programs=entries)


def prepare(
    argv: object,
    *,
    args: object,
    allow: Allow,
    timeout: float,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    input: str | bytes | None,
    max_output: int,
    unsafe_env: Iterable[str],
) -> Prepared:
    """Vet everything and build the exact command; raise before anything runs."""
    if (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float))
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise ConfigurationError(
            f"timeout must be a positive number of seconds up to {MAX_TIMEOUT:.0f}, got "
            f"{quote(timeout)}", rule="timeout"
        )
    if isinstance(max_output, bool) or not isinstance(max_output, int) or max_output < 1:
        raise ConfigurationError(
            f"max_output must be a positive number of bytes, got {max_output!r}",
            rule="max_output",
        )
    policy = _policy(allow)
    words = check_words(argv, "argv")
    extra = check_words(args, "args")
    if not words:
        raise UnsafeCommandError("argv is empty: name the program to run", rule="empty-argv")
    directory = _check_cwd(cwd)
    vetted = vet(words, extra, policy, directory)
    try:
        unsafe = frozenset(unsafe_env if not isinstance(unsafe_env, str) else (unsafe_env,))
    except TypeError:
        raise ConfigurationError("unsafe_env must be a list of variable names",
                                 rule="unsafe_env") from None
    allowed = frozenset(vetted.env_names) | policy.env
    unsafe |= frozenset(vetted.unsafe_env)
    if vetted.assignments:  # `env NAME=value prog` is checked like env=
        build_environment((), vetted.assignments, allowed=allowed, unsafe_allowed=unsafe,
                          fixed={})
    environment = build_environment(
        policy.search_path, env, allowed=allowed, unsafe_allowed=unsafe, fixed=vetted.fixed_env
    )
    data: bytes | None
    if input is None:
        data = None
    elif isinstance(input, str):
        try:
            data = input.encode("utf-8")
        except UnicodeError:
            raise UnsafeCommandError(
                "refused input: it contains a lone surrogate, which has no UTF-8 encoding; "
                "pass bytes", rule="encoding") from None
    elif isinstance(input, (bytes, bytearray, memoryview)):
        data = bytes(input)
    else:
        raise ConfigurationError("input must be str or bytes", rule="input")
    _check_size(vetted.argv, environment)
    return Prepared(tuple(vetted.argv), vetted.executable, environment, directory, data,
                    float(timeout), max_output)


def _check_size(argv: list[str], env: Mapping[str, str]) -> None:
    # execve fails with E2BIG past the kernel's limits: one string over MAX_ARG_STRLEN
    # (128 KiB on Linux) or argv + envp past about a quarter of the stack limit. Refuse
    # before spawning, with a clear error, rather than let Popen raise a bare OSError.
    total = 0
    for text in (*argv, *(f"{name}={value}" for name, value in env.items())):
        size = len(os.fsencode(text)) + 1
        if size > MAX_ARG_LENGTH:
            raise CommandError(
                f"refused a command line word or environment entry of {size} bytes: the "
                f"kernel refuses more than {MAX_ARG_LENGTH} bytes per string (E2BIG). Pass "
                "large data through input= or a file", rule="size", size=size)
        total += size + 8  # plus the pointer in argv/envp
    if total > MAX_COMMAND_SIZE:
        raise CommandError(
            f"refused a command line and environment of {total} bytes: over the "
            f"{MAX_COMMAND_SIZE}-byte limit run_cmd keeps below the kernel's ARG_MAX (E2BIG). "
            "Pass large data through input= or a file", rule="size", size=total)


def _check_cwd(cwd: str | os.PathLike[str] | None) -> str | None:
    if cwd is None:
        return None
    path = check_words([cwd], "cwd")[0]
    if not os.path.isdir(path):
        raise UnsafeCommandError(
            f"refused cwd {quote(path)}: it is not an existing directory", rule="cwd", cwd=path
        )
    return os.path.abspath(path)


def result_of(
    prepared: Prepared, outcome: Outcome, *, check: bool, text: bool
) -> CommandResult[str] | CommandResult[bytes]:
    """Build the result (decoding if *text*); raise CommandFailedError if *check*."""
    result: CommandResult[str] | CommandResult[bytes]
    if text:
        result = CommandResult(prepared.argv, outcome.returncode,
                               outcome.stdout.decode("utf-8", "replace"),
                               outcome.stderr.decode("utf-8", "replace"), outcome.duration)
    else:
        result = CommandResult(prepared.argv, outcome.returncode, outcome.stdout,
                               outcome.stderr, outcome.duration)
    if check and result.returncode:
        raise failed(prepared.argv, result.returncode, result.stdout, result.stderr)
    return result


@overload
def run_cmd(
    argv: Sequence[Arg],
    *,
    args: Sequence[Arg] = ...,
    allow: Allow = ...,
    timeout: float = ...,
    cwd: str | os.PathLike[str] | None = ...,
    env: Mapping[str, str] | None = ...,
    input: str | bytes | None = ...,
    max_output: int = ...,
    check: bool = ...,
    text: Literal[True] = ...,
    unsafe_env: Iterable[str] = ...,
) -> CommandResult[str]: ...
@overload
def run_cmd(
    argv: Sequence[Arg],
    *,
    args: Sequence[Arg] = ...,
    allow: Allow = ...,
    timeout: float = ...,
    cwd: str | os.PathLike[str] | None = ...,
    env: Mapping[str, str] | None = ...,
    input: str | bytes | None = ...,
    max_output: int = ...,
    check: bool = ...,
    text: Literal[False],
    unsafe_env: Iterable[str] = ...,
) -> CommandResult[bytes]: ...
def run_cmd(
    argv: Sequence[Arg],
    *,
    args: Sequence[Arg] = (),
    allow: Allow = None,
    timeout: float = DEFAULT_TIMEOUT,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    check: bool = True,
    text: bool = True,
    unsafe_env: Iterable[str] = (),
) -> CommandResult[str] | CommandResult[bytes]:
    """Run a program without a shell, after checking it against a policy.

    *argv* is the command as the programmer wrote it (a list, never a string). *args*
    are untrusted positionals (a file name, a URL, a search term): they are appended
    after ``--`` where the program honours it, refused if they look like options where
    it does not, and can never be an option or an option's value.

    *allow* is a list of program names / :class:`Program` rules, or a
    :class:`CommandPolicy`; ``None`` is the default policy (any program on the safe
    search path, minus shells, interpreters and the built-in option refusals).

    The program is resolved on a fixed search path (never ``PATH``), runs in a new
    process group with a minimal environment (plus *env*, whose names are checked; see
    docs/run_cmd.md), no inherited file descriptors, stdin closed unless *input* is
    given, and is killed with its whole group after *timeout* seconds or when stdout or
    stderr passes *max_output* bytes. Output is decoded as UTF-8 with errors replaced
    when *text* is true.

    Raises UnsafeCommandError (refused before anything ran), CommandNotFoundError,
    CommandTimeoutError, OutputLimitError, and CommandFailedError for a non-zero exit
    when *check* is true. *unsafe_env* names environment variables the caller passes
    deliberately although they are refused by default.
    """
    prepared = prepare(argv, args=args, allow=allow, timeout=timeout, cwd=cwd, env=env,
                       input=input, max_output=max_output, unsafe_env=unsafe_env)
    outcome = run_process(
        prepared.argv,
        executable=prepared.executable,
        env=prepared.env,
        cwd=prepared.cwd,
        input=prepared.input,
        timeout=prepared.timeout,
        max_output=prepared.max_output,
    )
    return result_of(prepared, outcome, check=check, text=text)

"""The public policy objects of run_cmd: Program, CommandPolicy and CommandResult.

All three are frozen dataclasses. Collections given as lists or sets are normalised to
frozensets/tuples when the object is built, and a policy that cannot work raises
:class:`~safeops.errors.ConfigurationError` then, not on the first hostile request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from safeops.errors import ConfigurationError

__all__ = ["DEFAULT_SEARCH_PATH", "CommandPolicy", "CommandResult", "Program"]

#: Where run_cmd looks for programs, in order. Never the caller's ``PATH``: a writable
#: directory early in ``PATH`` would let anyone who can write there choose the program.
DEFAULT_SEARCH_PATH: tuple[str, ...] = (
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
)

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _names(value: Iterable[str], what: str) -> frozenset[str]:
    if isinstance(value, (str, bytes)):
        raise ConfigurationError(
            f"{what} must be a collection of strings, not one string {value!r}; "
            f"write [{value!r}]",
            rule="policy",
        )
    return frozenset(value)


@dataclass(frozen=True)
class Program:
    """A per-program rule: what run_cmd lets this program do.

    A Program is matched on every name of the resolved executable (as written and its
    real path, so ``Program("awk")`` also covers ``/usr/bin/awk -> gawk``). Its fields
    narrow or add to the built-in rule for the same program; the relaxations are the
    ``unsafe_*`` fields.

    - ``subcommands``: when given, the first operand must be one of these
      (``Program("git", subcommands={"status", "log"})``).
    - ``refuse_options``: extra options refused anywhere, written as the program spells
      them (``"--force"``, ``"-f"``); long options also match their GNU abbreviations.
    - ``env``: environment variable names this program may receive through ``env=``.
      Names that are dangerous for any program (loader, shell, interpreter variables)
      need ``unsafe_env`` instead.
    - ``path``: pin the executable to this absolute path (it need not be on the search
      path, but the location checks still apply).
    - ``unsafe_allow_options``: built-in refused options this rule deliberately allows
      (``Program("git", unsafe_allow_options={"--upload-pack"})``).
    - ``unsafe_allow_code``: opt in to a shell, interpreter, wrapper or multi-call binary
      by name. It then runs whatever code its arguments hold: only for fixed code.
    - ``unsafe_env``: dangerous environment names this program may receive anyway.
    """

    name: str
    subcommands: frozenset[str] | None = None
    refuse_options: frozenset[str] = field(default_factory=frozenset)
    env: frozenset[str] = field(default_factory=frozenset)
    path: str | None = None
    unsafe_allow_options: frozenset[str] = field(default_factory=frozenset)
    unsafe_allow_code: bool = False
    unsafe_env: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigurationError(
                f"Program name must be a bare program name such as 'git', got {self.name!r}; "
                "pin a location with path=...",
                rule="policy",
            )
        if self.path is not None and not os.path.isabs(self.path):
            raise ConfigurationError(
                f"Program path must be absolute, got {self.path!r}", rule="policy"
            )
        if self.subcommands is not None:
            object.__setattr__(self, "subcommands", _names(self.subcommands, "subcommands"))
        for attribute in ("refuse_options", "unsafe_allow_options"):
            options = _names(getattr(self, attribute), attribute)
            bad = sorted(option for option in options if not option.startswith(("-", "+")))
            if bad:
                raise ConfigurationError(
                    f"{attribute} holds options as the program spells them "
                    f"('--force', '-f'), got {bad[:3]}",
                    rule="policy",
                )
            object.__setattr__(self, attribute, options)
        for attribute in ("env", "unsafe_env"):
            names = _names(getattr(self, attribute), attribute)
            bad = sorted(name for name in names if not _ENV_NAME.fullmatch(name))
            if bad:
                raise ConfigurationError(
                    f"{attribute} holds environment variable names, got {bad[:3]}",
                    rule="policy",
                )
            object.__setattr__(self, attribute, names)
        # Imported here: _environment imports nothing from this module, and keeping the
        # danger list in one place means Program(env=...) cannot smuggle LD_PRELOAD in.
        from safeops.command._environment import dangerous_reason

        risky = sorted(name for name in self.env if dangerous_reason(name) is not None)
        if risky:
            raise ConfigurationError(
                f"Program({self.name!r}) env names {risky[:3]} are dangerous for any "
                f"program ({dangerous_reason(risky[0])}); if you really mean it, declare "
                "them in unsafe_env instead",
                rule="policy",
            )


@dataclass(frozen=True)
class CommandPolicy:
    """Which programs run_cmd may start, and how.

    ``programs`` holds program names (``"git"``) and :class:`Program` rules. With
    ``any_program=True`` (the default policy, ``allow=None``) every program on the
    search path may run, minus the built-in refusals; otherwise only the listed ones.

    A plain name in ``programs`` never opts in to a shell, interpreter or multi-call
    binary: that takes ``Program(name, unsafe_allow_code=True)``.

    ``unsafe_allow_relative_paths`` lets argv[0] be a relative path (``./tool``), and
    ``unsafe_allow_writable_locations`` lets the executable live in a world-writable or
    temporary directory. Both are off because whoever can write there chooses the code.
    """

    programs: tuple[Program | str, ...] = ()
    any_program: bool = False
    search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH
    env: frozenset[str] = field(default_factory=frozenset)
    unsafe_allow_relative_paths: bool = False
    unsafe_allow_writable_locations: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.programs, (str, Program)):
            raise ConfigurationError(
                f"programs must be a sequence, write ({self.programs!r},)", rule="policy"
            )
        programs = tuple(self.programs)
        for entry in programs:
            if isinstance(entry, str):
                Program(entry)  # validates the name
            elif not isinstance(entry, Program):
                raise ConfigurationError(
                    f"programs holds names or Program rules, got {type(entry).__name__}",
                    rule="policy",
                )
        object.__setattr__(self, "programs", programs)
        raw_search: object = self.search_path  # callers may pass a str by mistake
        search = tuple(self.search_path)
        if isinstance(raw_search, str) or not all(os.path.isabs(d) for d in search):
            raise ConfigurationError(
                f"search_path must be a sequence of absolute directories, got "
                f"{self.search_path!r}",
                rule="policy",
            )
        object.__setattr__(self, "search_path", search)
        env = _names(self.env, "env")
        from safeops.command._environment import dangerous_reason

        risky = sorted(name for name in env if dangerous_reason(name) is not None)
        if risky:
            raise ConfigurationError(
                f"CommandPolicy env names {risky[:3]} are dangerous for any program; "
                "pass them per call with unsafe_env=... if you really mean it",
                rule="policy",
            )
        object.__setattr__(self, "env", env)
        rules = tuple(Program(e) if isinstance(e, str) else e for e in programs)
        object.__setattr__(self, "_rules", rules)

    def rules(self) -> tuple[Program, ...]:
        """Every entry as a Program (plain names become ``Program(name)``)."""
        rules: tuple[Program, ...] = self.__dict__["_rules"]
        return rules


#: The default policy, used for ``allow=None``: any program on the safe search path,
#: minus the built-in refusals. Restrictive, never "anything goes".
DEFAULT_POLICY = CommandPolicy(any_program=True)

Output = TypeVar("Output", str, bytes)


@dataclass(frozen=True)
class CommandResult(Generic[Output]):
    """What a finished command produced.

    ``argv`` is the command as it ran (absolute executable path first, untrusted args
    after the ``--`` run_cmd inserted), ``duration`` the wall-clock seconds it took.
    """

    argv: tuple[str, ...]
    returncode: int
    stdout: Output
    stderr: Output
    duration: float

    def check_returncode(self) -> None:
        """Raise CommandFailedError if the command exited with a non-zero status."""
        if self.returncode:
            from safeops.command._execute import failed

            raise failed(self.argv, self.returncode, self.stdout, self.stderr)

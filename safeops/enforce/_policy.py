"""The enforcement policy: which rules apply, how hard, and whose code is trusted.

A :class:`Policy` is a frozen dataclass, built once and handed to ``enforce()``. The
default (``Policy()``) is what ARCHITECTURE.md promises: unsafe pickle globals, dynamic
code from application code and shell command strings are enforced, native code loading
from application code is warned about, and the import system, the stdlib and installed
third-party packages are trusted to compile code. :meth:`Policy.strict` also restricts
third-party packages (except those named in ``trusted``), every process creation that
is not ``run_cmd``'s, and native code loading.

A policy may be read from TOML, but only from a file the caller names explicitly
(:func:`load_policy`): a policy file relaxes a security control, so it is never
discovered by looking around the file system. A file named ``pyproject.toml`` is read
from its ``[tool.safeops]`` table; any other file from its top level.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields, replace
from fnmatch import fnmatchcase
from typing import Any, Literal, cast

from safeops.errors import ConfigurationError, quote

__all__ = [
    "LEVELS",
    "MODES",
    "PROCESS_LEVELS",
    "Level",
    "Mode",
    "Policy",
    "ProcessLevel",
    "load_policy",
    "policy_from_mapping",
]

Mode = Literal["block", "warn", "log"]
#: ``enforce``: act as the mode says; ``warn``/``log``: never act harder than that;
#: ``off``: the rule is not checked at all.
Level = Literal["enforce", "warn", "log", "off"]
#: ``shells``: refuse shells given a command string; ``all``: refuse every process that
#: is not started by ``run_cmd`` or multiprocessing; ``off``: no process rule.
ProcessLevel = Literal["shells", "all", "off"]

#: Modes from the most lenient to the strictest.
MODES: tuple[Mode, ...] = ("log", "warn", "block")
#: Rule levels from the most lenient to the strictest.
LEVELS: tuple[Level, ...] = ("off", "log", "warn", "enforce")
PROCESS_LEVELS: tuple[ProcessLevel, ...] = ("off", "shells", "all")

_LEVEL_FIELDS = ("pickle", "marshal", "dynamic_code", "native", "interpreters", "escape_hatches")


@dataclass(frozen=True)
class Policy:
    """What ``enforce()`` checks. Every field has a safe default.

    - ``pickle``: ``pickle.find_class`` of a global outside the shared allow-list,
      whoever unpickles (multiprocessing's own IPC excepted).
    - ``marshal``: ``marshal.loads``/``load`` by restricted code.
    - ``dynamic_code``: ``compile`` of source or AST and ``exec``/``eval`` of code
      objects, attributed to the code that supplied the source.
    - ``process``: see :data:`ProcessLevel`.
    - ``native``: ``ctypes`` loading a library or resolving a symbol from restricted code.
    - ``interpreters``: creating a sub-interpreter (it would run without this hook).
    - ``escape_hatches``: building code objects (``code.__new__``/``replace``), assigning
      ``__code__``, adding another audit hook; only worth logging.
    - ``trusted`` / ``restricted``: module-name patterns (``fnmatch`` syntax, matched
      against ``__name__``: ``"jinja2"`` and ``"jinja2.*"``); ``restricted`` wins.
    - ``trust_site_packages``: whether installed third-party packages are trusted.
    """

    pickle: Level = "enforce"
    marshal: Level = "enforce"
    dynamic_code: Level = "enforce"
    process: ProcessLevel = "shells"
    native: Level = "warn"
    interpreters: Level = "enforce"
    escape_hatches: Level = "off"
    trusted: tuple[str, ...] = ()
    restricted: tuple[str, ...] = ()
    trust_site_packages: bool = True

    def __post_init__(self) -> None:
        for name in _LEVEL_FIELDS:
            _check_choice(name, getattr(self, name), LEVELS)
        _check_choice("process", self.process, PROCESS_LEVELS)
        for name in ("trusted", "restricted"):
            patterns = getattr(self, name)
            if isinstance(patterns, str) or not isinstance(patterns, tuple):
                raise ConfigurationError(
                    f"Policy.{name} must be a tuple of module-name patterns, "
                    f"not {type(patterns).__name__}",
                    field=name,
                )
            for pattern in patterns:
                if not isinstance(pattern, str) or not pattern.strip():
                    raise ConfigurationError(
                        f"Policy.{name} holds {quote(pattern)}: every pattern must be a "
                        "non-empty module name or fnmatch pattern",
                        field=name,
                    )
        if not isinstance(self.trust_site_packages, bool):
            raise ConfigurationError("Policy.trust_site_packages must be a bool")

    @classmethod
    def strict(cls, *, trusted: tuple[str, ...] = ()) -> Policy:
        """The strict preset: site-packages restricted except *trusted* modules, every
        process outside ``run_cmd``/multiprocessing refused, ctypes refused, escape
        hatches logged."""
        return cls(
            process="all",
            native="enforce",
            escape_hatches="log",
            trusted=trusted,
            trust_site_packages=False,
        )

    def is_at_least_as_strict_as(self, other: Policy) -> bool:
        """True if switching from *other* to this policy relaxes nothing."""
        for name in _LEVEL_FIELDS:
            if LEVELS.index(getattr(self, name)) < LEVELS.index(getattr(other, name)):
                return False
        if PROCESS_LEVELS.index(self.process) < PROCESS_LEVELS.index(other.process):
            return False
        if self.trust_site_packages and not other.trust_site_packages:
            return False
        return set(self.trusted) <= set(other.trusted) and set(self.restricted) >= set(
            other.restricted
        )

    def trust_override(self, module: str) -> bool | None:
        """``False`` if *module* matches a restricted pattern, ``True`` if it matches a
        trusted one, ``None`` when the default classification applies."""
        if any(fnmatchcase(module, pattern) for pattern in self.restricted):
            return False
        if any(fnmatchcase(module, pattern) for pattern in self.trusted):
            return True
        return None

    def as_mapping(self) -> dict[str, object]:
        """The policy as plain data (the TOML keys), e.g. to hand to a child process."""
        data: dict[str, object] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            data[field.name] = list(value) if isinstance(value, tuple) else value
        return data


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigurationError(
            f"Policy.{name} is {quote(value)}; expected one of {', '.join(choices)}",
            field=name,
        )


def policy_from_mapping(data: dict[str, Any], *, source: str = "mapping") -> Policy:
    """Build a policy from TOML-shaped data.

    ``preset = "default" | "strict"`` picks the starting point; every other key is a
    :class:`Policy` field. Unknown keys and wrong types raise
    :class:`~safeops.errors.ConfigurationError` (a typo must not silently weaken a rule).
    """
    data = dict(data)
    preset = data.pop("preset", "default")
    data.pop("mode", None)  # read by `safeops run`, not part of the policy
    if preset == "strict":
        base = Policy.strict()
    elif preset == "default":
        base = Policy()
    else:
        raise ConfigurationError(
            f"{source}: preset is {quote(preset)}; expected 'default' or 'strict'"
        )
    known = {field.name for field in fields(Policy)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigurationError(
            f"{source}: unknown policy key(s) {', '.join(map(quote, unknown))}; "
            f"known keys: preset, mode, {', '.join(sorted(known))}",
            keys=tuple(unknown),
        )
    changes: dict[str, object] = {}
    for key, value in data.items():
        if key in ("trusted", "restricted"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigurationError(f"{source}: {key} must be a list of strings")
            changes[key] = tuple(value)
        else:
            changes[key] = value
    return replace(base, **cast(dict[str, Any], changes))


def read_toml_table(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The safeops table of the TOML file at *path* (see the module docstring)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    filename = os.fspath(path)
    try:
        with open(filename, "rb") as stream:
            document = tomllib.load(stream)
    except OSError as error:
        raise ConfigurationError(
            f"cannot read the policy file {quote(filename)}: {error.strerror}",
            path=filename,
        ) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(
            f"the policy file {quote(filename)} is not valid TOML: {error}", path=filename
        ) from error
    if os.path.basename(filename) == "pyproject.toml" or "tool" in document:
        table = document.get("tool", {}).get("safeops")
        if table is None:
            raise ConfigurationError(
                f"{quote(filename)} has no [tool.safeops] table", path=filename
            )
        document = table
    if not isinstance(document, dict):
        raise ConfigurationError(f"{quote(filename)}: [tool.safeops] must be a table")
    return document


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read a policy from the TOML file the caller names.

    ``pyproject.toml`` (or any file with a ``[tool]`` table) is read from
    ``[tool.safeops]``; another file from its top level. Nothing is ever looked up
    implicitly: pass the path of the file you reviewed.
    """
    return policy_from_mapping(read_toml_table(path), source=os.fspath(path))

"""Where code lives, and whether code there is trusted to run dynamic code.

A frame is classified by the file its code was loaded from (cached per file name):
safeops itself, the import system, the standard library, an installed package (the
``site-packages``/``dist-packages`` directories of ``sys.path`` and ``site``) or the
application (everything else, including generated code). :func:`trust_of` turns a
location and a module name into a verdict under a policy.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Final

from safeops.enforce._policy import Policy

__all__ = [
    "KIND_NAMES",
    "CallSite",
    "first_frame",
    "first_outside_stdlib",
    "frame_kind",
    "module_of",
    "site_of",
    "trust_of",
]

_SAFEOPS_DIR: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


_STDLIB_DIRS: Final = tuple(
    {
        os.path.dirname(os.path.abspath(contextlib.__file__)) + os.sep,
        os.path.dirname(os.path.realpath(contextlib.__file__)) + os.sep,
    }
)


_IMPORT_SYSTEM: Final = frozenset(
    {
        "importlib",
        "importlib._bootstrap",
        "importlib._bootstrap_external",
        "importlib.abc",
        "importlib.machinery",
        "importlib.util",
        "_frozen_importlib",
        "_frozen_importlib_external",
        "zipimport",
    }
)


#: What each kind of code location is called in reports.
KIND_NAMES: Final = {
    "import": "the import system",
    "stdlib": "the standard library",
    "site": "an installed package (site-packages)",
    "app": "application code",
}


_kind_cache: dict[str, str] = {}


@dataclass(frozen=True)
class CallSite:
    """Where an operation was attributed: module, file, line, function and the kind of
    code location (``import``, ``stdlib``, ``site``, ``app``)."""

    module: str
    file: str
    line: int
    function: str
    kind: str

    def describe(self) -> str:
        """``file:line in function (module)``."""
        return f"{self.file}:{self.line} in {self.function} ({self.module})"

    def as_dict(self) -> dict[str, object]:
        """The call site as JSON-ready data."""
        return {
            "module": self.module,
            "file": self.file,
            "line": self.line,
            "function": self.function,
            "kind": self.kind,
        }


def frame_kind(filename: str, module: str) -> str:
    """Classify a code location: ``safeops``, ``import``, ``stdlib``, ``site`` or ``app``.

    Decided by the file the code was loaded from (cached per file name), and, inside
    the stdlib, by module name for the import system.
    """
    kind = _kind_cache.get(filename)
    if kind is None:
        kind = _classify(filename, module)
        _kind_cache[filename] = kind
    return kind


def _classify(filename: str, module: str) -> str:
    if filename.startswith("<frozen "):
        name = filename[len("<frozen ") : -1]
        return "import" if name in _IMPORT_SYSTEM else "stdlib"
    if filename.startswith(_SAFEOPS_DIR):
        return "safeops"
    if filename.startswith(_site_dirs()):
        return "site"
    if filename.startswith(_STDLIB_DIRS):
        return "import" if module in _IMPORT_SYSTEM else "stdlib"
    return "app"


_SITE_NAMES: Final = frozenset({"site-packages", "dist-packages"})


_site_cache: list[tuple[tuple[object, ...], tuple[str, ...]]] = []


def _site_dirs() -> tuple[str, ...]:
    """The installed-package directories: those ``site`` set up and the
    ``site-packages``/``dist-packages`` entries of ``sys.path`` (venvs, user site,
    ``--target`` installs). Not any path that merely contains such a component: an
    application under ``/srv/site-packages/app`` is application code. Recomputed only
    when ``sys.path`` changes (resolving symlinks costs system calls, and every newly
    imported module's file is classified)."""
    key = tuple(sys.path)
    if _site_cache and _site_cache[0][0] == key:
        return _site_cache[0][1]
    dirs = _compute_site_dirs()
    _site_cache[:] = [(key, dirs)]
    return dirs


def _compute_site_dirs() -> tuple[str, ...]:
    candidates: list[object] = list(sys.path)
    site = sys.modules.get("site")
    if site is not None:
        with contextlib.suppress(AttributeError, OSError):
            candidates.extend(site.getsitepackages())
        with contextlib.suppress(AttributeError, OSError):
            candidates.append(site.getusersitepackages())
    found: set[str] = set()
    for path in candidates:
        if type(path) is not str or not path:
            continue
        if os.path.basename(os.path.normpath(path)) in _SITE_NAMES:
            found.add(os.path.join(os.path.abspath(path), ""))
            found.add(os.path.join(os.path.realpath(path), ""))
    return tuple(sorted(found))


def module_of(frame: FrameType) -> str:
    name = frame.f_globals.get("__name__")
    return name if isinstance(name, str) else "?"


def site_of(frame: FrameType, kind: str | None = None) -> CallSite:
    """The :class:`CallSite` of *frame*."""
    code = frame.f_code
    module = module_of(frame)
    if kind is None:
        kind = frame_kind(code.co_filename, module)
    return CallSite(module, code.co_filename, frame.f_lineno, code.co_name, kind)


def trust_of(kind: str, module: str, policy: Policy) -> tuple[bool, str]:
    """Whether code of *kind* in *module* is trusted to run dynamic code, and why.

    Cached per (policy, kind, module): the hook asks on every gated event, and hashing
    the policy itself on each call would cost more than the decision."""
    entry = _trust_cache.get(id(policy))
    if entry is None or entry[0] is not policy:
        entry = (policy, {})
        _trust_cache[id(policy)] = entry
    verdicts = entry[1]
    key = (kind, module)
    verdict = verdicts.get(key)
    if verdict is None:
        verdict = _decide_trust(kind, module, policy)
        if len(verdicts) < 10_000:
            verdicts[key] = verdict
    return verdict


_trust_cache: dict[int, tuple[Policy, dict[tuple[str, str], tuple[bool, str]]]] = {}


def _decide_trust(kind: str, module: str, policy: Policy) -> tuple[bool, str]:
    override = policy.trust_override(module)
    if override is not None:
        verdict = "trusted" if override else "restricted"
        return override, f"{verdict} by a policy pattern matching {module!r}"
    if kind == "site":
        if policy.trust_site_packages:
            return True, "installed packages are trusted (trust_site_packages)"
        return False, "installed packages are restricted by this policy"
    if kind in ("import", "stdlib"):
        return True, f"{KIND_NAMES[kind]} is trusted"
    return False, "application code is restricted"


def first_frame(start: FrameType | None, plumbing: frozenset[str]) -> FrameType | None:
    """The first frame from *start* outward that is neither safeops nor *plumbing*
    (module names, matched exactly or as a package prefix)."""
    frame = start
    while frame is not None:
        code = frame.f_code
        module = module_of(frame)
        if frame_kind(code.co_filename, module) != "safeops" and not _in_packages(module, plumbing):
            return frame
        frame = frame.f_back
    return None


def _in_packages(module: str, packages: frozenset[str]) -> bool:
    """*module* is in *packages*: listed exactly, or its top-level package is listed
    as ``"name.*"``."""
    if module in packages:
        return True
    return module.partition(".")[0] + ".*" in packages


def first_outside_stdlib(frame: FrameType | None) -> FrameType | None:
    """The first frame from *frame* outward in an installed package or the application
    (where a report helps the reader), if any."""
    while frame is not None:
        code = frame.f_code
        if frame_kind(code.co_filename, module_of(frame)) in ("site", "app"):
            return frame
        frame = frame.f_back
    return None

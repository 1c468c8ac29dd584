"""Finding the executable: a fixed search path, never the caller's PATH.

The resolved path is checked before anything runs: a program found in (or linked into)
a world-writable or temporary directory is refused, because whoever can write there
chooses the code; so is a relative path, whose meaning depends on the working directory.
Both can be allowed deliberately on the CommandPolicy.

Between this check and ``execve`` the file could in principle be replaced (a race no
path-based check can close); the checks make that require write access to a directory
that only an administrator should have.
"""

from __future__ import annotations

import functools
import os
import stat
import sys
import time

from safeops.command._policy import CommandPolicy, Program
from safeops.errors import CommandNotFoundError, UnsafeCommandError, quote

__all__ = ["resolve", "resolve_executable"]

#: Resolution cache: (argv[0], policy knobs, pin, cwd) -> (path, names, file identity,
#: time). A hit is reused for at most _TTL seconds and only while the file still has the
#: same identity (device, inode, mode, owner, mtime), so a replaced or re-linked program
#: is resolved and checked afresh. Module state by design (ARCHITECTURE.md allows
#: caches): dict operations are atomic under the GIL and a forked child may keep it.
_CACHE: dict[tuple[object, ...], tuple[str, frozenset[str], tuple[int, ...], float]] = {}
_TTL = 2.0
_CACHE_SIZE = 256

_WINDOWS_BATCH = (".bat", ".cmd")


@functools.lru_cache(maxsize=1)
def _temporary_directories() -> tuple[str, ...]:
    import tempfile  # lazily: it imports random and shutil

    found = {"/tmp", "/var/tmp", "/dev/shm", tempfile.gettempdir()}  # noqa: S108 - checked, not used
    return tuple(sorted({os.path.realpath(d) for d in found}))


def _writable_location(path: str) -> str | None:
    """Why *path* is in a location others may write to, or None."""
    real = os.path.realpath(path)
    for temporary in _temporary_directories():
        if real == temporary or real.startswith(temporary.rstrip("/") + "/"):
            return f"it is inside the temporary directory {temporary}"
    for candidate in {path, real}:
        try:
            mode = os.stat(candidate).st_mode
        except OSError:
            continue
        if mode & stat.S_IWOTH:
            return f"{candidate} is world-writable"
        directory = os.path.dirname(candidate)
        while True:
            try:
                if os.stat(directory).st_mode & stat.S_IWOTH:
                    return f"its directory {directory} is world-writable"
            except OSError:
                pass
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
    return None


def _is_executable(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(mode) and os.access(path, os.X_OK)


def _identity(path: str) -> tuple[int, ...]:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ()
    return (st.st_dev, st.st_ino, st.st_mode, st.st_uid, st.st_mtime_ns, st.st_ctime_ns)


def resolve(
    program: str, policy: CommandPolicy, pinned: Program | None, cwd: str | None
) -> tuple[str, frozenset[str]]:
    """:func:`resolve_executable` plus the program's names, cached briefly (see _CACHE)."""
    from safeops.command._knowledge import program_names

    key = (program, policy.search_path, policy.unsafe_allow_relative_paths,
           policy.unsafe_allow_writable_locations, pinned.path if pinned else None,
           cwd if not os.path.isabs(program) else None)
    hit = _CACHE.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[3] < _TTL and hit[2] and _identity(hit[0]) == hit[2]:
        return hit[0], hit[1]
    path = resolve_executable(program, policy, pinned, cwd)
    names = program_names(path)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = (path, names, _identity(path), now)
    return path, names


def resolve_executable(
    program: str, policy: CommandPolicy, pinned: Program | None, cwd: str | None
) -> str:
    """The absolute path run_cmd will execute for *program* (argv[0]).

    Raises UnsafeCommandError (relative path, writable location, Windows batch file) or
    CommandNotFoundError (nothing executable on the search path).
    """
    if sys.platform == "win32" and program.lower().endswith(_WINDOWS_BATCH):
        raise UnsafeCommandError(
            f"refused {quote(program)}: Windows runs .bat/.cmd files through cmd.exe, whose "
            "argument parsing makes any argument injectable (BatBadBut, CVE-2024-24576); "
            "call the program the batch file calls instead",
            rule="windows-batch",
            program=program,
        )
    if pinned is not None and pinned.path is not None:
        path = pinned.path
    elif os.sep in program or (os.altsep is not None and os.altsep in program):
        if not os.path.isabs(program):
            if not policy.unsafe_allow_relative_paths:
                raise UnsafeCommandError(
                    f"refused the relative program path {quote(program)}: what it runs "
                    "depends on the working directory. Give an absolute path, a bare name "
                    "found on the safe search path, or allow it deliberately with "
                    "CommandPolicy(unsafe_allow_relative_paths=True)",
                    rule="relative-path",
                    program=program,
                )
            program = os.path.join(cwd or os.getcwd(), program)
        path = os.path.normpath(program)
    else:
        for directory in policy.search_path:
            candidate = os.path.join(directory, program)
            if _is_executable(candidate):
                path = candidate
                break
        else:
            raise CommandNotFoundError(
                f"program {quote(program)} not found on the safe search path "
                f"{os.pathsep.join(policy.search_path)} (the caller's PATH is never used); "
                "install it there, give its absolute path, or pin it with "
                "Program(name, path=...)",
                program=program,
                search_path=os.pathsep.join(policy.search_path),
            )
    if not _is_executable(path):
        raise CommandNotFoundError(
            f"{quote(path)} is not an executable file", program=program, path=path
        )
    if sys.platform == "win32" and os.path.realpath(path).lower().endswith(_WINDOWS_BATCH):
        raise UnsafeCommandError(
            f"refused {quote(path)}: it is a Windows batch file (CVE-2024-24576)",
            rule="windows-batch",
            program=program,
        )
    if not policy.unsafe_allow_writable_locations:
        reason = _writable_location(path)
        if reason is not None:
            raise UnsafeCommandError(
                f"refused {quote(path)}: {reason}, so anyone who can write there chooses "
                "the code that runs. Install the program in a directory only its owner can "
                "write, or allow it deliberately with "
                "CommandPolicy(unsafe_allow_writable_locations=True)",
                rule="writable-location",
                program=program,
                path=path,
            )
    return path

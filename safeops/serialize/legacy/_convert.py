"""Converting legacy pickle files to ``safeops.serialize`` documents, atomically.

Used by ``safeops convert`` and callable from Python (where the application's own
``serialize.register`` calls are in effect). The input is only ever opened for reading.
The output is written to a temporary file in the same directory, flushed and fsynced,
then renamed over the destination with :func:`os.replace`: a reader sees the old file or
the complete new one, and a crash or kill leaves at most a stray temporary file, which
the next run in that directory removes (unless the process that wrote it still runs).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from safeops.errors import DecodeError, SafeOpsError
from safeops.serialize import DEFAULT_LIMITS, Limits, dumps
from safeops.serialize.legacy._policy import AllowEntry
from safeops.serialize.legacy._stdlib_types import register_stdlib_types
from safeops.serialize.legacy._unpickler import loads

__all__ = [
    "TEMP_MARKER",
    "ConvertSummary",
    "atomic_write",
    "clean_stray_temps",
    "convert_file",
    "convert_tree",
    "read_input",
]

Format = Literal["json", "msgpack"]
#: Part of every temporary file's name: ``.<target>.safeops-tmp-<pid>-<random>``.
TEMP_MARKER = ".safeops-tmp-"
#: The exact shape of the names atomic_write uses (pids on Linux are below 2**22).
_TEMP_NAME = re.compile(r"\..+" + re.escape(TEMP_MARKER) + r"([0-9]{1,7})-[0-9a-f]{8}")


def convert_file(
    source: Path,
    target: Path,
    *,
    format: Format = "json",
    allow: Iterable[AllowEntry] = frozenset(),
    key: bytes | None = None,
    limits: Limits | None = None,
) -> None:
    """Read the legacy pickle *source* with ``legacy.load`` and write it to *target*.

    The allow-listed stdlib types that ``safeops.serialize`` has no tag for
    (``OrderedDict``, ``deque``, ``Counter``, ``defaultdict``, ``ChainMap``, ``slice``,
    ``Ellipsis``) are written through :func:`register_stdlib_types`; a program reading
    the output calls it too. Raises :class:`~safeops.errors.DecodeError` when the pickle is refused,
    :class:`~safeops.errors.EncodeError` when a value has no ``safeops.serialize`` form
    (register its class first), :class:`OSError` for I/O problems. *target* is never
    left partially written. Refuses to write over *source* itself.
    """
    register_stdlib_types()  # OrderedDict, deque, ... (readers call it too)
    source, target = Path(source), Path(target)
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise DecodeError("convert would overwrite its input; choose another output path")
    active = DEFAULT_LIMITS if limits is None else limits
    # Never more than the budget plus one byte: loads() then reports the overrun.
    data, mode = read_input(source, active.max_bytes + 1)
    value = loads(data, allow=allow, limits=active)
    # The output holds the same data as the input: give it no wider permissions.
    atomic_write(target, dumps(value, format=format, key=key), mode=mode)


def read_input(path: Path, size: int, *, follow_symlinks: bool = True) -> tuple[bytes, int]:
    """Read at most *size* bytes of the regular file *path*; return them and its mode bits.

    Opened non-blocking (a FIFO never hangs the caller) and refused unless it is a regular
    file (``/dev/zero``, a FIFO, a directory raise :class:`OSError`); with
    *follow_symlinks* False a symlink is refused too.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb", buffering=0) as file:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(f"{path} is not a regular file")
        chunks: list[bytes] = []
        remaining = size
        while remaining > 0:
            chunk = file.read(min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    return b"".join(chunks), stat.S_IMODE(status.st_mode)


def atomic_write(target: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write *data* to *target* via a same-directory temporary file, fsync and rename.

    The file gets permission bits *mode* (owner-only by default). O_EXCL on a random name
    means a planted file or symlink at the temporary path is never followed.
    """
    directory = target.parent
    clean_stray_temps(directory, target.name)
    temp = directory / f".{target.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(descriptor, mode & 0o777)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_directory(directory)


def clean_stray_temps(directory: Path, target_name: str | None = None) -> int:
    """Remove temporary files left by killed conversions; returns how many.

    Only regular files (never directories or symlinks) whose name has exactly the shape
    this module writes (``.<target>.safeops-tmp-<pid>-<8 hex digits>``) are considered,
    and one whose writer (the pid in its name) is still running is left alone. With
    *target_name*, only that target's temporary files. Anything else that merely looks
    similar is ignored; errors while cleaning never stop a conversion.
    """
    prefix = f".{target_name}{TEMP_MARKER}" if target_name else "."
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        match = _TEMP_NAME.fullmatch(name)
        if match is None or not name.startswith(prefix):
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _running(pid):
            continue
        stray = directory / name
        try:
            if not stat.S_ISREG(os.lstat(stray).st_mode):
                continue
            stray.unlink()
        except OSError:
            continue
        removed += 1
    return removed


@dataclass
class ConvertSummary:
    """What a directory conversion did: counts and one message per failed file."""

    converted: int = 0
    refused: int = 0
    errors: int = 0
    problems: list[tuple[Path, str]] = field(default_factory=list)


def convert_tree(
    source_dir: Path,
    target_dir: Path,
    *,
    format: Format = "json",
    allow: Iterable[AllowEntry] = frozenset(),
    key: bytes | None = None,
    limits: Limits | None = None,
    progress: Callable[[int, int, Path, str], None] | None = None,
) -> ConvertSummary:
    """Convert every ``*.pkl`` under *source_dir* into *target_dir*, keeping the layout.

    ``a/b.pkl`` becomes ``a/b.json`` (or ``.msgpack``). One bad file never stops the
    run: refusals (DecodeError) and errors (anything else) are counted and listed.
    *progress* is called after each file with (done, total, path, outcome).
    """
    source_dir, target_dir = Path(source_dir), Path(target_dir)
    allow = frozenset(allow)
    root = source_dir.resolve()
    # Symlinks are never followed: a link in the tree must not make convert read (and
    # copy into OUT) a file outside the tree the user named.
    sources = sorted(
        path
        for path in source_dir.rglob("*.pkl")
        if not path.is_symlink() and path.is_file() and _inside(path, root)
    )
    summary = ConvertSummary()
    suffix = ".json" if format == "json" else ".msgpack"
    for done, source in enumerate(sources, start=1):
        relative = source.relative_to(source_dir)
        target = (target_dir / relative).with_suffix(suffix)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            convert_file(source, target, format=format, allow=allow, key=key, limits=limits)
        except DecodeError as error:
            summary.refused += 1
            summary.problems.append((relative, f"refused: {error}"))
            outcome = "refused"
        except Exception as error:  # one bad file never stops the run
            summary.errors += 1
            kind = "" if isinstance(error, (SafeOpsError, OSError)) else f"{type(error).__name__}: "
            summary.problems.append((relative, f"error: {kind}{error}"))
            outcome = "error"
        else:
            summary.converted += 1
            outcome = "converted"
        if progress is not None:
            progress(done, len(sources), relative, outcome)
    return summary


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False  # reached through a symlinked directory
    return True


def _running(pid: int) -> bool:
    if pid <= 0:
        return False  # 0 and negative pids address process groups, never a writer
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk (POSIX).
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

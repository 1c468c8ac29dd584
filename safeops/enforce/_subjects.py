"""What an event is about, and whether a permit covers it.

Helpers of :mod:`._rules`: the executable and argument vector of every process event
layout, the frames that are multiprocessing starting its own workers, and how a
permit's *subject* narrows it (a process permit to one executable, a pickle permit to
the globals its holder allowed, a dynamic-code permit to one source, tree or code object).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Container
from types import FrameType
from typing import Final

from safeops import _permits
from safeops.enforce._locations import site_of
from safeops.enforce._policy import Policy

__all__ = [
    "FORK_EXEC_EVENT",
    "WORKER_STARTS",
    "any_permit",
    "code_permit_covers",
    "dash_c_command",
    "fd_program",
    "is_interpreter_machinery",
    "is_worker_start",
    "pickle_permit_covers",
    "process_subject",
    "same_program",
    "unscoped",
]

#: Raised by safeops' wrapper around ``_posixsubprocess.fork_exec``.
FORK_EXEC_EVENT: Final = "safeops.fork_exec"
#: Where multiprocessing starts its own processes: (module, function) of the first frame
#: outside the process plumbing (``os``, ``multiprocessing.util``) when a ``Pool``, a
#: ``ProcessPoolExecutor``, a manager or a ``Process`` starts with fork, spawn or
#: forkserver, verified on CPython 3.10-3.13: ``Popen._launch`` of the fork and spawn
#: start methods, the forkserver's start (``ensure_running``) and its fork loop (``main``,
#: in the forkserver process), and the resource tracker's start. Only these frames are
#: exempt: a pool worker calling a spawn function it was handed
#: (``executor.submit(subprocess.run, argv)``) is not multiprocessing starting a worker
#: (attack review 2026-11-28, E13).
WORKER_STARTS: Final = frozenset(
    {
        ("multiprocessing.popen_fork", "_launch"),
        ("multiprocessing.popen_spawn_posix", "_launch"),
        ("multiprocessing.forkserver", "ensure_running"),
        ("multiprocessing.forkserver", "main"),
        ("multiprocessing.resource_tracker", "ensure_running"),
    }
)


def _text(value: object) -> str | None:
    if isinstance(value, (str, bytes, os.PathLike)):
        try:
            path = os.fspath(value)
        except TypeError:
            return None
        return os.fsdecode(path) if isinstance(path, bytes) else path
    return None


def _argv(args: object) -> list[str]:
    """The event's argument vector as text (a bare string is one word)."""
    single = _text(args)
    if single is not None:
        return [single]
    if isinstance(args, (list, tuple)):
        words = [_text(arg) for arg in args]
        return [word for word in words if word is not None]
    return []


def same_program(subject: object, executable: str | None) -> bool:
    expected = _text(subject)
    if expected is None or executable is None:
        return False
    if expected == executable:
        return True
    try:
        return os.path.realpath(expected) == os.path.realpath(executable)
    except (OSError, ValueError):
        return False


def process_subject(event: str, args: tuple[object, ...]) -> tuple[str | None, list[str]]:
    """(executable, argv) of a process event, whatever its argument layout."""
    if event == "os.system":
        return "/bin/sh", _argv(args[0] if args else "")
    if event == "subprocess.Popen":  # executable, args, cwd, env
        return _text(args[0]), _argv(args[1] if len(args) > 1 else ())
    if event == "os.spawn":  # mode, path, args, env
        return _text(args[1] if len(args) > 1 else None), _argv(args[2] if len(args) > 2 else ())
    if event == FORK_EXEC_EVENT:  # executable_list, args
        executables = _argv(args[0] if args else ())
        return (executables[0] if executables else None), _argv(args[1] if len(args) > 1 else ())
    # os.exec, os.posix_spawn: path, args, env; os.execve also takes an open file
    # descriptor (fexecve): the program is the file it refers to.
    path = args[0] if args else None
    executable = fd_program(path) if type(path) is int else _text(path)
    return executable, _argv(args[1] if len(args) > 1 else ())


def fd_program(fd: int) -> str | None:
    """The file an open descriptor refers to (``/proc/self/fd``), or None when that
    cannot be told: no ``/proc``, or not a file that still exists (a deleted file, a
    ``memfd``). Attack review 2026-11-28, E11."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except (OSError, ValueError):
        return None
    return target if os.path.isfile(target) else None


def dash_c_command(argv: list[str]) -> str | None:
    """The word after the first ``-c`` in *argv*, or None: what a program of unknown
    identity would run as a shell command string."""
    for index, word in enumerate(argv[1:-1], start=1):
        if word == "-c":
            return argv[index + 1]
    return None


def is_worker_start(frame: FrameType) -> bool:
    """*frame* is multiprocessing starting one of its own processes (WORKER_STARTS)."""
    site = site_of(frame)
    return site.kind == "stdlib" and (site.module, site.function) in WORKER_STARTS


def is_interpreter_machinery(frame: FrameType, policy: Policy) -> bool:
    """multiprocessing starting its own worker processes (:data:`WORKER_STARTS`; this
    covers concurrent.futures' process pools, which start theirs through it), or a
    module the policy trusts."""
    if is_worker_start(frame):
        return True
    return policy.trust_override(site_of(frame).module) is True


def unscoped(permit: _permits.Permit) -> bool:
    """A permit without a subject: the only kind that covers an event with nothing a
    subject could name (BUILD on a class, a fork)."""
    return permit.subject is None


def any_permit(permit: _permits.Permit) -> bool:
    """Native-code permits are not narrowed by a subject: any of them covers the event."""
    return True


def pickle_permit_covers(subject: object, module: str, name: str) -> bool:
    """A pickle permit covers every global (no subject), one ``(module, name)`` pair, or
    the pairs of a container (the allow-list its holder resolved)."""
    if subject is None:
        return True
    if isinstance(subject, tuple) and len(subject) == 2:
        return subject == (module, name)
    if isinstance(subject, Container):
        try:
            return (module, name) in subject
        except TypeError:
            return False
    return False


def code_permit_covers(subject: object, source: object, *, derived_ast: bool = False) -> bool:
    """A dynamic-code permit covers every source (no subject), the same AST or code
    object, or the same text (the compile event carries source text as UTF-8 bytes).

    With *derived_ast* (safeops' own permits), a permit for a text or tree also covers
    compiling a syntax tree inside the block: the vetted pipeline parses the text it
    checked and compiles the tree it transformed (RestrictedPython builds a new one).
    A tree cannot come straight from attacker data; text is still matched exactly."""
    if subject is None or subject is source:
        return True
    if derived_ast and isinstance(source, ast.AST) and isinstance(subject, (str, bytes, ast.AST)):
        return True
    if isinstance(subject, str) and type(source) is bytes:
        return subject.encode("utf-8", "surrogatepass") == source
    if isinstance(subject, bytes) and type(source) is bytes:
        return subject == source
    return False

"""Make operations CPython does not audit visible to the hook.

``_posixsubprocess.fork_exec`` starts a process without raising any audit event;
``multiprocessing.util.spawnv_passfds`` calls it directly, so do ``subprocess`` (which
raises ``subprocess.Popen`` first) and any code that imports the private module. The
sub-interpreter constructors (``_xxsubinterpreters.create``, ``_interpreters.create``)
raise no event that can be refused safely on 3.12+. Both are replaced, at ``enforce()``
time, by thin wrappers that raise a safeops audit event first and then call the
original.

Limit (documented in docs/enforce.md): code that bound the original function before
``enforce()`` ran (``from _posixsubprocess import fork_exec``) keeps the unwrapped one.
``safeops run`` installs the wrappers before the program imports anything.

The wrapper also carries enforcement into the interpreters multiprocessing starts
(spawn and forkserver start methods, and its resource tracker): their ``-c`` program
is prefixed with a call that enforces the parent's mode and policy first.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from types import CodeType
from typing import Any, Final

from safeops.enforce._rules import FORK_EXEC_EVENT, SUBINTERPRETER_EVENT

__all__ = ["install_wrappers", "set_child_bootstrap"]

_WRAPPED_MARK: Final = "__safeops_wrapped__"
_MP_PROGRAM_PREFIX: Final = "from multiprocessing."
#: The Python statement prepended to multiprocessing children's ``-c`` program.
_child_prefix: list[str] = []


def set_child_bootstrap(prefix: str) -> None:
    """Set the Python statement prepended to multiprocessing children's ``-c`` program."""
    _child_prefix[:] = [prefix]


def _code_of(module_name: str, qualname: str) -> CodeType | None:
    module = sys.modules.get(module_name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    code = getattr(target, "__code__", None)
    return code if isinstance(code, CodeType) else None


def _with_child_bootstrap(args: Any) -> Any:
    """*args* with the bootstrap prepended to a multiprocessing ``-c`` program."""
    if not _child_prefix or not isinstance(args, (list, tuple)):
        return args
    prefix = _child_prefix[0]
    words = list(args)
    for index in range(len(words) - 1):
        flag, program = words[index], words[index + 1]
        if flag in ("-c", b"-c"):
            if isinstance(program, str) and program.startswith(_MP_PROGRAM_PREFIX):
                words[index + 1] = prefix + "\n" + program
            elif isinstance(program, bytes) and program.startswith(_MP_PROGRAM_PREFIX.encode()):
                words[index + 1] = prefix.encode() + b"\n" + program
            break
    return type(args)(words)


def _is_multiprocessing(code: CodeType) -> bool:
    return code.co_filename.replace("\\", "/").endswith("multiprocessing/util.py")


def _wrap_fork_exec(original: Callable[..., int]) -> Callable[..., int]:
    audit = sys.audit
    getframe = sys._getframe
    subprocess_code = _code_of("subprocess", "Popen._execute_child")

    # functools.wraps keeps the module and name, so the wrapper pickles by reference
    # exactly as the original would (and is what that reference resolves to).
    @functools.wraps(original)
    def fork_exec(*args: Any) -> int:
        caller = getframe(1).f_code
        # subprocess.Popen already raised its own event with the same argv.
        if caller is not subprocess_code:
            if caller.co_name == "spawnv_passfds" and args and _is_multiprocessing(caller):
                args = (_with_child_bootstrap(args[0]), *args[1:])
            audit(FORK_EXEC_EVENT, args[1] if len(args) > 1 else (), args[0] if args else ())
        return original(*args)

    setattr(fork_exec, _WRAPPED_MARK, original)
    return fork_exec


def _wrap_create(original: Callable[..., Any]) -> Callable[..., Any]:
    audit = sys.audit

    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        audit(SUBINTERPRETER_EVENT, original.__module__ or "")
        return original(*args, **kwargs)

    setattr(create, _WRAPPED_MARK, original)
    return create


def install_wrappers() -> None:
    """Wrap ``fork_exec`` and the sub-interpreter constructors (idempotent)."""
    import subprocess  # noqa: F401 - loaded first so its code object can be recognised

    try:
        import _posixsubprocess
    except ImportError:  # pragma: no cover - non-POSIX
        pass
    else:
        current: Any = _posixsubprocess.fork_exec
        if not hasattr(current, _WRAPPED_MARK):
            _posixsubprocess.fork_exec = _wrap_fork_exec(current)
    for name in ("_xxsubinterpreters", "_interpreters"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        current = getattr(module, "create", None)
        if current is not None and not hasattr(current, _WRAPPED_MARK):
            module.create = _wrap_create(current)  # type: ignore[attr-defined]

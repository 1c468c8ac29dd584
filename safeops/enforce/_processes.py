"""Who starts a process that is handed code: the frame rules of the process category.

Helpers of :mod:`._rules` beyond a shell given ``-c`` (attack review 2026-11-28):

- ``process.template`` (E9): template code (jinja2) starting a process itself, any
  program, list form included: that is what server-side template injection does;
- ``process.shell`` for the command programs of :mod:`._programs` (E4), whoever asks;
- ``process.code`` (E4): an interpreter given inline code (``python -c``, ``perl -e``...)
  or reading it from stdin, judged like dynamic code by *who wrote the code*
  (:func:`code_author`).
"""

from __future__ import annotations

import functools
import linecache
from collections.abc import Iterator
from dataclasses import dataclass
from types import BuiltinFunctionType, FrameType, FunctionType
from typing import Final

from safeops.enforce._holders import arguments, instance_dict
from safeops.enforce._locations import CallSite, site_of, trust_of
from safeops.enforce._policy import Policy
from safeops.enforce._programs import find_code_use

__all__ = ["ProcessVerdict", "code_author", "judge_process", "template_frame"]


#: Frames between template code and the callable it calls: jinja2 compiles
#: ``{{ f(x) }}`` to ``context.call(f, x)`` (jinja2.runtime.Context.call), which a
#: sandboxed environment routes through ``SandboxedEnvironment.call``.
#: The ``co_filename`` jinja2 gives a template compiled from a string.
_TEMPLATE_FILENAME: Final = "<template>"
#: How deep and how many values of a frame's arguments (and locals) are searched for the
#: inline code it was handed, or for a process function it holds.
_SEARCH_DEPTH: Final = 4
_SEARCH_BUDGET: Final = 400
#: Modules whose functions and classes start processes (as ``__module__`` reports
#: them), and the process functions of the modules that also hold other things.
_SPAWNER_MODULES: Final = frozenset(
    {"subprocess", "asyncio.subprocess", "multiprocessing.util", "_posixsubprocess"}
)
_SPAWNER_NAMES: Final = frozenset(
    {"system", "popen", "posix_spawn", "posix_spawnp", "execv", "execve", "execl", "execle",
     "execlp", "execlpe", "execvp", "execvpe", "spawnv", "spawnve", "spawnl", "spawnle",
     "spawnlp", "spawnlpe", "spawnvp", "spawnvpe", "fork", "forkpty", "spawn"}
)
_SPAWNER_OS_MODULES: Final = frozenset({"os", "posix", "pty"})


def template_frame(frame: FrameType) -> FrameType | None:
    """The template-generated frame responsible for *frame*'s call, or None.

    jinja2 template code (any loader: its globals hold ``__jinja_template__``; a template
    from a string also has the file name ``<template>``) reaches a callable through
    ``Context.call``, which is skipped. Verified with jinja2 3.1; other template engines
    are not recognised."""
    current: FrameType | None = frame
    while current is not None:
        module = current.f_globals.get("__name__")
        # jinja2's own frames (Context.call, and filters such as `list`, which call what
        # a template hands them from C: `map(subprocess.run, ...)|list`, attack review 3,
        # G3) are the template's plumbing: look past them.
        if not (type(module) is str and (module == "jinja2" or module.startswith("jinja2."))):
            break
        current = current.f_back
    if current is None:
        return None
    if "__jinja_template__" in current.f_globals or (
        current.f_code.co_filename == _TEMPLATE_FILENAME
    ):
        return current
    return None


def _program_written(frame: FrameType, text: str) -> bool:
    """*text* is a string literal of the frame's code, or a module-level string of its
    module whose every line is in the module's source file (a constant such as
    ``SCRIPT = textwrap.dedent(\"""...\""")``; data read at run time into a global is not
    in the source). Only exact ``str`` objects are compared."""
    for constant in frame.f_code.co_consts:
        # A display of constants (["perl", "-e", "..."]) is one tuple constant.
        items = constant if type(constant) in (tuple, frozenset) else (constant,)
        if any(type(item) is str and item == text for item in items):
            return True
    if not any(type(value) is str and value == text for value in list(frame.f_globals.values())):
        return False
    source = "".join(linecache.getlines(frame.f_code.co_filename))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return bool(lines) and all(line in source for line in lines)


def _reachable(values: list[object]) -> Iterator[object]:
    """*values* and what they hold a few levels down (containers, instance attributes),
    within a budget. Only exact container types and ``__dict__`` are read: no user code
    (``__iter__``, ``__getattr__``) runs inside the hook."""
    pending: list[tuple[object, int]] = [(value, 0) for value in values]
    budget = _SEARCH_BUDGET
    while pending and budget > 0:
        value, depth = pending.pop()
        budget -= 1
        yield value
        if depth >= _SEARCH_DEPTH:
            continue
        kind = type(value)
        items: list[object]
        if kind in (list, tuple, set, frozenset):
            assert isinstance(value, (list, tuple, set, frozenset))
            items = list(value)
        elif kind is dict:
            assert isinstance(value, dict)
            items = list(value.values())
        elif kind is functools.partial:
            assert isinstance(value, functools.partial)
            items = [value.func, value.args, value.keywords]
        elif kind is str or kind is bytes:
            continue
        else:
            # The instance dict through CPython's own descriptor: a class's __getattr__
            # or a __dict__ property must not run inside the hook.
            state = instance_dict(value)
            if type(state) is not dict:
                continue
            items = list(state.values())
        pending.extend((item, depth + 1) for item in items)


def _is_spawner(value: object) -> bool:
    """A function or class of the process APIs (``subprocess.run``, ``os.posix_spawn``,
    ``pty.spawn``...), held as a value."""
    if not isinstance(value, (FunctionType, BuiltinFunctionType, type)):
        return False
    module = getattr(value, "__module__", None)
    if module in _SPAWNER_MODULES:
        return True
    return module in _SPAWNER_OS_MODULES and getattr(value, "__name__", None) in _SPAWNER_NAMES


def _runs_stored_spawner(frame: FrameType) -> bool:
    """The frame holds a process function as a value (a pool or thread running a
    ``subprocess.run(argv)`` it was handed): whoever chose the argv is not on the stack."""
    return any(_is_spawner(value) for value in _reachable(list(frame.f_locals.values())))


def _received_text(frame: FrameType, text: str) -> bool:
    """The frame received *text*, or a substantial piece of it, in its arguments (or in
    what they hold): it was handed the code rather than writing it."""
    for value in _reachable(arguments(frame, spread=False)):
        if type(value) is str:
            assert isinstance(value, str)
            if value == text or (len(value) >= 8 and not value.isidentifier() and value in text):
                return True
    return False


def code_author(
    frame: FrameType | None, text: str | None, policy: Policy
) -> tuple[bool, CallSite | None, str]:
    """Whether inline interpreter code (``text``; None when it is read from stdin) was
    written by code the policy trusts: ``(allowed, responsible call site, why)``.

    Like the dynamic-code rule (the code runs in another interpreter, but it is still
    code chosen by whoever wrote the text): walking outward from *frame*, text that is a
    string literal or a module-level string of the frame is program-written (allowed),
    also when helpers that received it as an argument passed it on; otherwise the first
    restricted frame (application code by default) is responsible; a trusted
    frame (stdlib, installed packages by default) that was not handed the text wrote it
    (allowed); one that received it as an argument passes the question to its caller;
    one that runs a process function it holds as a value (a pool or thread running a
    handed ``subprocess.run``) is refused: the code's author is no longer on the stack."""
    current = frame
    refused: tuple[CallSite, str] | None = None
    while current is not None:
        site = site_of(current)
        if site.kind == "safeops":
            current = current.f_back
            continue
        if text is not None and _program_written(current, text):
            return True, site, "program-written code"
        handed = text is not None and _received_text(current, text)
        if refused is None:
            trusted, why = trust_of(site.kind, site.module, policy)
            if trusted:
                if _runs_stored_spawner(current):
                    return False, site, (
                        "a process function called as a stored callback: the code that "
                        "chose the program's code is no longer on the stack"
                    )
                if not handed:
                    return True, site, why
            else:
                refused = (site, f"{why}, and the code is not a string literal of it")
        if refused is not None and not handed:
            return False, *refused
        current = current.f_back
    if refused is not None:
        return False, *refused
    return False, None, "no caller outside safeops and code it was handed"


@dataclass(frozen=True)
class ProcessVerdict:
    """A refusal by the code-handing process rules: rule name, responsible call site,
    why, and what to quote."""

    rule: str
    site: CallSite | None
    why: str
    detail: str


def judge_process(
    executable: str | None, argv: list[str], caller: FrameType | None, policy: Policy
) -> ProcessVerdict | None:
    """The default-policy process rules beyond a shell's ``-c`` (see the module
    docstring): template code starting a process (``process.template``), programs
    running a command (``process.shell``), interpreters given code that code the policy
    restricts wrote (``process.code``). *caller* is the first frame outside the process
    plumbing. The caller checks multiprocessing's own worker starts first (their ``-c``
    program is multiprocessing's) and exempts them."""
    if caller is not None:
        template = template_frame(caller)
        if template is not None:
            return ProcessVerdict(
                "process.template",
                site_of(template),
                "template code starts a process (server-side template injection reaches "
                "process creation this way; templates should call reviewed helpers)",
                " ".join(argv) if argv else str(executable),
            )
    use = None
    if executable is not None and argv and executable != argv[0]:
        use = find_code_use([executable, *argv[1:]])
    if use is None and argv:
        use = find_code_use(argv)
    if use is None:
        return None
    where = site_of(caller) if caller is not None else None
    if use.kind == "command":
        return ProcessVerdict(
            "process.shell", where, f"{use.how} (judged by what runs, whoever asks)", use.text
        )
    allowed, site, why = code_author(caller, use.text if use.kind == "inline" else None, policy)
    if allowed:
        return None
    detail = use.text if use.kind == "inline" else f"{' '.join(argv)} (program read from stdin)"
    return ProcessVerdict("process.code", site, f"{use.how}; {why}", detail)

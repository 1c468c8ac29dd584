"""Caller attribution: which code is responsible for an audited operation.

An audit event is raised deep inside the interpreter; the frame on top of the stack is
often not the code that decided to run the operation. This module walks outward from
that frame and returns the first frame that *is* responsible, skipping:

- safeops' own frames (safeops is never a trust boundary by itself: its vetted
  operations are marked with permits instead);
- the event's plumbing (``subprocess`` for a process event, ``ctypes`` for a native one);
- **text runners**: a trusted function that received the compiled source (or the code
  object being run) as one of its arguments did not choose that source, its caller did.
  This finds every "run the text you are handed" function systematically (``timeit``,
  ``code.InteractiveConsole``, ``cProfile.run``, ``typing.ForwardRef``, the import
  system's ``_call_with_frames_removed``) instead of listing them. Trust only ever
  decreases outward: the walk stops at the first restricted frame, so application code
  that runs text it was handed is responsible for it, whoever handed it over.

Two refinements keep legitimate code working and keep callbacks from hiding a caller:

- *Program-written text*: when the source reached a trusted text runner from a
  restricted frame whose own code holds that text as a string literal (``Optional["A |
  B"]`` in application code compiles ``"A | B"`` through ``typing``), the program wrote
  the text, not its input; the compile is allowed. A direct ``eval("...")`` in
  restricted code is still refused: only text handed to a trusted runner qualifies.
- *Callback runners*: a trusted frame that calls ``eval``/``exec``/``compile`` without
  naming it, using a callable stored by other code (``Thread(target=eval, args=(s,))``,
  ``executor.submit(exec, s)``), cannot be the one who chose the source, and whoever
  did is no longer on the stack: such an event is attributed as restricted.
"""

from __future__ import annotations

import _pickle
import builtins
import contextlib
import functools
import itertools
import marshal
import operator
import os
import pickle
import sys
from dataclasses import dataclass
from types import (
    CodeType,
    FrameType,
    FunctionType,
    GetSetDescriptorType,
    MemberDescriptorType,
    MethodType,
    ModuleType,
)
from typing import Final

from safeops.enforce._annotations import refusal
from safeops.enforce._policy import Policy

__all__ = ["Attribution", "CallSite", "attribute", "first_frame", "frame_kind", "site_of"]

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
#: The builtins whose call raises a dynamic-code event; a frame that holds one of these
#: in stored state and calls it without naming it is a callback runner.
_CODE_RUNNERS: Final = frozenset(
    id(f) for f in (builtins.eval, builtins.exec, builtins.compile, marshal.loads, marshal.load)
)
#: The unpicklers: a frame that calls one of these (by name, or as a stored or handed
#: callback) while a dynamic-code event fires is running an unpickling whose data named
#: eval/exec/compile (REDUCE calls them from C, no Python frame names them).
_UNPICKLERS: Final = frozenset(
    id(f) for f in (pickle.loads, pickle.load, pickle.Unpickler, _pickle.loads, _pickle.load)
)
_UNPICKLER_NAMES: Final = frozenset({"loads", "load", "_loads", "_load", "Unpickler"})
_CO_VARARGS: Final = 0x04
_CO_VARKEYWORDS: Final = 0x08
_CO_NEWLOCALS: Final = 0x02
#: How many items of a list or tuple local are searched for a held callable.
_MAX_ITEMS: Final = 32
#: C iterators that call the function they were built with (``map(timeit.timeit, t)``).
_CALLING_ITERATORS: Final = frozenset({map, filter, itertools.starmap})
_MISSING: Final = object()
_HANDED_CALLABLE: Final = object()
#: Aliases under which trusted code calls the code-running builtins by name (six's
#: ``exec_``), besides the builtins' own names.
_ALIASES: Final = frozenset({"exec_", "_exec"})
#: Read through the metatype's own slots: a metaclass cannot run code inside the hook.
_MRO_OF: Final = type.__dict__["__mro__"].__get__
_NAME_OF: Final = type.__dict__["__name__"].__get__

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


@dataclass(frozen=True)
class Attribution:
    """The verdict of a frame walk: the responsible call site (``None`` if every frame
    was skipped, and for trusted verdicts, which are never recorded), whether that code
    is trusted, and why."""

    site: CallSite | None
    trusted: bool
    why: str


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


def _site_dirs() -> tuple[str, ...]:
    """The installed-package directories: those ``site`` set up and the
    ``site-packages``/``dist-packages`` entries of ``sys.path`` (venvs, user site,
    ``--target`` installs). Not any path that merely contains such a component: an
    application under ``/srv/site-packages/app`` is application code."""
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


def _module_of(frame: FrameType) -> str:
    name = frame.f_globals.get("__name__")
    return name if isinstance(name, str) else "?"


def site_of(frame: FrameType, kind: str | None = None) -> CallSite:
    """The :class:`CallSite` of *frame*."""
    code = frame.f_code
    module = _module_of(frame)
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
        module = _module_of(frame)
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


def _arguments(frame: FrameType) -> list[object]:
    """The values a frame's function received as arguments (``*args`` and ``**kwargs``
    flattened one level)."""
    code = frame.f_code
    count = code.co_argcount + code.co_kwonlyargcount
    flags = code.co_flags
    if count == 0 and not flags & (_CO_VARARGS | _CO_VARKEYWORDS):
        return []
    names = code.co_varnames
    local_values = frame.f_locals
    values: list[object] = [local_values.get(name, _MISSING) for name in names[:count]]
    if flags & _CO_VARARGS:
        extra = local_values.get(names[count], ())
        if isinstance(extra, tuple):
            values.extend(extra)
        count += 1
    if flags & _CO_VARKEYWORDS:
        extra = local_values.get(names[count], {})
        if isinstance(extra, dict):
            values.extend(extra.values())
    return values


def _is_name(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def _received(frame: FrameType, values: list[object], source: object, text: str | None) -> object:
    """The argument that carries *source* (itself, or a substantial part of its text),
    or ``_MISSING``. Only exact ``str``/``bytes`` are compared: no user ``__eq__`` runs.
    A parameter's own default value (``timeit``'s ``setup="pass"``) is the function's
    text, not its caller's: it does not count."""
    raw = source if text is not None and type(source) is bytes else None
    for value in values:
        if value is source:
            return value
        kind = type(value)
        if kind is str and text is not None:
            assert isinstance(value, str)
            hit = value == text or (
                len(value.strip()) >= 2 and not _is_name(value) and value in text
            )
        elif kind is bytes and raw is not None:
            assert isinstance(value, bytes)
            hit = value == raw or (len(value.strip()) >= 2 and value in raw)
        else:
            continue
        if hit and not _is_own_default(frame, value):
            return value
    return _MISSING


def _received_all(
    frame: FrameType, values: list[object], source: object, text: str | None, first: object
) -> list[object]:
    """Every argument of a text runner that carries a piece of *source* (``[]`` when the
    runner was handed the builtin or the source object itself). A runner can splice
    several arguments into one text (``timeit``'s ``stmt`` and ``setup``): the text is
    program-written only if each piece is."""
    if type(first) is not str and type(first) is not bytes:
        return []
    pieces: list[object] = [first]
    rest = [value for value in values if value is not first]
    while True:
        more = _received(frame, rest, source, text)
        if more is _MISSING:
            return pieces
        pieces.append(more)
        rest = [value for value in rest if value is not more]


def _calls_by_name(caller: CodeType, callee: CodeType | None, values: list[object]) -> bool:
    """Whether code *caller* names the function *callee* it called (``timeit(...)``,
    ``ForwardRef(...)`` for an ``__init__``), rather than calling a value it was given
    or looked up by a data-chosen name. *values* are the callee's arguments (its
    ``self``/``cls`` first)."""
    if callee is None:
        return True
    names = (*caller.co_names, *caller.co_freevars)  # globals/attributes, closure cells
    if callee.co_name in names:
        return True
    if callee.co_name in ("__init__", "__new__", "__call__") and values:
        owner = values[0]
        cls = owner if isinstance(owner, type) else type(owner)
        # Any class in the MRO: a subclass instance built through its base's name.
        return any(_NAME_OF(klass) in names for klass in _MRO_OF(cls))
    return False


def _is_own_default(frame: FrameType, value: object) -> bool:
    """True if *value* is a default of the function running in *frame* (found among the
    plain functions and class methods of its module). Only ``FunctionType`` objects are
    inspected, so no user ``__getattr__`` runs inside the hook."""
    code = frame.f_code
    for item in list(frame.f_globals.values()):
        members = list(vars(item).values()) if isinstance(item, type) else [item]
        for member in members:
            function = (
                member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            )
            if isinstance(function, FunctionType) and function.__code__ is code:
                defaults = (
                    *(function.__defaults__ or ()),
                    *(function.__kwdefaults__ or {}).values(),
                )
                return any(default is value for default in defaults)
    return False


def _held(frame: FrameType, *, closures: bool = True, own: bool = True) -> list[object]:
    """What *frame* holds that it may call: its locals (arguments and, with *closures*,
    closure cells included), the items of tuple locals, and the attributes
    (``__dict__`` and ``__slots__``) of its locals, each also unwrapped from
    ``functools.partial``, bound methods, ``staticmethod``/``classmethod`` and the C
    iterators that call a function (``map``, ``filter``, ``itertools.starmap``).
    Callback runners keep the callable they run in exactly these places: ``self``
    (``_WorkItem.run``, ``Thread.run``), a task tuple (``multiprocessing.pool``), a popped
    entry (``sched``, ``weakref.finalize``'s slotted ``_Info``), a closure
    (``ExitStack.callback``) or a local looked up by a data-chosen name (dictConfig's
    ``"()"`` factory). A method of the frame's own ``self`` (``cmd.Cmd`` dispatching
    ``do_*``) is the object's own code path, not something handed to it: left out;
    without *own*, so is everything stored on ``self`` (typing's special forms keep their
    implementation there).

    Module-level and class-body frames hold nothing: their "locals" are a namespace of
    definitions, not stored callbacks. Only C-level reads: no user ``__getattr__``,
    property, ``__class__`` or ``__eq__`` runs inside the hook."""
    code = frame.f_code
    if not code.co_flags & _CO_NEWLOCALS:
        return []
    cells = frozenset(code.co_freevars) if not closures else frozenset()
    local_values = frame.f_locals
    owner = local_values.get(code.co_varnames[0]) if code.co_argcount else None
    held: list[object] = []
    for name, value in list(local_values.items()):
        if name in cells or type(value) is ModuleType:
            continue
        held.append(value)
        if type(value) is tuple or type(value) is list:
            held.extend(value[:_MAX_ITEMS])  # positional arguments, task tuples
            continue
        if own or value is not owner:
            held.extend(_attributes(value))
    unwrapped: list[object] = []
    for item in held:
        kind = type(item)
        if kind is functools.partial:
            unwrapped.append(item.func)  # type: ignore[attr-defined]
            unwrapped.extend(item.args)  # type: ignore[attr-defined]
        elif kind is MethodType:
            if owner is None or item.__self__ is not owner:  # type: ignore[attr-defined]
                unwrapped.append(item.__func__)  # type: ignore[attr-defined]
        elif kind is staticmethod or kind is classmethod:
            unwrapped.append(item.__func__)  # type: ignore[attr-defined]
        elif kind in _CALLING_ITERATORS:
            with contextlib.suppress(Exception):
                reduced = kind.__reduce__(item)
                if type(reduced) is tuple and len(reduced) > 1 and type(reduced[1]) is tuple:
                    unwrapped.extend(reduced[1][:1])
        elif kind is operator.methodcaller:
            with contextlib.suppress(Exception):
                unwrapped.append(_MethodName(repr(item).partition("(")[2].partition(",")[0]))
    held.extend(unwrapped)
    return held


class _MethodName(str):
    """The method name an ``operator.methodcaller`` calls (from its C repr)."""


def _attributes(value: object) -> list[object]:
    found: list[object] = []
    state = _instance_dict(value)
    if type(state) is dict:
        for item in state.values():
            found.append(item)
            if type(item) is tuple:
                found.extend(item)
    for klass in _MRO_OF(type(value)):
        for name in _slot_names(klass):
            descriptor = type.__dict__["__dict__"].__get__(klass).get(name)
            if type(descriptor) is MemberDescriptorType:
                try:
                    found.append(descriptor.__get__(value))
                except AttributeError:  # an empty slot
                    continue
    return found


def _instance_dict(value: object) -> object:
    """``value.__dict__`` through the C descriptor CPython gives instances; None when the
    class defines ``__dict__`` itself (a property would run its code)."""
    for klass in _MRO_OF(type(value)):
        descriptor = type.__dict__["__dict__"].__get__(klass).get("__dict__")
        if descriptor is None:
            continue
        if type(descriptor) is not GetSetDescriptorType:
            return None
        try:
            return descriptor.__get__(value)
        except (AttributeError, TypeError):
            return None
    return None


def _slot_names(klass: type) -> tuple[str, ...]:
    slots = type.__dict__["__dict__"].__get__(klass).get("__slots__", ())
    if type(slots) is str:
        return (slots,)
    if type(slots) in (tuple, list):
        return tuple(name for name in slots if type(name) is str)
    return ()


def _holds_unpickler(frame: FrameType) -> bool:
    """True if *frame* holds an unpickler (see :func:`_held`): a pool running
    ``pickle.loads`` as the callable it was handed."""
    return any(id(item) in _UNPICKLERS for item in _held(frame))


def _holds_function(
    frame: FrameType, code: CodeType, *, closures: bool = True, own: bool = True
) -> bool:
    """True if *frame* holds a callable that runs *code* (see :func:`_held`): the
    function itself, a class whose ``__init__``/``__new__`` it is, an instance whose
    ``__call__`` it is, or a ``methodcaller`` of a method of that name."""
    for item in _held(frame, closures=closures, own=own):
        kind = type(item)
        if kind is FunctionType:
            if item.__code__ is code:  # type: ignore[attr-defined]
                return True
        elif kind is _MethodName:
            if item == code.co_name:
                return True
        elif code.co_name in ("__init__", "__new__", "__call__"):
            cls = item if issubclass(kind, type) else kind
            if code.co_name != "__call__" and cls is kind:
                continue  # an instance: only its __call__ runs when it is called
            for klass in _MRO_OF(cls):
                method = type.__dict__["__dict__"].__get__(klass).get(code.co_name)
                if type(method) is FunctionType and method.__code__ is code:
                    return True
    return False


_evaluator_codes: dict[str, frozenset[CodeType]] = {}


def _codes_of(module_name: str) -> frozenset[CodeType]:
    """The code objects of a module's annotation evaluator (with nested comprehension
    code), once the module is imported (never imported here)."""
    codes = _evaluator_codes.get(module_name)
    if codes is not None:
        return codes
    module = sys.modules.get(module_name)
    if module is None:
        return frozenset()
    if module_name == "typing":
        function = vars(vars(module)["ForwardRef"]).get("_evaluate")
    else:
        function = vars(module).get("get_annotations")
    if type(function) is not FunctionType:
        codes = frozenset()
    else:
        top = function.__code__
        codes = frozenset({top, *(c for c in top.co_consts if type(c) is CodeType)})
    _evaluator_codes[module_name] = codes
    return codes


def _annotation_text(
    frame: FrameType, code: CodeType, values: list[object], source: object, text: str | None
) -> tuple[object, tuple[object, ...]] | None:
    """If *frame* is an annotation evaluator about to run *source*, the annotation text
    and the namespaces it will be evaluated in: ``typing.ForwardRef._evaluate`` (the
    ``exec`` of a ForwardRef's code; used by ``get_type_hints`` and pydantic) or
    ``inspect.get_annotations(eval_str=True)`` (the ``compile`` of the string)."""
    local_values = frame.f_locals
    if code in _codes_of("typing"):
        forward = values[0] if values else None
        forward_type = vars(sys.modules["typing"])["ForwardRef"]
        if not isinstance(forward, forward_type):
            return None
        slots = vars(forward_type)
        if slots["__forward_code__"].__get__(forward) is not source:
            return None
        namespaces = (local_values.get("localns"), local_values.get("globalns"))
        return slots["__forward_arg__"].__get__(forward), namespaces
    if text is not None and code in _codes_of("inspect"):
        return text, (local_values.get("locals"), local_values.get("globals"))
    return None


def _is_application(filename: str) -> bool:
    """Whether code from *filename* is application code (not stdlib, installed or
    safeops)."""
    return frame_kind(filename, "") == "app"


def _is_source_file(filename: str) -> bool:
    """Code loaded from a Python source file, whose string constants a programmer wrote
    (not ``<string>``, ``<template>`` or a template file: generated code's constants are
    whatever text it was generated from)."""
    return not filename.startswith("<") and filename.endswith((".py", ".pyw"))


def _first_outside_stdlib(frame: FrameType | None) -> FrameType | None:
    """The first frame from *frame* outward in an installed package or the application
    (where a report helps the reader), if any."""
    while frame is not None:
        code = frame.f_code
        if frame_kind(code.co_filename, _module_of(frame)) in ("site", "app"):
            return frame
        frame = frame.f_back
    return None


def attribute(
    start: FrameType | None,
    source: object,
    policy: Policy,
    *,
    names: frozenset[str],
    match_text: bool = False,
) -> Attribution:
    """Attribute a dynamic-code event (``compile``, ``exec``, ``marshal.loads``).

    *source* is the event's subject (source bytes, AST or code object); *names* the
    builtin names whose call raises the event (used to recognise callback runners).
    *match_text*: *source* is source text, so an argument holding a piece of it counts
    as handing it on (for marshal data and code objects only identity counts).
    See the module docstring for the rules.
    """
    text: str | None = None
    if match_text and type(source) is bytes:
        text = source.decode("utf-8", "replace")
    frame = start
    innermost = True
    handed: object = _MISSING
    handed_all: list[object] = []
    handed_builtin: object = _MISSING  # eval/exec/compile handed down as an argument
    inner: CodeType | None = None
    inner_values: list[object] = []
    typing_inside = False  # the innermost frame is typing's own (ForwardRef, _type_check)
    evaluators = _codes_of("typing") | _codes_of("inspect")
    while frame is not None:
        code = frame.f_code
        module = _module_of(frame)
        kind = frame_kind(code.co_filename, module)
        if kind == "safeops":
            frame = frame.f_back
            continue
        values = _arguments(frame)
        if not innermost and code in evaluators and not typing_inside:
            # Code compiled or run *while an annotation is evaluated* (a yaml, sympy or
            # jinja2 call, a timeit, reached from the annotation's own code): whatever
            # the annotation called, no legitimate type expression compiles code.
            return Attribution(
                site_of(_first_outside_stdlib(frame) or frame),
                False,
                "code compiled while an annotation is evaluated: an annotation built "
                "from data called something that runs code",
            )
        if innermost:
            typing_inside = module == "typing" or code in evaluators
        if handed_builtin is not _MISSING and not innermost:
            if any(value is handed_builtin for value in values) or any(
                type(value) is functools.partial and value.func is handed_builtin
                for value in values
            ):
                frame = frame.f_back  # still passed down: its caller chose it
                continue
            handed_builtin = _MISSING
            if not (
                names.intersection(code.co_names) or _ALIASES.intersection(code.co_names)
            ):
                # eval/exec was handed down (a converter, a type= callback) by code that
                # did not name it either: it came from a store or from data.
                return Attribution(
                    site_of(frame, kind),
                    False,
                    "eval/exec/compile was handed on as a callable by code that does not "
                    "name it: the code that chose it is no longer on the stack",
                )
        if innermost and kind == "stdlib":
            annotation = _annotation_text(frame, code, values, source, text)
            reason = refusal(*annotation, _is_application) if annotation is not None else None
            if reason is not None:
                # Whoever asked, the text is not a type: an annotation built from data
                # (pydantic.create_model from a user schema, make_dataclass, TypedDict).
                shown = _first_outside_stdlib(frame) or frame
                return Attribution(
                    site_of(shown),
                    False,
                    f"an annotation evaluated out of an object holds {reason}, not a type "
                    "expression (annotations built from data reach eval this way)",
                )
        got = _received(frame, values, source, text)
        if got is _MISSING and innermost and not names.intersection(code.co_names):
            if kind != "import" and (
                _UNPICKLER_NAMES.intersection(code.co_names) or _holds_unpickler(frame)
            ):
                # Data being unpickled named eval/exec (REDUCE): whoever runs the
                # unpickling, the source came from the pickle, never from this frame.
                return Attribution(
                    site_of(frame, kind),
                    False,
                    "dynamic code reached from an unpickling: the pickle data named the "
                    "code runner and supplied its source",
                )
            runner = next((value for value in values if id(value) in _CODE_RUNNERS), None)
            if runner is not None:
                got = _HANDED_CALLABLE  # handed the builtin itself: its caller chose both
                handed_builtin = runner
            elif kind != "import" and not _ALIASES.intersection(code.co_names):
                # The builtin was called *by value*: a callback, a factory or a gadget
                # chosen by other code or by data (sched, weakref.finalize, ExitStack,
                # loop.call_soon, pools, yaml's object/apply tags). Whoever chose it and
                # its source is no longer on the stack, so nobody trusted asked for it.
                return Attribution(
                    site_of(frame, kind),
                    False,
                    "called eval/exec/compile as a stored callback or a callable chosen "
                    "by data, not by name: the code that supplied the source is no "
                    "longer on the stack",
                )
        innermost = False
        trusted, why = trust_of(kind, module, policy)
        if not trusted:
            # Trust only decreases outward: restricted code that runs what it was handed
            # is responsible for it, whoever handed it over (a web framework passing
            # request data to a view must not make the view's eval "the framework's").
            site = site_of(frame, kind)
            if got is not _MISSING:
                return Attribution(site, False, f"{why}; it runs source it was handed")
            if (
                type(handed) is str
                and handed_all
                and _is_source_file(code.co_filename)
                and all(type(piece) is str and piece in code.co_consts for piece in handed_all)
            ):
                return Attribution(
                    site,
                    True,
                    "program-written text: a string literal of this code handed to a "
                    "trusted code generator",
                )
            return Attribution(site, False, why)
        if got is _MISSING:
            if (
                handed is not _MISSING
                and kind != "import"
                and inner is not None
                and _holds_function(frame, inner)
                and not _calls_by_name(code, inner, inner_values)
            ):
                # The text runner inside was called as a value (a callback, or a factory
                # named by configuration such as dictConfig's "()"): its text came with
                # that choice, from code or data no longer on the stack.
                return Attribution(
                    site_of(frame, kind),
                    False,
                    "a code runner was called as a stored callback or a callable named "
                    "by data, not by name: the code that supplied its text is no longer "
                    "on the stack",
                )
            return Attribution(None, True, why)  # no call site needed: nothing is recorded
        if (
            inner is not None
            and kind != "import"
            and not _calls_by_name(code, inner, inner_values)
            and _holds_function(frame, inner, closures=False, own=False)
        ):
            # It received the text and calls the runner it holds as a value (argparse's
            # type= callback): the text runner was chosen by someone else.
            return Attribution(
                site_of(frame, kind),
                False,
                "a code runner was called as a stored callback or a callable named by "
                "data, not by name, with text this code received",
            )
        handed = got  # a trusted text runner: its caller chose the source
        also = _received_all(frame, values, source, text, got)
        if also:
            handed_all = also  # every argument that carries a piece of the source
        inner, inner_values = code, values
        frame = frame.f_back
    return Attribution(None, False, "no caller outside safeops and text runners")


def caller_frame(depth: int) -> FrameType | None:
    """The frame *depth* levels above the caller (``sys._getframe`` without raising)."""
    try:
        return sys._getframe(depth + 1)
    except ValueError:
        return None

"""Caller attribution: which code is responsible for a dynamic-code event.

An audit event is raised deep inside the interpreter; the frame on top of the stack is
often not the code that decided to run the operation. :func:`attribute` walks outward
from that frame and returns the first frame that *is* responsible, skipping:

- safeops' own frames (safeops is never a trust boundary by itself: its vetted
  operations are marked with permits instead);
- **text runners**: a trusted function that received the compiled source (or the code
  object being run) as one of its arguments did not choose that source, its caller did.
  This finds every "run the text you are handed" function systematically (``timeit``,
  ``code.InteractiveConsole``, ``cProfile.run``, ``typing.ForwardRef``, the import
  system's ``_call_with_frames_removed``) instead of listing them. Trust only ever
  decreases outward: the walk stops at the first restricted frame, so application code
  that runs text it was handed is responsible for it, whoever handed it over.

Refinements that keep legitimate code working and keep callbacks from hiding a caller
(docs/enforce.md, "Caller attribution", has the user-facing version):

- *Program-written text*: source that reached a trusted runner from a restricted frame
  whose own code (loaded from a ``.py`` file) holds every piece of it as a string
  literal was written by the program (``Optional["A | B"]``, ``timeit.timeit("1+1")``).
- *Called by value*: a trusted frame that calls ``eval``/``exec``/``compile`` without
  naming it, or calls a text runner it holds as a value (:mod:`._holders`), did not
  choose the source: restricted. A builtin handed down as an argument must be named by
  the first caller that stops passing it on.
- *Annotations*: an annotation string evaluated out of an object must be a type
  expression (:mod:`._annotations`), and nothing nested in its evaluation may compile.

Where code lives and whether it is trusted is :mod:`._locations`.
"""

from __future__ import annotations

import builtins
import functools
import marshal
import sys
from dataclasses import dataclass
from types import (
    CodeType,
    FrameType,
    FunctionType,
)
from typing import Final

from safeops.enforce._annotations import (
    annotation_text,
    evaluator_codes,
    is_forward_ref_compile,
    refusal,
)
from safeops.enforce._holders import (
    CLASS_DICT,
    MISSING,
    MRO_OF,
    calls_by_name,
    holds_function,
    holds_unpickler,
)
from safeops.enforce._holders import arguments as _arguments
from safeops.enforce._locations import (
    CallSite,
    first_outside_stdlib,
    frame_kind,
    module_of,
    site_of,
    trust_of,
)
from safeops.enforce._policy import Policy

__all__ = ["Attribution", "attribute", "caller_frame"]

#: The builtins whose call raises a dynamic-code event; a frame that holds one of these
#: in stored state and calls it without naming it is a callback runner.
_CODE_RUNNERS: Final = frozenset(
    id(f) for f in (builtins.eval, builtins.exec, builtins.compile, marshal.loads, marshal.load)
)
_UNPICKLER_NAMES: Final = frozenset({"loads", "load", "_loads", "_load", "Unpickler"})
#: What :func:`_received` returns when no argument carries the source (the same marker
#: stands for a deleted parameter in :func:`_arguments`' values).
_MISSING: Final = MISSING
_HANDED_CALLABLE: Final = object()
#: Aliases under which trusted code calls the code-running builtins by name (six's
#: ``exec_``), besides the builtins' own names.
_ALIASES: Final = frozenset({"exec_", "_exec"})


@dataclass(frozen=True)
class Attribution:
    """The verdict of a frame walk: the responsible call site (``None`` if every frame
    was skipped, and for trusted verdicts, which are never recorded), whether that code
    is trusted, and why."""

    site: CallSite | None
    trusted: bool
    why: str


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


def _is_own_default(frame: FrameType, value: object) -> bool:
    """True if *value* is a default of the function running in *frame* (found among the
    plain functions and class methods of its module). Only ``FunctionType`` objects are
    inspected, so no user ``__getattr__`` runs inside the hook."""
    code = frame.f_code
    for item in list(frame.f_globals.values()):
        # type() only: isinstance() would read a lazy proxy's __class__ (running its
        # factory inside the hook, attack review 3, G6).
        members = (
            list(CLASS_DICT(item).values())
            if issubclass(type(item), type)
            else [item]
        )
        for member in members:
            kind = type(member)
            function = member.__func__ if kind is staticmethod or kind is classmethod else member
            if type(function) is FunctionType and function.__code__ is code:
                defaults = (
                    *(function.__defaults__ or ()),
                    *(function.__kwdefaults__ or {}).values(),
                )
                return any(default is value for default in defaults)
    return False


def _called_implicitly(code: CodeType) -> bool:
    """Whether a function with *code* is called without its name appearing in the
    caller: an operator or protocol method (``__getitem__``, ``__or__``, but not
    ``__init__``/``__new__``/``__call__``, which :func:`calls_by_name` matches through the
    class name), or a closure, which is how decorators wrap a function (the caller names
    the decorated function; the frame is the wrapper's)."""
    name = code.co_name
    if name.startswith("__") and name.endswith("__"):
        return name not in ("__init__", "__new__", "__call__")
    return bool(code.co_freevars)


def _own_method(code: CodeType, values: list[object], callee: CodeType) -> bool:
    """Whether *callee* is a method of the class of this frame's ``self``: an object
    dispatching to its own methods by a computed name (``cmd.Cmd.onecmd`` running
    ``do_p`` in pdb) follows its own code path, not a callable handed to it."""
    if not code.co_argcount or not values:
        return False
    for klass in MRO_OF(type(values[0])):
        for member in CLASS_DICT(klass).values():
            if type(member) is FunctionType and member.__code__ is callee:
                return True
    return False


def _is_source_file(filename: str) -> bool:
    """Code loaded from a Python source file, whose string constants a programmer wrote
    (not ``<string>``, ``<template>`` or a template file: generated code's constants are
    whatever text it was generated from)."""
    return not filename.startswith("<") and filename.endswith((".py", ".pyw"))


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
    evaluators = evaluator_codes()
    while frame is not None:
        code = frame.f_code
        module = module_of(frame)
        kind = frame_kind(code.co_filename, module)
        if kind == "safeops":
            frame = frame.f_back
            continue
        if innermost and is_forward_ref_compile(code):
            return Attribution(None, True, "a ForwardRef compiles annotation text; it runs "
                               "only through ForwardRef._evaluate, which is judged")
        values = _arguments(frame)
        if not innermost and code in evaluators and not typing_inside:
            # Code compiled or run *while an annotation is evaluated* (a yaml, sympy or
            # jinja2 call, a timeit, reached from the annotation's own code): whatever
            # the annotation called, no legitimate type expression compiles code.
            return Attribution(
                site_of(first_outside_stdlib(frame) or frame),
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
            annotation = annotation_text(frame, code, values, source, text)
            reason = refusal(*annotation) if annotation is not None else None
            if reason is not None:
                # Whoever asked, the text is not a type: an annotation built from data
                # (pydantic.create_model from a user schema, make_dataclass, TypedDict).
                shown = first_outside_stdlib(frame) or frame
                return Attribution(
                    site_of(shown),
                    False,
                    f"an annotation evaluated out of an object holds {reason}, not a type "
                    "expression (annotations built from data reach eval this way)",
                )
        got = _received(frame, values, source, text)
        if got is _MISSING and innermost and not names.intersection(code.co_names):
            if kind != "import" and (
                _UNPICKLER_NAMES.intersection(code.co_names) or holds_unpickler(frame)
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
                and not calls_by_name(code, inner, inner_values)
                and not _called_implicitly(inner)
                and not _own_method(code, values, inner)
            ):
                # The text runner inside was not called by name here: a callback, a
                # factory named by configuration (dictConfig's "()"), or a C function
                # calling it (sorted/insort key=, accumulate, map): its text came with
                # that choice, from code or data no longer on the stack. "Not found among
                # what this frame holds" must not mean "trusted" (attack review 3, G2).
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
            and not calls_by_name(code, inner, inner_values)
            and holds_function(frame, inner, closures=False, own=False)
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

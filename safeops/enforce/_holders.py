"""What a frame holds that it may call, and whether it calls a function by name.

Attribution asks these questions about trusted frames on the way out from an audited
event: does this frame keep a code runner (``eval``, ``pickle.loads``, a function that
runs the text it was handed) as a *value* it calls — a callback, a factory named by
data — or does its code *name* what it calls? Every read here goes through C-level
slots and descriptors: no user ``__getattr__``, property, ``__class__`` or ``__eq__``
runs inside the audit hook.
"""

from __future__ import annotations

import _pickle
import contextlib
import functools
import itertools
import operator
import pickle
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

__all__ = [
    "CLASS_DICT",
    "MISSING",
    "MRO_OF",
    "arguments",
    "calls_by_name",
    "held",
    "holds_function",
    "holds_unpickler",
    "instance_dict",
]

_CO_NEWLOCALS: Final = 0x02
_CO_VARARGS: Final = 0x04
_CO_VARKEYWORDS: Final = 0x08

#: Stands for a value that is not there (a parameter the function deleted).
MISSING: Final = object()


#: How many items of a list or tuple local are searched for a held callable.
_MAX_ITEMS: Final = 32


#: C iterators that call the function they were built with (``map(timeit.timeit, t)``).
_CALLING_ITERATORS: Final = frozenset({map, filter, itertools.starmap})


#: The unpicklers: a frame that calls one of these (by name, or as a stored or handed
#: callback) while a dynamic-code event fires is running an unpickling whose data named
#: eval/exec/compile (REDUCE calls them from C, no Python frame names them).
_UNPICKLERS: Final = frozenset(
    id(f) for f in (pickle.loads, pickle.load, pickle.Unpickler, _pickle.loads, _pickle.load)
)


#: Read through the metatype's own slots: a metaclass cannot run code inside the hook.
MRO_OF: Final = type.__dict__["__mro__"].__get__
CLASS_DICT: Final = type.__dict__["__dict__"].__get__


_NAME_OF: Final = type.__dict__["__name__"].__get__


def held(frame: FrameType, *, closures: bool = True, own: bool = True) -> list[object]:
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
            # Its C __reduce__ gives the name without touching the arguments (its repr
            # would repr them, running their __repr__ in the hook).
            with contextlib.suppress(Exception):
                method = _methodcaller_name(item)
                if method is not None:
                    unwrapped.append(_MethodName(method))
    held.extend(unwrapped)
    return held


def arguments(frame: FrameType, *, spread: bool = True) -> list[object]:
    """The values the frame's function received as arguments, in parameter order.

    With *spread* (caller attribution), ``*args`` and ``**kwargs`` are flattened one level
    and a parameter the function deleted reads as :data:`MISSING`, so positions hold
    (``values[0]`` is ``self``). Without it (the process rules, which search what the
    values hold a few levels down), ``*args`` and ``**kwargs`` are kept as their tuple and
    dict and deleted parameters are left out."""
    code = frame.f_code
    count = code.co_argcount + code.co_kwonlyargcount
    flags = code.co_flags
    if count == 0 and not flags & (_CO_VARARGS | _CO_VARKEYWORDS):
        return []
    names = code.co_varnames
    local_values = frame.f_locals
    if not spread:
        count += bool(flags & _CO_VARARGS) + bool(flags & _CO_VARKEYWORDS)
        return [local_values[name] for name in names[:count] if name in local_values]
    values: list[object] = [local_values.get(name, MISSING) for name in names[:count]]
    # The function may have rebound *args/**kwargs: types are checked on the type and
    # items read with the builtin C methods, so no method of a subclass runs in the hook.
    if flags & _CO_VARARGS:
        extra = local_values.get(names[count], ())
        if issubclass(type(extra), tuple):
            values.extend(tuple.__iter__(extra))
        count += 1
    if flags & _CO_VARKEYWORDS:
        extra = local_values.get(names[count], {})
        if issubclass(type(extra), dict):
            values.extend(dict.values(extra))
    return values


def _methodcaller_name(caller: object) -> str | None:
    """The method name an ``operator.methodcaller`` calls, read without running code."""
    reduced = operator.methodcaller.__reduce__(caller)
    if type(reduced) is not tuple or len(reduced) != 2:
        return None
    maker, arguments = reduced
    if maker is operator.methodcaller and type(arguments) is tuple and arguments:
        name = arguments[0]
    elif type(maker) is functools.partial and maker.func is operator.methodcaller and maker.args:
        name = maker.args[0]  # partial(methodcaller, name, **kwargs)
    else:
        return None
    return str.__str__(name) if issubclass(type(name), str) else None


class _MethodName(str):
    """The method name an ``operator.methodcaller`` calls (from its C repr)."""


def _attributes(value: object) -> list[object]:
    found: list[object] = []
    state = instance_dict(value)
    if type(state) is dict:
        for item in state.values():
            found.append(item)
            if type(item) is tuple:
                found.extend(item)
    for klass in MRO_OF(type(value)):
        for name in _slot_names(klass):
            descriptor = CLASS_DICT(klass).get(name)
            if type(descriptor) is MemberDescriptorType:
                try:
                    found.append(descriptor.__get__(value))
                except AttributeError:  # an empty slot
                    continue
    return found


def instance_dict(value: object) -> object:
    """``value.__dict__`` through the C descriptor CPython gives instances; None when the
    class defines ``__dict__`` itself (a property would run its code)."""
    for klass in MRO_OF(type(value)):
        descriptor = CLASS_DICT(klass).get("__dict__")
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
    slots = CLASS_DICT(klass).get("__slots__", ())
    if type(slots) is str:
        return (slots,)
    if type(slots) in (tuple, list):
        return tuple(name for name in slots if type(name) is str)
    return ()


def holds_unpickler(frame: FrameType) -> bool:
    """True if *frame* holds an unpickler (see :func:`held`): a pool running
    ``pickle.loads`` as the callable it was handed."""
    return any(id(item) in _UNPICKLERS for item in held(frame))


def holds_function(
    frame: FrameType, code: CodeType, *, closures: bool = True, own: bool = True
) -> bool:
    """True if *frame* holds a callable that runs *code* (see :func:`held`): the
    function itself, a class whose ``__init__``/``__new__`` it is, an instance whose
    ``__call__`` it is, or a ``methodcaller`` of a method of that name."""
    for item in held(frame, closures=closures, own=own):
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
            for klass in MRO_OF(cls):
                method = CLASS_DICT(klass).get(code.co_name)
                if type(method) is FunctionType and method.__code__ is code:
                    return True
    return False


def calls_by_name(caller: CodeType, callee: CodeType | None, values: list[object]) -> bool:
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
        return any(_NAME_OF(klass) in names for klass in MRO_OF(cls))
    return False

"""Stop pickle's BUILD from setting attributes on allow-listed classes.

Attack review 2026-11-28, E2: the pickle allow-list admits a few classes written in
Python (``collections.Counter``, ``collections.ChainMap``, ``uuid.SafeUUID``). A pickle
can push such a class itself and apply BUILD to it with a ``(None, {name: value})``
state: pickle then runs ``setattr(cls, name, value)`` and replaces, say,
``Counter.__contains__`` for the whole process with another allow-listed callable.
CPython raises no audit event for it (only special type attributes such as
``__name__``/``__bases__`` and a function's ``__code__`` are audited).

BUILD first looks for ``__setstate__`` on its target, though. ``enforce()`` gives each
allow-listed Python class without one a :class:`_ClassStateGuard`: looked up on the
class (BUILD applied to the class itself) it is a function that raises the
:data:`BUILD_CLASS_EVENT` audit event, which the ``pickle.build_class`` rule judges;
looked up on an instance it does not exist (``AttributeError``), exactly as before, so
unpickling, ``copy`` and ``hasattr`` on instances are unchanged. Python code setting
class attributes (``Counter.x = 1``, ``setattr``, ``unittest.mock.patch.object``) never
looks at ``__setstate__`` and is unaffected.

State (ARCHITECTURE.md allows it for the enforcement hook): the guard is set once per
class, for the process, like the hook itself.

Limit: only the allow-list's classes are guarded (others cannot be named by a pickle
under enforce); their modules are imported when ``enforce()`` installs the guards, so a
class is guarded before any pickle can name it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any, Final

__all__ = ["BUILD_CLASS_EVENT", "build_detail", "guard_classes"]

#: Raised when pickle's BUILD targets a guarded class: ``(cls, state)``.
BUILD_CLASS_EVENT: Final = "safeops.pickle_build_class"
_IMMUTABLE_TYPE: Final = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: setattr already refused


class _ClassStateGuard:
    """A ``__setstate__`` that exists only on the class, for BUILD applied to it."""

    def __get__(self, instance: object, owner: type | None = None) -> Callable[[object], None]:
        if instance is not None or owner is None:
            raise AttributeError("__setstate__")
        target = owner

        def build_class(state: object) -> None:
            sys.audit(BUILD_CLASS_EVENT, target, state)
            _build(target, state)  # not refused (warn/log mode, a permit, rule off)

        return build_class


def _build(cls: type, state: object) -> None:
    """What pickle's BUILD does to a class when no ``__setstate__`` exists: a dict state
    cannot update the class's mapping proxy; slot state is set attribute by attribute."""
    slotstate: object = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slotstate = state
    if state:
        raise TypeError("'mappingproxy' object does not support item assignment")
    if slotstate:
        if not isinstance(slotstate, dict):
            raise pickle_error("slot state is not a dictionary")
        for name, value in slotstate.items():
            setattr(cls, name, value)


def build_detail(args: tuple[object, ...]) -> str:
    """``module.Class: name, name`` for a :data:`BUILD_CLASS_EVENT`'s arguments."""
    cls = args[0] if args else None
    state = args[1] if len(args) > 1 else None
    where = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', '?')}"
    names: list[str] = []
    for part in state if isinstance(state, tuple) else (state,):
        if isinstance(part, dict):
            names.extend(str(key) for key in part)
    return f"{where}: {', '.join(names) if names else 'state'}"


def pickle_error(message: str) -> Exception:
    """The error pickle raises for malformed BUILD state."""
    import pickle

    return pickle.UnpicklingError(message)


def guard_classes(pairs: Iterable[tuple[str, str]]) -> list[type]:
    """Guard every class among the (module, qualname) *pairs* that is written in Python
    (its attributes can be set) and has no ``__setstate__`` of its own; returns the
    classes guarded so far. Idempotent."""
    guarded: list[type] = []
    for module_name, name in sorted(pairs):
        module = sys.modules.get(module_name)
        if module is None:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
        cls: Any = getattr(module, name, None)
        if not isinstance(cls, type) or cls.__flags__ & _IMMUTABLE_TYPE:
            continue
        current = cls.__dict__.get("__setstate__")
        if isinstance(current, _ClassStateGuard):
            guarded.append(cls)
        elif current is None and not _has_setstate(cls):
            setattr(cls, "__setstate__", _ClassStateGuard())  # noqa: B010 - a class attribute
            guarded.append(cls)
    return guarded


def _has_setstate(cls: type) -> bool:
    """A base class (not ``object``) defines ``__setstate__``: BUILD on the class would
    call that unbound function, which fails without setting anything."""
    return any("__setstate__" in vars(base) for base in cls.__mro__[1:] if base is not object)

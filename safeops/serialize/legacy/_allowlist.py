"""The pickle allow-list: the globals a pickle may name without the caller opting in.

This is the one definition shared by ``safeops.serialize.legacy`` (whose unpickler
resolves only these globals plus what its caller names) and ``safeops.enforce`` (whose
audit hook judges every ``pickle.find_class`` event with :func:`is_safe_global`).

The set holds exact ``(module, qualified name)`` pairs: no module prefixes, no dotted
qualified names (``OrderedDict.fromkeys`` would hand out a bound method), no names
starting with an underscore. Each entry is a type or singleton whose construction from
pickle data cannot import a module, call a function the data names, or reach an
attribute of an object; docs/legacy.md gives the reason for each entry. Every entry is
something CPython's own pickler writes for a value of a builtin, datetime, decimal,
uuid or collections type (protocols 0-5).

Deliberate decisions:

- ``_codecs.encode`` is included: protocols 0-2 write every ``bytes`` value as
  ``_codecs.encode(text, "latin1")``, so leaving it out would make most old pickles
  unreadable under ``enforce()``. The module name is the C codec module pickle itself
  names; the function's name is public. It looks up a codec by name, and the stdlib's
  codec search refuses dotted names, so it can only import modules of the stdlib
  ``encodings`` package. The legacy unpickler goes further and accepts only the latin-1
  call the pickler writes.
- ``copyreg._reconstructor`` is *not* included (underscore name): it calls
  ``base.__new__(cls, state)`` for any class and base it is given. The legacy unpickler
  accepts it only for classes its caller allowed; a plain ``pickle.load`` under
  ``enforce()`` is refused, as it should be.
- ``collections.defaultdict`` is included. Its ``default_factory`` is a callable taken
  from the pickle, but a pickle can only obtain callables through ``find_class``, so
  the factory is itself one of these types (or one the caller allowed); calling it later
  with no arguments builds an empty value of that type.
- ``builtins.object`` is included: protocols 0 and 1 name it as the base class passed
  to ``copyreg._reconstructor``; calling it builds an inert, attribute-less object.
- ``builtins.range`` is absent although it is inert on its own: a lazy ``range(10**12)``
  handed to ``list``, ``set`` or ``bytes`` (all allowed) is a memory bomb of a few bytes.
- ``builtins.type``, ``getattr``, ``eval``, ``exec``, functions of any kind, and every
  module-level function except ``_codecs.encode`` are absent: they are the gadgets.

Python 2 names (``__builtin__.set``, ``copy_reg``...) are judged the way the unpickler
resolves them: :func:`is_safe_global` first applies the stdlib's Python 2 to 3 mapping
(``_compat_pickle``), which is what ``pickle.Unpickler.find_class`` does for protocols
0-2, then looks the result up in :data:`SAFE_GLOBALS`.

This module imports nothing but the standard library.
"""

from __future__ import annotations

import _compat_pickle

__all__ = ["SAFE_GLOBALS", "is_safe_global", "normalize_global"]

#: Exact ``(module, qualified name)`` pairs that are safe to resolve from any pickle.
SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        # builtin scalars and containers
        ("builtins", "bool"),
        ("builtins", "bytearray"),
        ("builtins", "bytes"),
        ("builtins", "complex"),
        ("builtins", "dict"),
        ("builtins", "float"),
        ("builtins", "frozenset"),
        ("builtins", "int"),
        ("builtins", "list"),
        ("builtins", "object"),
        ("builtins", "set"),
        ("builtins", "slice"),
        ("builtins", "str"),
        ("builtins", "tuple"),
        # builtin singletons, pickled by name
        ("builtins", "Ellipsis"),
        ("builtins", "NotImplemented"),
        # how protocols 0-2 write bytes values
        ("_codecs", "encode"),
        # datetime
        ("datetime", "date"),
        ("datetime", "datetime"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        # decimal and uuid
        ("decimal", "Decimal"),
        ("uuid", "SafeUUID"),
        ("uuid", "UUID"),
        # collections
        ("collections", "ChainMap"),
        ("collections", "Counter"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "deque"),
    }
)


def normalize_global(module: str, name: str) -> tuple[str, str]:
    """Map a Python 2 global to the Python 3 one pickle resolves it to.

    The same mapping ``pickle.Unpickler.find_class`` applies for protocols 0-2 with
    ``fix_imports=True`` (the default). Python 3 names are returned unchanged.
    """
    pair = (module, name)
    mapped = _compat_pickle.NAME_MAPPING.get(pair)
    if mapped is not None:
        return mapped
    return (_compat_pickle.IMPORT_MAPPING.get(module, module), name)


def is_safe_global(module: str, name: str) -> bool:
    """True if a pickle may resolve *module*.*name* without an explicit opt-in.

    Exact match only, after the Python 2 to 3 mapping pickle itself applies. Cheap
    enough for an audit hook: two dict lookups and a set lookup.
    """
    if (module, name) in SAFE_GLOBALS:
        return True
    return normalize_global(module, name) in SAFE_GLOBALS

"""safeops.serialize: a pickle replacement over JSON (orjson) and MessagePack (msgpack).

``dumps``/``loads`` round-trip Python values exactly (see docs/serialize.md for the
supported universe); application classes need :func:`register`. Decoding never imports
or calls anything named by the data, and every call is bounded by :class:`Limits`.
``serialize.legacy`` (reading existing pickles) and ``serialize.shelve`` are imported
lazily on first access.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from safeops.serialize._api import DEFAULT_PURPOSE, dumps, loads
from safeops.serialize._limits import DEFAULT_LIMITS, MAX_DEPTH_CEILING, Limits
from safeops.serialize._registry import register, unregister
from safeops.serialize._stream import dump, iter_load, load

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_PURPOSE",
    "MAX_DEPTH_CEILING",
    "Limits",
    "dump",
    "dumps",
    "iter_load",
    "load",
    "loads",
    "register",
    "unregister",
]

_LAZY_SUBMODULES = frozenset({"legacy", "shelve"})


def __getattr__(name: str) -> ModuleType:
    # legacy and shelve are other helpers' modules with their own imports; load them on
    # first use so `import safeops` stays cheap.
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

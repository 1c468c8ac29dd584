"""``safeops.serialize`` forms for the allow-listed stdlib types it has no tag for.

The legacy reader's default allow-list includes ``collections.OrderedDict``, ``deque``,
``Counter``, ``defaultdict``, ``ChainMap``, ``slice``, ``Ellipsis`` and
``NotImplemented``; ``safeops.serialize`` stores none of them natively. This module
registers an encode/decode pair for each (``serialize.register``), so ``safeops convert``
writes them losslessly. A program that reads the converted data calls
:func:`register_stdlib_types` once too, before ``serialize.loads``.

Decoding never resolves a name from the data: a ``defaultdict``'s factory is written as
one of a fixed set of builtin type names and read back through the same fixed table.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from safeops.errors import DecodeError, EncodeError, quote

__all__ = ["register_stdlib_types"]

#: The factories a defaultdict may have in converted data (name <-> type, both ways fixed).
_FACTORIES: dict[str, Any] = {
    "None": None,
    "bool": bool,
    "bytes": bytes,
    "dict": dict,
    "float": float,
    "frozenset": frozenset,
    "int": int,
    "list": list,
    "set": set,
    "str": str,
    "tuple": tuple,
}
_FACTORY_NAMES = {id(value): name for name, value in _FACTORIES.items()}
_lock = threading.Lock()
_registered = False


def register_stdlib_types() -> None:
    """Register the stdlib types above with ``safeops.serialize`` (idempotent).

    A type the application already registered is left as it is.

    Names written into the data: ``collections.OrderedDict``, ``collections.deque``,
    ``collections.Counter``, ``collections.defaultdict``, ``collections.ChainMap``,
    ``builtins.slice``, ``builtins.Ellipsis``, ``builtins.NotImplemented``.
    """
    global _registered  # noqa: PLW0603 (registration happens once per process)
    from safeops.serialize import register as register_class
    from safeops.serialize._registry import by_class

    def register(cls: type, name: str, *, encode: Any, decode: Any) -> None:
        # A class the application registered itself keeps the application's form.
        if by_class(cls) is None:
            register_class(cls, name, encode=encode, decode=decode)

    with _lock:
        if _registered:
            return
        register(
            collections.OrderedDict,
            "collections.OrderedDict",
            encode=lambda value: [[key, item] for key, item in value.items()],
            decode=lambda data: collections.OrderedDict(_pairs(data)),
        )
        register(
            collections.deque,
            "collections.deque",
            encode=lambda value: {"items": list(value), "maxlen": value.maxlen},
            decode=_decode_deque,
        )
        register(
            collections.Counter,
            "collections.Counter",
            encode=lambda value: [[key, count] for key, count in value.items()],
            decode=lambda data: collections.Counter(dict(_pairs(data))),
        )
        register(
            collections.defaultdict,
            "collections.defaultdict",
            encode=_encode_defaultdict,
            decode=_decode_defaultdict,
        )
        register(
            collections.ChainMap,
            "collections.ChainMap",
            encode=lambda value: list(value.maps),
            decode=_decode_chainmap,
        )
        register(
            slice,
            "builtins.slice",
            encode=lambda value: [value.start, value.stop, value.step],
            decode=_decode_slice,
        )
        register(type(Ellipsis), "builtins.Ellipsis", encode=_none, decode=lambda _: Ellipsis)
        register(
            type(NotImplemented),
            "builtins.NotImplemented",
            encode=_none,
            decode=lambda _: NotImplemented,
        )
        _registered = True


def _none(_: object) -> None:
    return None


def _pairs(data: Any) -> list[tuple[Any, Any]]:
    if not isinstance(data, list) or not all(
        isinstance(pair, list) and len(pair) == 2 for pair in data
    ):
        raise DecodeError("expected a list of [key, value] pairs")
    return [(pair[0], pair[1]) for pair in data]


def _decode_deque(data: Any) -> collections.deque[Any]:
    if not isinstance(data, dict) or set(data) != {"items", "maxlen"}:
        raise DecodeError("a deque needs exactly 'items' and 'maxlen'")
    maxlen = data["maxlen"]
    if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
        raise DecodeError(f"deque maxlen must be None or a non-negative int, got {quote(maxlen)}")
    if not isinstance(data["items"], list):
        raise DecodeError("deque items must be a list")
    return collections.deque(data["items"], maxlen)


def _encode_defaultdict(value: collections.defaultdict[Any, Any]) -> dict[str, Any]:
    name = _FACTORY_NAMES.get(id(value.default_factory))
    if name is None:
        raise EncodeError(
            f"defaultdict factory {quote(value.default_factory)} has no serialize form; "
            f"only {sorted(_FACTORIES)} are supported"
        )
    return {"factory": name, "items": [[key, item] for key, item in value.items()]}


def _decode_defaultdict(data: Any) -> collections.defaultdict[Any, Any]:
    if not isinstance(data, dict) or set(data) != {"factory", "items"}:
        raise DecodeError("a defaultdict needs exactly 'factory' and 'items'")
    factory_name = data["factory"]
    if not isinstance(factory_name, str) or factory_name not in _FACTORIES:
        raise DecodeError(f"unknown defaultdict factory {quote(factory_name)}")
    return collections.defaultdict(_FACTORIES[factory_name], _pairs(data["items"]))


def _decode_chainmap(data: Any) -> collections.ChainMap[Any, Any]:
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        raise DecodeError("a ChainMap needs a list of mappings")
    return collections.ChainMap(*data)


def _decode_slice(data: Any) -> slice:
    if not isinstance(data, list) or len(data) != 3:
        raise DecodeError("a slice needs [start, stop, step]")
    return slice(data[0], data[1], data[2])

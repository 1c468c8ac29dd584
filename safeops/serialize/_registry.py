"""The registry of application types: the only classes decoding will ever construct.

Registration is explicit. A name is only ever a key into this registry: decoding never
imports a module and never resolves a name from the data any other way. The registry is
module-level state by design (ARCHITECTURE.md allows it for exactly this); it is guarded
by a lock for writers, read without one (a dict lookup is atomic under the GIL and entries
are immutable), and the lock is re-created in a forked child so a fork taken while another
thread held it cannot deadlock the child.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from safeops.errors import ConfigurationError, DecodeError, quote

__all__ = ["Registered", "by_class", "by_name", "register", "unregister"]

UnknownFields = Literal["error", "ignore"]
# Value types whose hash and equality cannot raise: looked up directly among the members.
_HASHED_SCALARS = frozenset({str, int, bool, float, bytes, type(None)})
_ClassT = TypeVar("_ClassT", bound=type)


@dataclass(frozen=True)
class Registered:
    """One registered type: how to turn an instance into data and back."""

    cls: type
    name: str
    kind: str
    to_data: Callable[[Any], Any]
    from_data: Callable[[Any], Any]


_lock = threading.Lock()
_by_name: dict[str, Registered] = {}
_by_class: dict[type, Registered] = {}


def _reinit_lock() -> None:
    global _lock  # noqa: PLW0603 (a fresh lock in a forked child is the point)
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_lock)


def by_name(name: str) -> Registered | None:
    """Return the entry registered under *name*, or None."""
    return _by_name.get(name)


def by_class(cls: type) -> Registered | None:
    """Return the entry registered for exactly *cls* (not its subclasses), or None."""
    return _by_class.get(cls)


def register(
    cls: _ClassT,
    name: str | None = None,
    *,
    unknown_fields: UnknownFields = "error",
    encode: Callable[[Any], Any] | None = None,
    decode: Callable[[Any], Any] | None = None,
) -> _ClassT:
    """Allow instances of *cls* to be encoded, and decoded back into *cls*.

    *name* is the key written into the data (default: ``f"{cls.__module__}.{cls.__qualname__}"``);
    it is only ever looked up in this registry. Supported without hooks: Enum classes
    (encoded by member value), dataclasses, NamedTuples and pydantic models (encoded by
    field name). *unknown_fields* decides what a field present in the data but no longer
    on the class does: ``"error"`` (default) refuses the data, ``"ignore"`` drops it. A
    field added with a default decodes old data that lacks it.

    Any other class needs both *encode* (instance -> encodable value) and *decode*
    (decoded value -> instance); both are application code the registry calls.

    Returns *cls*, so ``register`` also works as a class decorator. Registering the same
    class again under the same name replaces the entry; a name or class already taken by
    another registration raises :class:`~safeops.errors.ConfigurationError`.
    """
    if not isinstance(cls, type):
        raise ConfigurationError(f"register() needs a class, got {quote(cls)}")
    if unknown_fields not in ("error", "ignore"):
        raise ConfigurationError(
            f"unknown_fields must be 'error' or 'ignore', got {quote(unknown_fields)}"
        )
    key = name if name is not None else f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ConfigurationError(
            f"a registered name must be a non-empty str of <= 200 characters, got {quote(key)}"
        )
    entry = _make_entry(cls, key, unknown_fields, encode, decode)
    with _lock:
        old_by_name = _by_name.get(key)
        if old_by_name is not None and old_by_name.cls is not cls:
            raise ConfigurationError(
                f"the name {key!r} is already registered for {old_by_name.cls!r}; "
                "pass a distinct name=",
                name=key,
            )
        old_by_class = _by_class.get(cls)
        if old_by_class is not None and old_by_class.name != key:
            raise ConfigurationError(
                f"{cls!r} is already registered as {old_by_class.name!r}; unregister it first",
                name=key,
            )
        _by_name[key] = entry
        _by_class[cls] = entry
    return cls


def unregister(cls: type) -> None:
    """Remove *cls* from the registry (data naming it then fails to decode)."""
    with _lock:
        entry = _by_class.pop(cls, None)
        if entry is not None:
            _by_name.pop(entry.name, None)


def _make_entry(
    cls: type,
    name: str,
    unknown_fields: UnknownFields,
    encode: Callable[[Any], Any] | None,
    decode: Callable[[Any], Any] | None,
) -> Registered:
    if encode is not None or decode is not None:
        if encode is None or decode is None:
            raise ConfigurationError("a custom registration needs both encode= and decode=")
        return Registered(cls, name, "custom", encode, _guarded_hook(name, decode))
    if issubclass(cls, enum.Enum):
        enum_cls: Any = cls
        return Registered(
            cls, name, "enum", _enum_value, lambda data: _build_enum(enum_cls, name, data)
        )
    if dataclasses.is_dataclass(cls):
        init_fields = tuple(f.name for f in dataclasses.fields(cls) if f.init)
        return Registered(
            cls,
            name,
            "dataclass",
            lambda obj: {field: getattr(obj, field) for field in init_fields},
            _field_builder(cls, name, frozenset(init_fields), unknown_fields, cls),
        )
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        tuple_fields: tuple[str, ...] = cls._fields
        return Registered(
            cls,
            name,
            "namedtuple",
            lambda obj: dict(zip(tuple_fields, obj, strict=True)),
            _field_builder(cls, name, frozenset(tuple_fields), unknown_fields, cls),
        )
    # pydantic models are recognised by duck typing, so registering one never imports
    # pydantic here (the application already has, to define the model).
    if hasattr(cls, "__pydantic_fields__") and hasattr(cls, "model_validate"):
        model_cls: Any = cls
        model_fields = frozenset(model_cls.model_fields)
        return Registered(
            cls,
            name,
            "pydantic",
            lambda obj: obj.model_dump(mode="python", round_trip=True),
            _field_builder(cls, name, model_fields, unknown_fields, model_cls.model_validate),
        )
    raise ConfigurationError(
        f"{cls!r} is not an Enum, dataclass, NamedTuple or pydantic model; "
        "register it with encode= and decode= hooks"
    )


def _enum_value(member: Any) -> Any:
    return member.value


def _flag_mask(cls: Any) -> int:
    mask = 0
    for member in cls.__members__.values():
        value = member._value_
        if type(value) is int and value > 0:
            mask |= value
    return mask


def _build_enum(cls: Any, name: str, data: Any) -> Any:
    # Enum(value) hashes and compares the value with every member's: a Decimal sNaN makes
    # that raise InvalidOperation, a user __eq__ anything; all of it is bad data (attack
    # review 2026-11-28, finding S2).
    if issubclass(cls, enum.Flag):
        # Flag(value) creates and caches, forever, a pseudo-member for every distinct
        # value: only combinations of defined bits are accepted, so the cache is bounded by
        # what the class itself defines (finding S3).
        if type(data) is not int or data < 0 or data & ~_flag_mask(cls):
            raise DecodeError(
                f"{quote(data)} is not a combination of the members of the registered flag "
                f"{name!r}",
                name=name,
            )
    else:
        member = cls._value2member_map_.get(data) if type(data) in _HASHED_SCALARS else None
        if member is not None:
            return member
    try:
        return cls(data)
    except Exception as error:
        raise DecodeError(
            f"{quote(data)} is not a member value of the registered enum {name!r}", name=name
        ) from error


def _field_builder(
    cls: type,
    name: str,
    known: frozenset[str],
    unknown_fields: UnknownFields,
    build: Callable[..., Any],
) -> Callable[[Any], Any]:
    via_mapping = build is not cls  # pydantic: model_validate(mapping)

    def from_data(data: Any) -> Any:
        if type(data) is not dict:
            raise DecodeError(
                f"the payload of registered type {name!r} must be a map of fields", name=name
            )
        extra = data.keys() - known
        if extra:
            if unknown_fields == "error":
                raise DecodeError(
                    f"registered type {name!r} has no field(s) {quote(sorted(map(str, extra)))}; "
                    "register it with unknown_fields='ignore' to drop fields removed from "
                    "the class",
                    name=name,
                )
            data = {key: value for key, value in data.items() if key in known}
        try:
            return build(data) if via_mapping else build(**data)
        except DecodeError:
            raise
        except Exception as error:  # the class's own validation: any failure is bad data
            raise DecodeError(
                f"cannot build registered type {name!r}: {quote(str(error), 200)}", name=name
            ) from error

    return from_data


def _guarded_hook(name: str, decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # An application hook may raise anything on bad data; callers of loads() rely on
    # `except DecodeError` catching every refusal, so wrap it (the original is the cause).
    def from_data(data: Any) -> Any:
        try:
            return decode(data)
        except DecodeError:
            raise
        except Exception as error:
            raise DecodeError(
                f"the decode hook of registered type {name!r} refused the data: "
                f"{quote(str(error), 200)}",
                name=name,
            ) from error

    return from_data


def snapshot() -> Mapping[str, Registered]:
    """A read-only copy of the registry (for diagnostics and tests)."""
    return dict(_by_name)

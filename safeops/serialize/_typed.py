"""Typed decoding through pydantic's TypeAdapter (pydantic is imported on first use)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from safeops.errors import DecodeValidationError, quote

__all__ = ["validate_json", "validate_python"]

#: How many bad fields the message lists (``errors`` on the exception carries all).
_MESSAGE_ERRORS = 5


@lru_cache(maxsize=256)
def _cached_adapter(target: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(target)


def _adapter(target: Any) -> Any:
    try:
        return _cached_adapter(target)
    except TypeError:  # an unhashable type expression: build it uncached
        from pydantic import TypeAdapter

        return TypeAdapter(target)


def _raise(error: Any, target: Any) -> DecodeValidationError:
    details = error.errors(include_url=False, include_input=False)
    pairs = [(tuple(item["loc"]), str(item["msg"])) for item in details]
    shown = "; ".join(
        f"{'.'.join(map(str, path)) or '<root>'}: {message}"
        for path, message in pairs[:_MESSAGE_ERRORS]
    )
    more = f" (and {len(pairs) - _MESSAGE_ERRORS} more)" if len(pairs) > _MESSAGE_ERRORS else ""
    name = getattr(target, "__name__", None) or repr(target)
    return DecodeValidationError(
        f"the data does not match {name[:80]}: {len(pairs)} error(s): {shown}{more}",
        errors=pairs,
    )


def _other(error: Exception, target: Any) -> DecodeValidationError:
    # pydantic lets some conversion errors through unwrapped (int() of a Decimal beyond
    # the interpreter's digit limit, decimal signals, a validator's own exception): they
    # are still the data failing validation (attack review 2026-11-28, finding S1).
    message = f"{type(error).__name__}: {quote(str(error), 200)}"
    name = getattr(target, "__name__", None) or repr(target)
    return DecodeValidationError(
        f"the data does not match {name[:80]}: {message}", errors=[((), message)]
    )


def validate_json(data: bytes, target: Any) -> Any:
    """Parse and validate plain JSON *data* as *target* in pydantic's own parser."""
    from pydantic import ValidationError

    adapter = _adapter(target)
    try:
        return adapter.validate_json(data)
    except ValidationError as error:
        raise _raise(error, target) from None
    except MemoryError:
        raise
    except Exception as error:
        raise _other(error, target) from error


def validate_python(value: Any, target: Any) -> Any:
    """Validate an already decoded *value* as *target*."""
    from pydantic import ValidationError

    adapter = _adapter(target)
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        raise _raise(error, target) from None
    except MemoryError:
        raise
    except Exception as error:
        raise _other(error, target) from error

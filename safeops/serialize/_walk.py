"""Shared pieces of the walks: the too-deep signal and its diagnosis, and error paths."""

from __future__ import annotations

from typing import Any

from safeops.errors import DecodeError, EncodeError, EncodeLimitError
from safeops.serialize import _registry

__all__ = ["TooDeep", "at", "diagnose_too_deep", "located"]


class TooDeep(Exception):
    """Raised inside an encode walk when the depth budget runs out (internal)."""


def _children(obj: Any) -> list[Any]:
    kind = type(obj)
    if kind is dict:
        return [*obj.keys(), *obj.values()]
    if kind in (list, tuple, set, frozenset):
        return list(obj)
    entry = _registry.by_class(kind)
    if entry is not None:
        return [entry.to_data(obj)]
    return []


def diagnose_too_deep(obj: Any, max_depth: int) -> EncodeError:
    """Tell a reference cycle from a value that is merely too deep.

    Runs only after the fast walk gave up, so the normal path pays nothing for cycle
    detection. Iterative, and it never goes further than two levels past *max_depth*.
    """
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(obj, 0, False)]
    while stack:
        node, depth, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            continue
        children = _children(node)
        if not children and type(node) not in (dict, list, tuple, set, frozenset):
            continue
        if id(node) in on_path:
            return EncodeError(
                f"the value contains a reference cycle (a {type(node).__name__} that contains "
                "itself); serialize writes values, not object graphs: break the cycle first"
            )
        if depth > max_depth + 2:
            continue
        on_path.add(id(node))
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children)
    return EncodeLimitError(
        f"the value nests deeper than max_depth={max_depth}; pass limits=Limits(max_depth=...) "
        "(up to 126) or flatten it",
        limit="max_depth",
        maximum=max_depth,
    )


def at(error: DecodeError, key: object) -> DecodeError:
    """The same refusal one level further from the root: *key* is prepended to its path.

    The decode walks call this only on the way out of a refusal, so the normal path
    pays nothing for it (a try block around a loop).
    """
    old = error.context.get("path", ())
    path = (key, *old) if isinstance(old, tuple) else (key,)
    context = {name: value for name, value in error.context.items() if name != "path"}
    return type(error)(error.message, path=path, **context)


def located(error: DecodeError) -> DecodeError:
    """*error* with its path (if any) written into the message, for the caller."""
    path = error.context.get("path")
    if not isinstance(path, tuple) or not path:
        return error
    where = "".join(f"[{item!r}]" if isinstance(item, (int, str)) else f"[{item}]" for item in path)
    return type(error)(f"{error.message} (at {where[:200]})", **error.context)

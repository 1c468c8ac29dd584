"""Iteration guards: no C-level loop over an unbounded iterable without a clock check.

A Python ``for`` loop or comprehension gets a tick on every step (the compiler inserts
it). C code that consumes an iterable does not: ``all(range(1, 10**18))``,
``list(filter(None, range(10**18)))``, ``5 in iter(int, 1)``, ``[*iter(int, 1)]`` or
``set().update(iter(int, 1))`` would loop inside one C call, beyond any tracer. So every
place where the program hands an iterable to C code goes through :func:`ticking` (lazy:
a tick per item, keeps short-circuiting) or :func:`bounded` (materialised with a tick
per item and at most ``max_size`` items) unless the iterable is a container whose size
is already bounded (a list, tuple, str, dict, set ... that exists in memory, or a range
of at most ``max_size`` items).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from safeops.evaluate._sandbox_guards import Budget

__all__ = [
    "CONSUMING_METHODS",
    "bounded",
    "check_render",
    "expanded_size",
    "is_material",
    "make_contains",
    "make_getiter",
    "ticking",
    "wrap_consuming_method",
]

#: Containers whose full iteration is bounded by what already exists in memory.
_MATERIAL = frozenset({list, tuple, str, bytes, bytearray, dict, set, frozenset,
                       type({}.keys()), type({}.values()), type({}.items())})

#: Methods of builtin containers that iterate an argument to its end in C.
CONSUMING_METHODS = frozenset({
    "extend", "update", "union", "intersection", "difference", "symmetric_difference",
    "intersection_update", "difference_update", "symmetric_difference_update",
    "issubset", "issuperset", "isdisjoint", "fromkeys",
})


def is_material(value: object, budget: Budget) -> bool:
    """True when iterating *value* in C is bounded: an existing container or a small range."""
    kind = type(value)
    if kind in _MATERIAL:
        return True
    if kind is range:
        try:
            return len(value) <= budget.limits.max_size  # type: ignore[arg-type]
        except OverflowError:
            return False
    return False


def ticking(budget: Budget, iterable: Iterable[Any]) -> Iterator[Any]:
    """Yield the items of *iterable*, checking the budget's clocks as it goes."""
    tick = budget.tick
    for item in iterable:
        tick()
        yield item


def bounded(budget: Budget, value: Any, what: str) -> Any:
    """*value* itself if bounded, else its items as a list of at most ``max_size``."""
    if is_material(value, budget) or not hasattr(value, "__iter__"):
        return value  # non-iterables are left for the callee to refuse
    limit = budget.limits.max_size
    if type(value) is range:  # not material: longer than max_size, known without iterating
        budget.too_big(what, limit + 1)
    items: list[Any] = []
    for item in ticking(budget, value):
        items.append(item)
        if len(items) > limit:
            budget.too_big(what, len(items))
    return items


def make_getiter(budget: Budget) -> Callable[[Any], Iterator[Any]]:
    """RestrictedPython's ``_getiter_`` (loops, comprehensions, unpacking)."""

    def getiter(value: Any) -> Iterator[Any]:
        if is_material(value, budget):
            return iter(value)
        return ticking(budget, value)

    return getiter


def make_contains(budget: Budget) -> Callable[[Any, Any], bool]:
    """``item in container``: a lazy iterator is searched with ticks."""

    def contains(item: Any, container: Any) -> bool:
        if is_material(container, budget):
            return item in container
        if type(container) is range:
            # int in range is arithmetic; anything else would scan it in C.
            if type(item) in (int, bool):
                return item in container
            return item in ticking(budget, container)
        if hasattr(container, "__next__"):
            return item in ticking(budget, container)
        return item in container

    return contains


def wrap_consuming_method(budget: Budget, name: str, method: Any) -> Any:
    """A container method whose iterable arguments are bounded first."""

    def consuming(*args: Any, **kwargs: Any) -> Any:
        return method(*(bounded(budget, arg, f"{name}()") for arg in args), **kwargs)

    return consuming


_NESTED = frozenset({list, tuple, dict, set, frozenset})


def expanded_size(value: object, limit: int) -> int:
    """How many elements *value* has when every shared reference is written out again
    (as ``repr``, ``==`` or a copying encoder see it), capped at ``limit + 1``.

    Computed once per distinct container (memoised, iterative), so
    ``[[[0] * 1000] * 1000] * 1000`` costs a few thousand steps, not 10**9. A container
    that contains itself counts as too large.
    """
    if type(value) not in _NESTED:
        return 1
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[object, bool]] = [(value, False)]
    while stack:
        item, children_done = stack.pop()
        key = id(item)
        if key in sizes:
            continue
        container: Any = item
        children: Any = (
            [*container.keys(), *container.values()] if type(item) is dict else container
        )
        # set(map(type, ...)) runs in C: flat containers (the common case) skip the
        # per-element Python work; shared children are visited once.
        nested: list[Any] = []
        if not _NESTED.isdisjoint(set(map(type, children))):
            unique = dict(zip(map(id, children), children, strict=True))  # built in C
            nested = [child for child in unique.values() if type(child) in _NESTED]
        if not children_done:
            if key in in_progress:
                return limit + 1  # a cycle: its text or copy would never end
            in_progress.add(key)
            stack.append((item, True))
            stack.extend((child, False) for child in nested if id(child) not in sizes)
            continue
        in_progress.discard(key)
        total = 1 + len(children)
        if nested:
            counts = Counter(map(id, children))  # counted in C
            for child in nested:
                total += (sizes.get(id(child), limit + 1) - 1) * counts[id(child)]
                if total > limit:
                    return limit + 1
        sizes[key] = total
    return min(sizes[id(value)], limit + 1)


def check_render(budget: Budget, value: object, what: str) -> None:
    """Refuse turning *value* into text when its expanded size passes ``max_size``.

    ``x = [[0] * 10**6] * 10**6`` takes little memory (shared references), but its
    ``str()`` has 10**12 elements: one C call no clock can interrupt.
    """
    if type(value) in _NESTED:
        size = expanded_size(value, budget.limits.max_size)
        if size > budget.limits.max_size:
            budget.too_big(what, size)

"""Scoped permits: how vetted code tells the enforcement hook "this one is mine".

``safeops.enforce`` blocks dangerous originals (unpickling arbitrary globals, compiling
source, starting processes, loading native code). safeops' own replacements perform
some of those operations on purpose, after vetting them: ``run_cmd`` starts the process
it has checked, the evaluators compile the source they have validated, the legacy
unpickler loads allow-listed globals. They mark that moment by entering a permit; the
hook reads the active permits. Neither side imports the other: both import only this
leaf module.

A permit is held in a :class:`contextvars.ContextVar`, so it is scoped to the current
thread or asyncio task and to the ``with`` block that granted it: another thread, or
code that runs after the block, gets no benefit from it. A permit may name the exact
*subject* it covers (the resolved executable a process permit is for); the hook then
allows only events about that subject.

This is defence in depth, not a capability system: code that already runs arbitrary
Python in the process can enter a permit too (see docs/threat-model.md).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CATEGORIES",
    "Category",
    "Permit",
    "active",
    "active_permits",
    "granted",
]

Category = Literal["pickle", "dynamic_code", "process", "native"]

#: Every permit category. ``pickle``: unpickling globals beyond the safe allow-list;
#: ``dynamic_code``: compiling or executing source; ``process``: creating processes;
#: ``native``: loading native code (ctypes) and other interpreter escape hatches.
CATEGORIES: frozenset[str] = frozenset({"pickle", "dynamic_code", "process", "native"})

#: Where a permit came from: safeops' own vetted internals, or the application through
#: the public ``safeops.permit()``. Reports show the difference.
Origin = Literal["safeops", "application"]


@dataclass(frozen=True)
class Permit:
    """One granted exception to enforcement, for one category.

    ``subject`` narrows the permit to one object of the category (for ``process``: the
    absolute path of the executable; for ``dynamic_code``: the exact source text or code
    object). ``None`` covers the whole category for the duration of the block.
    """

    category: Category
    reason: str
    origin: Origin = "safeops"
    subject: object = None


_ACTIVE: contextvars.ContextVar[tuple[Permit, ...]] = contextvars.ContextVar(
    "safeops_permits", default=()
)


@contextmanager
def granted(
    category: Category,
    *,
    reason: str,
    origin: Origin = "safeops",
    subject: object = None,
) -> Iterator[Permit]:
    """Hold a permit for *category* for the duration of the ``with`` block.

    Raises ``ValueError`` for an unknown category or an empty reason: a permit with no
    stated reason cannot be reviewed in a report.
    """
    if category not in CATEGORIES:
        raise ValueError(
            f"unknown permit category {category!r}; expected one of {sorted(CATEGORIES)}"
        )
    if not reason or not reason.strip():
        raise ValueError("a permit needs a non-empty reason (it is written to the report)")
    permit = Permit(category=category, reason=reason, origin=origin, subject=subject)
    token = _ACTIVE.set((*_ACTIVE.get(), permit))
    try:
        yield permit
    finally:
        _ACTIVE.reset(token)


def active(category: str) -> Permit | None:
    """The innermost active permit of *category* in this context, or ``None``.

    Cheap enough for the audit hook's hot path: one ContextVar read and a short scan.
    """
    for permit in reversed(_ACTIVE.get()):
        if permit.category == category:
            return permit
    return None


def active_permits() -> tuple[Permit, ...]:
    """Every permit active in this context, outermost first."""
    return _ACTIVE.get()

"""The legacy reader's C fast path, and the policy table it reads.

``_fastscan`` (a C extension, built when a compiler is present; optional) walks the
opcodes of the pickles CPython writes for plain data with the same rules as
:func:`._scan.walk` and the strict visitor, and can only *accept*: for anything outside
its subset it answers "undecided" and the Python walk runs, which alone reports errors.
Without the extension every pickle takes the Python walk (correct, about 10x slower).

The C side knows four kinds of allow-listed global, given here per policy:

- ``PLAIN``: a default class :func:`._policy.vet_call` accepts with *any* arguments of
  REDUCE or NEWOBJ (datetime types, Decimal, object, slice);
- ``UUID``: ``uuid.UUID`` as the pickler writes it, NEWOBJ ``()`` then BUILD ``{'int': n}``;
- ``CALLER``: a class the caller allowed (any call, any state once, as vet_build says);
- ``ENCODE``: ``_codecs.encode``, which protocols 0-2 write for every bytes value, with
  vet_call's rule for it (text, a latin-1/utf-8/ascii codec, 'strict');
- ``NOCALL``: every other allowed global; the C side resolves it but leaves any call of
  it, or state given to what it built, to the Python walk.

A class may be PLAIN only while vet_call has no rule about its arguments: a new rule in
vet_call must take the class out of :data:`_PLAIN_EXCLUDED` here (the differential tests
in tests/test_legacy_fastpath.py compare the two on generated pickles).
"""

from __future__ import annotations

from collections.abc import Callable

from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, normalize_global
from safeops.serialize.legacy._policy import (
    CONTAINER_TYPES,
    ENCODE,
    RECONSTRUCTOR,
    SCALAR_TYPES,
    SINGLETONS,
    UUID,
    Policy,
)
from safeops.serialize.legacy._symbolic import MAX_HASH_COLLISIONS

_Scan = Callable[[bytes, dict[tuple[str, str], int], int, int, int, int, int, int], int]


def _load_scan() -> _Scan | None:
    try:
        from safeops.serialize.legacy._fastscan import scan
    except ImportError:  # built without a compiler: the Python walk does everything
        return None
    return scan


_scan = _load_scan()

__all__ = ["AVAILABLE", "ENABLED", "fast_walk", "table"]

#: Whether the C extension was built and imported.
AVAILABLE = _scan is not None
#: Tests set this to False to force the Python walk.
ENABLED = True

NOCALL, PLAIN, UUID_CLASS, CALLER, ENCODE_FUNCTION = 1, 2, 3, 4, 5
#: Added to the category of SAFE_GLOBALS entries: their str/bytes arguments count
#: against the walk's copy budget (max_copy).
SAFE = 0x10

#: Classes whose calls vet_call judges by their arguments: never PLAIN.
_PLAIN_EXCLUDED = (
    CONTAINER_TYPES
    | SCALAR_TYPES
    | SINGLETONS
    | {UUID, ("uuid", "SafeUUID"), ("collections", "defaultdict"), ENCODE, RECONSTRUCTOR}
)

_TABLES: dict[Policy, dict[tuple[str, str], int]] = {}


def table(policy: Policy) -> dict[tuple[str, str], int]:
    """The category of every allowed global, keyed by its name as written in the pickle.

    Only names the Python 2 mapping leaves unchanged are listed: any other spelling is
    left to the walk, which normalizes it. Built once per policy and never changed; the
    keys are exact str pairs, so the C lookup runs no Python code.
    """
    cached = _TABLES.get(policy)
    if cached is not None:
        return cached
    categories: dict[tuple[str, str], int] = {}
    for pair in policy.pairs:
        if normalize_global(*pair) != pair:
            continue
        if pair in policy.caller_pairs and pair not in _PLAIN_EXCLUDED:
            category = CALLER
        elif pair == UUID:
            category = UUID_CLASS
        elif pair == ENCODE:
            category = ENCODE_FUNCTION
        elif pair not in _PLAIN_EXCLUDED and policy.is_class(pair):
            category = PLAIN
        else:
            category = NOCALL
        categories[pair] = category | (SAFE if pair in SAFE_GLOBALS else 0)
    if len(_TABLES) >= 64:  # bounded like the loader's resolver cache
        _TABLES.clear()
    _TABLES[policy] = categories
    return categories


def fast_walk(
    data: bytes,
    policy: Policy,
    *,
    max_elements: int,
    max_depth: int,
    max_memo: int,
    max_str_len: int,
    max_int_digits: int,
) -> int | None:
    """The offset after STOP when the C scan accepts *data*; None when undecided.

    The budgets are the Python walk's (see :func:`._scan.walk`).
    """
    if _scan is None or not ENABLED:
        return None
    categories = _TABLES.get(policy) or table(policy)
    end = _scan(
        data,
        categories,
        max_elements,
        max_depth,
        max_memo,
        max_str_len,
        max_int_digits,
        MAX_HASH_COLLISIONS,
    )
    return end if end >= 0 else None

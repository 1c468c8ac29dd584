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
- ``TEMPORAL``: the PLAIN datetime types, whose instances need no collision count;
- ``DECIMAL``: Decimal and the caller's subclasses of it, called with plain decimal text
  no longer than ``max_int_digits`` (no exponent), an int, a float or nothing; other
  text is left to the walk's ``vet_decimal``;
- ``CONTAINER``, ``MEMBERS``, ``PAIRS``: the container types of vet_call (no text
  argument), by what they hash (see ``_scan._hashed_by``): nothing (list, tuple, deque,
  ChainMap), the members of a list or tuple (set, frozenset, Counter; protocols 0-3
  write sets so), or the keys of pairs (dict, OrderedDict: left to the walk);
- ``NOCALL``: every other allowed global; the C side resolves it but leaves any call of
  it, or state given to what it built, to the Python walk.

A class may be PLAIN only while vet_call has no rule about its arguments: a new rule in
vet_call must take the class out of :data:`_PLAIN_EXCLUDED` here (the differential tests
in tests/test_legacy_fastpath.py compare the two on generated pickles).
"""

from __future__ import annotations

import _compat_pickle
from collections.abc import Callable

from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, normalize_global
from safeops.serialize.legacy._policy import (
    CONTAINER_TYPES,
    DECIMALS,
    ENCODE,
    RECONSTRUCTOR,
    SCALAR_TYPES,
    SINGLETONS,
    UUID,
    Policy,
)
from safeops.serialize.legacy._scan import HASHING_CONSTRUCTORS
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
CONTAINER, MEMBERS, PAIRS, DECIMAL_CLASS, TEMPORAL = 6, 7, 8, 9, 10
#: PLAIN classes whose instances the walk never counts as colliding keys (their hash is
#: of randomized bytes or of bounded fields; see _symbolic._call_hash).
_TEMPORAL = frozenset(
    ("datetime", name) for name in ("date", "datetime", "time", "timedelta", "timezone")
)
#: _scan.HASHING_CONSTRUCTORS' "how" to a category (2, defaultdict: its factory rule).
_BY_HASHING = {0: MEMBERS, 1: PAIRS, 2: NOCALL}
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

_TABLES: dict[tuple[Policy, frozenset[tuple[str, str]]], dict[tuple[str, str], int]] = {}


def table(
    policy: Policy, decimals: frozenset[tuple[str, str]] = frozenset()
) -> dict[tuple[str, str], int]:
    """The category of every allowed global, keyed by its name as written in the pickle.

    Only names the Python 2 mapping leaves unchanged are listed: any other spelling is
    left to the walk, which normalizes it. Built once per policy and never changed; the
    keys are exact str pairs, so the C lookup runs no Python code.
    """
    decimals = DECIMALS | decimals
    cached = _TABLES.get((policy, decimals))
    if cached is not None:
        return cached
    categories: dict[tuple[str, str], int] = {}
    for pair in policy.pairs:
        if normalize_global(*pair) != pair:
            continue
        if pair in decimals:
            category = DECIMAL_CLASS
        elif pair in policy.caller_pairs and pair not in _PLAIN_EXCLUDED:
            category = CALLER
        elif pair == UUID:
            category = UUID_CLASS
        elif pair == ENCODE:
            category = ENCODE_FUNCTION
        elif pair in CONTAINER_TYPES:
            category = _BY_HASHING.get(HASHING_CONSTRUCTORS.get(pair, -1), CONTAINER)
        elif pair not in _PLAIN_EXCLUDED and policy.is_class(pair):
            category = TEMPORAL if pair in _TEMPORAL else PLAIN
        else:
            category = NOCALL
        categories[pair] = category | (SAFE if pair in SAFE_GLOBALS else 0)
    # Python 2 spellings (__builtin__.set, copy_reg...) get the category of the name
    # they normalize to, exactly as the walk sees them.
    for raw in _python2_spellings(policy.pairs):
        normalized = normalize_global(*raw)
        if raw not in categories and normalized in categories:
            categories[raw] = categories[normalized]
    if len(_TABLES) >= 64:  # bounded like the loader's resolver cache
        _TABLES.clear()
    _TABLES[policy, decimals] = categories
    return categories


def _python2_spellings(pairs: frozenset[tuple[str, str]]) -> set[tuple[str, str]]:
    """The names pickle's Python 2 mapping turns into one of *pairs*."""
    spellings = {raw for raw, mapped in _compat_pickle.NAME_MAPPING.items() if mapped in pairs}
    for old_module, new_module in _compat_pickle.IMPORT_MAPPING.items():
        spellings.update((old_module, name) for module, name in pairs if module == new_module)
    return {raw for raw in spellings if normalize_global(*raw) in pairs}


def fast_walk(
    data: bytes,
    policy: Policy,
    *,
    decimals: frozenset[tuple[str, str]] = frozenset(),
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
    categories = table(policy, decimals)
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

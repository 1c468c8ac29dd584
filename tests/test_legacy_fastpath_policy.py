"""The C fast path's copy of the policy agrees with ``_policy``.

``_fastpath.table`` sorts the allowed globals into categories, and ``_fastscan.c``
re-codes a few rules (the codec names of ``_codecs.encode``, UUID state). These tests
pin each copied rule to its source, so a new rule in ``vet_call`` cannot be skipped by
the fast path without a test failing here. They need no compiler: they check the table
and the policy, which exist without the extension.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from safeops.serialize.legacy import _fastpath
from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, normalize_global
from safeops.serialize.legacy._policy import (
    ENCODE,
    ENCODINGS,
    UUID_IS_SAFE,
    Policy,
    parse_allow,
    vet_build,
    vet_call,
)
from safeops.serialize.legacy._scan import HASHING_CONSTRUCTORS
from safeops.serialize.legacy._symbolic import BIG_INT, Global, Node, predictable_hash

_C_SOURCE = Path(_fastpath.__file__).with_name("_fastscan.c").read_text(encoding="utf-8")


class Point:
    """A caller-allowed class (any call, state once)."""


_CALLER_POLICY = Policy(parse_allow({f"{__name__}.Point"}))


def _tuple(*items: Any) -> Node:
    node = Node("tuple", 0, tuple(items))
    return node


def _node(kind: str) -> Node:
    return Node(kind, 0)


def _obj(pair: tuple[str, str]) -> Node:
    node = Node("obj", 0)
    node.callable = Global(*pair, 0)
    node.args = ()
    return node


#: Arguments of every shape the walk can hand to a call: constants of each type, text
#: that names codecs, containers, call results and globals.
_ARGUMENT_SETS: list[tuple[Any, ...]] = [
    (),
    ("text",),
    (b"bytes",),
    (10**30,),
    (-1,),
    (1.5,),
    (None,),
    (True,),
    (BIG_INT,),
    ("text", "rot13"),
    (b"x", "utf-8", "ignore"),
    (_node("list"),),
    (_node("dict"),),
    (_tuple(1, 2),),
    (_obj(("builtins", "str")),),
    (Global("builtins", "list", 0),),
    (Global("os", "system", 0), "echo"),
    tuple(range(7)),
]


def _categories(policy: Policy) -> dict[tuple[str, str], int]:
    return {pair: code & 0x0F for pair, code in _fastpath.table(policy).items()}


@pytest.mark.parametrize("policy", [Policy(), _CALLER_POLICY], ids=["default", "caller"])
def test_classes_the_fast_path_calls_with_any_arguments_are_accepted_by_vet_call(
    policy: Policy,
) -> None:
    """PLAIN and CALLER mean: vet_call accepts REDUCE and NEWOBJ with any arguments."""
    free = [
        pair
        for pair, category in _categories(policy).items()
        if category in (_fastpath.PLAIN, _fastpath.TEMPORAL, _fastpath.CALLER)
    ]
    assert free, "the table has no class the fast path calls"
    for pair in free:
        for opname in ("REDUCE", "NEWOBJ"):
            for args in _ARGUMENT_SETS:
                reason = vet_call(policy, opname, Global(*pair, 0), args)
                assert reason is None, (pair, opname, args, reason)


def test_the_default_table_sorts_each_allowed_global() -> None:
    categories = _categories(Policy())
    python3_names = {pair for pair in categories if normalize_global(*pair) == pair}
    assert python3_names == SAFE_GLOBALS | {("copyreg", "_reconstructor")}
    assert categories[("uuid", "UUID")] == _fastpath.UUID_CLASS
    assert categories[ENCODE] == _fastpath.ENCODE_FUNCTION
    plain = {
        pair
        for pair in python3_names
        if categories[pair] in (_fastpath.PLAIN, _fastpath.TEMPORAL)
    }
    # The classes pickle calls with their own arguments and vet_call never looks at.
    assert plain == {
        ("builtins", "object"), ("builtins", "slice"), ("datetime", "date"),
        ("datetime", "datetime"), ("datetime", "time"), ("datetime", "timedelta"),
        ("datetime", "timezone"),
    }  # fmt: skip
    # Only classes whose instances the walk never counts as colliding keys are TEMPORAL.
    for pair in python3_names:
        if categories[pair] == _fastpath.TEMPORAL:
            node = _obj(pair)
            assert predictable_hash(node) is None, pair
    assert categories[("decimal", "Decimal")] == _fastpath.DECIMAL_CLASS
    assert all(
        (code & _fastpath.SAFE)
        == (_fastpath.SAFE if normalize_global(*pair) in SAFE_GLOBALS else 0)
        for pair, code in _fastpath.table(Policy()).items()
    )


def test_python2_spellings_have_the_category_of_what_they_normalize_to() -> None:
    """__builtin__.set, copy_reg._reconstructor...: the walk normalizes them first."""
    table = _fastpath.table(Policy())
    spellings = [pair for pair in table if normalize_global(*pair) != pair]
    assert ("__builtin__", "set") in spellings
    assert ("copy_reg", "_reconstructor") in spellings
    for pair in spellings:
        assert table[pair] == table[normalize_global(*pair)], pair


def test_container_categories_follow_vet_call_and_the_walks_hashing_rule() -> None:
    """CONTAINER/MEMBERS/PAIRS: vet_call accepts any non-text arguments and refuses
    text; MEMBERS and PAIRS are the constructors the walk counts collisions for."""
    categories = _categories(Policy())
    containers = {
        pair: category
        for pair, category in categories.items()
        if category in (_fastpath.CONTAINER, _fastpath.MEMBERS, _fastpath.PAIRS)
        and normalize_global(*pair) == pair
    }
    assert {pair for pair, c in containers.items() if c == _fastpath.MEMBERS} == {
        pair for pair, how in HASHING_CONSTRUCTORS.items() if how == 0
    }
    assert {pair for pair, c in containers.items() if c == _fastpath.PAIRS} == {
        pair for pair, how in HASHING_CONSTRUCTORS.items() if how == 1
    }
    assert categories[("collections", "defaultdict")] == _fastpath.NOCALL
    for pair in containers:
        for opname in ("REDUCE", "NEWOBJ"):
            for args in _ARGUMENT_SETS:
                text = any(type(arg) in (str, bytes) for arg in args)
                reason = vet_call(Policy(), opname, Global(*pair, 0), args)
                assert (reason is not None) == text, (pair, opname, args, reason)


def test_a_caller_class_is_called_and_given_state_as_vet_build_says() -> None:
    assert _categories(_CALLER_POLICY)[(__name__, "Point")] == _fastpath.CALLER
    target = _obj((__name__, "Point"))
    for state in (None, 1, "s", _node("dict"), _node("list"), _tuple(_node("dict"), None)):
        assert vet_build(_CALLER_POLICY, target, state) is None


def test_the_codec_names_in_c_are_the_policys() -> None:
    """encode_ok() in _fastscan.c lists _policy.ENCODINGS (and only 'strict' errors)."""
    match = re.search(r'is_name\(s, item\[1\], "([^"]*)"\)', _C_SOURCE)
    assert match is not None
    names = {name for name in match.group(1).split("\\0") if name}
    assert names == set(ENCODINGS)
    assert 'is_name(s, item[2], "strict\\0")' in _C_SOURCE


def test_the_uuid_state_rule_in_c_is_the_policys() -> None:
    """uuid_state() accepts is_safe None, 0 or -1 (UUID_IS_SAFE) and int < 2**128."""
    assert set(UUID_IS_SAFE) == {None, 0, -1}
    assert "F_SAFE_FLAG" in _C_SOURCE
    state = _node("dict")
    uuid_obj = _obj(("uuid", "UUID"))
    for is_safe in UUID_IS_SAFE:
        state.pairs = ["int", 2**128 - 1, "is_safe", is_safe]
        state.weight = 5
        assert vet_build(Policy(), uuid_obj, state) is None
    state.pairs = ["int", 2**128]
    state.weight = 3
    assert vet_build(Policy(), uuid_obj, state) is not None

"""The values of the symbolic opcode walk, and what the walk reports to.

Kept apart from the walk itself (:mod:`._scan`) so the walk's module is only the loop.
Nothing here imports or calls anything named by pickle data.
"""

from __future__ import annotations

from typing import Any

from safeops.serialize._tags import MAX_HASH_COLLISIONS
from safeops.serialize.legacy._allowlist import normalize_global

__all__ = [
    "BIG_INT",
    "MAX_HASH_COLLISIONS",
    "MAX_RECORDED",
    "TOO_MANY",
    "Global",
    "Malformed",
    "Node",
    "OverLimit",
    "Visitor",
    "describe_name",
    "members_of",
]

#: How many flattened dict items a Node keeps for vetting BUILD state.
MAX_RECORDED = 16
#: ``Node.pairs`` of a dict that got more items than are recorded.
TOO_MANY: list[Any] = []

#: Stands for an integer too long to convert cheaply (text LONG with many digits).
BIG_INT = 1 << 64


def record(node: Node, items: list[Any]) -> None:
    """Remember a dict's items (the first MAX_RECORDED) for vetting BUILD state."""
    pairs = getattr(node, "pairs", None)
    if pairs is None:
        node.pairs = items[:] if len(items) <= MAX_RECORDED else TOO_MANY
    elif pairs is not TOO_MANY:
        if len(pairs) + len(items) <= MAX_RECORDED:
            pairs.extend(items)
        else:
            node.pairs = TOO_MANY


def predictable_hash(value: Any) -> int | None:
    """The hash CPython will compute for *value*, when an attacker can choose it.

    str/bytes hashes are randomized per process (SipHash), so they cannot be made to
    collide on purpose; numbers (and tuples/frozensets of numbers) can: ``k * (2**61 - 1)``
    all hash to 0. Returns None for values whose hash is randomized or unknown here.
    """
    kind = type(value)
    if kind is int or kind is float or kind is bool or value is None:
        number: int = hash(value)
        return number
    if kind is Node and value.kind in ("tuple", "frozenset"):
        cached: int | None = getattr(value, "phash", 0)
        if cached != 0:  # cached: shared sub-tuples are hashed once (no DAG blow-up)
            return cached
        parts = []
        result: int | None = None
        for item in value.items:
            part = predictable_hash(item)
            if part is None:
                break
            parts.append(part)
        else:
            # Equal member hashes give equal container hashes: that is all that matters.
            result = hash((value.kind, tuple(parts))) or 1
        value.phash = result
        return result
    if kind is Node and value.kind == "obj":
        return _call_hash(value)
    return None


#: Stands for a hash an attacker may be able to choose but the walk cannot compute:
#: every such key of one container is counted in this one bucket. (Real hashes are
#: below 2**63.)
UNKNOWN_HASH = 1 << 64

_NUMBERS = {("builtins", "int"): int, ("builtins", "float"): float,
            ("builtins", "complex"): complex, ("builtins", "bool"): bool}  # fmt: skip
#: Text this long or shorter is converted to compute its hash: CPython's own int() limit
#: (3.11+), and 3.10 converts it in well under a millisecond.
_NUMBER_TEXT = 4300


def _call_hash(node: Node) -> int | None:
    """The hash of a value a call builds, as far as an attacker could choose it.

    Numbers built from constants are hashed for real (int('...'), complex(a, b): CPython's
    own constructors on constants); tuple(...), frozenset(...) and slice(...) like tuple
    nodes of their members; a UUID by its state's int; Decimal by its value. A call whose
    result could collide but is not computed here counts as :data:`UNKNOWN_HASH`.
    Everything else needs no count: str, bytes and the datetime types hash randomized
    bytes; timedelta and timezone hash a tuple of bounded fields (no full collisions);
    containers are unhashable; the caller's own classes are not modelled (their
    ``__hash__`` is theirs).
    """
    func = node.callable
    if type(func) is not Global:
        return None
    pair = (func.module, func.name)
    args = node.args
    if pair == ("decimal", "Decimal"):
        return _decimal_hash(node)
    number = _NUMBERS.get(pair)
    if number is not None:
        if all(
            type(arg) in (int, float, bool) or (type(arg) is str and len(arg) <= _NUMBER_TEXT)
            for arg in args
        ) and not any(arg is BIG_INT for arg in args):
            try:
                result: int = hash(number(*args))
            except (ValueError, TypeError, OverflowError):
                return None  # the load fails on it
            return result
        return UNKNOWN_HASH
    if pair in (("builtins", "tuple"), ("builtins", "frozenset"), ("builtins", "slice")):
        members = args if pair[1] == "slice" else (members_of(args[0]) if args else ())
        if members is None:
            return UNKNOWN_HASH
        parts = []
        for member in members:
            part = predictable_hash(member)
            if part is None:
                return None  # a member's hash is randomized: so is the container's
            parts.append(part)
        return hash((pair[1], tuple(parts))) or 1
    if pair == ("uuid", "UUID"):
        state = getattr(node, "state", None)
        pairs = getattr(state, "pairs", None) if type(state) is Node else None
        if pairs:
            for key, value in zip(pairs[::2], pairs[1::2], strict=True):
                if key == "int" and type(value) is int:
                    number_hash: int = hash(value)
                    return number_hash
        return UNKNOWN_HASH
    return None


#: Call results a hashing constructor iterates like the list or tuple they were built
#: from: set(list(L)), set(deque(L)), Counter(tuple(L))...
_ITERABLE_CONSTRUCTORS = frozenset(
    {("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
     ("builtins", "frozenset"), ("collections", "deque")}
)  # fmt: skip


def members_of(value: Any, depth: int = 0) -> tuple[Any, ...] | list[Any] | None:
    """What iterating *value* yields, when the walk knows it: the items of a list or
    tuple node, or of the list or tuple a container constructor was called with."""
    if type(value) is not Node or depth > 8:
        return None
    if value.kind == "list":
        members: tuple[Any, ...] | list[Any] = value.members
        return members
    if value.kind in ("tuple", "frozenset"):
        return value.items
    func = value.callable
    if (
        value.kind == "obj"
        and type(func) is Global
        and (func.module, func.name) in _ITERABLE_CONSTRUCTORS
        and value.args
    ):
        return members_of(value.args[0], depth + 1)
    return None


def _decimal_hash(node: Node) -> int | None:
    """Decimal('<k * (2**61 - 1)>') hashes like the int: colliding Decimals are cheap too."""
    func = node.callable
    if type(func) is not Global or (func.module, func.name) != ("decimal", "Decimal"):
        return None
    args = node.args
    if len(args) != 1 or type(args[0]) not in (str, int) or len(str(args[0])) > 4400:
        return None
    import decimal  # already imported by the loader's resolver; only reached for sets

    try:
        number: int = hash(decimal.Decimal(args[0]))
    except (ArithmeticError, ValueError, TypeError):
        return None
    return number


class Malformed(Exception):
    """The bytes are not a pickle CPython would accept (or use a feature never allowed)."""

    def __init__(self, offset: int, message: str, *, feature: str = "") -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.offset = offset
        self.reason = message
        #: Set when the bytes are well-formed but use a feature that is never allowed.
        self.feature = feature


class OverLimit(Exception):
    """A budget was exceeded; ``limit`` names it."""

    def __init__(self, offset: int, limit: str, maximum: int) -> None:
        super().__init__(f"the pickle exceeds {limit}={maximum} (at byte {offset})")
        self.offset = offset
        self.limit = limit
        self.maximum = maximum


class Global:
    """A global the pickle names; ``module``/``name`` are after the Python 2 mapping.

    ``computed`` is True when STACK_GLOBAL took its names from values built at load
    time rather than from string constants (an obfuscation; ``module``/``name`` then
    hold a description).
    """

    __slots__ = ("computed", "module", "name", "offset", "raw")

    def __init__(
        self, module: str, name: str, offset: int, *, computed: bool = False, raw: str = ""
    ) -> None:
        self.module, self.name = (
            normalize_global(module, name)
            if not computed
            else (
                module,
                name,
            )
        )
        self.offset = offset
        self.computed = computed
        self.raw = raw or f"{module}.{name}"

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


class Node:
    """A container or the result of a call, as the walk sees it."""

    __slots__ = (
        "args", "built", "callable", "depth", "hashes", "items", "kind", "members", "offset",
        "pairs", "phash", "placed", "state", "weight",
    )  # fmt: skip

    # Slots assigned only when needed (see __init__); declared here for the type checker.
    pairs: list[Any]
    hashes: dict[int, int]
    phash: int | None
    state: Any

    def __init__(self, kind: str, offset: int, items: tuple[Any, ...] = ()) -> None:
        self.kind = kind  # list, dict, set, tuple, frozenset or obj (a call result)
        self.offset = offset
        self.items = items  # tuples only: the symbolic items (call arguments)
        if kind == "list":
            # What a hashing constructor such as set([...]) will hash (see _scan.call);
            # a list is made on the first fill, so empty lists cost nothing more.
            self.members: list[Any] | tuple[()] = ()
        self.callable: Any = None
        self.args: Any = None
        self.placed = False
        self.built = False  # BUILD has set its state (instance attributes may be planted)
        self.weight = 1
        self.depth = 1
        # Set only when needed (read with getattr, default None), to keep nodes cheap:
        # pairs - dicts: their key/value items (flattened), kept so BUILD state can be
        #   vetted; TOO_MANY once more than MAX_RECORDED items were added.
        # hashes - sets, frozensets, dicts: how many members/keys share each hash.
        # phash - tuples/frozensets: their predictable hash once computed (None: none).


class Visitor:
    """Receives what the walk finds. The default implementation accepts everything."""

    #: Whether :meth:`constant` is called for str/bytes constants (costs time).
    wants_constants = False

    def global_(self, offset: int, opname: str, ref: Global) -> None:
        """A global is resolved (GLOBAL, STACK_GLOBAL, INST)."""

    def call(
        self,
        offset: int,
        opname: str,
        func: Any,
        args: tuple[Any, ...],
        kwargs: Node | None = None,
    ) -> None:
        """Something is called: REDUCE, NEWOBJ(_EX), OBJ, INST (*kwargs*: NEWOBJ_EX's dict)."""

    def build(self, offset: int, target: Any, state: Any) -> None:
        """BUILD sets the state of *target*."""

    def finish(self, offset: int) -> None:
        """The walk reached STOP (a last chance to refuse what only the whole shows)."""

    def mutate(self, offset: int, opname: str, target: Any) -> None:
        """APPEND(S)/SETITEM(S)/ADDITEMS calls methods of *target* unless it is a plain
        list/dict/set."""

    def late_mutation(self, offset: int, opname: str) -> None:
        """A container is changed after it was placed inside another one."""

    def constant(self, offset: int, value: str | bytes) -> None:
        """A str/bytes constant (only when :attr:`wants_constants`)."""


_FOLDABLE_CODECS = frozenset(
    {"utf-8", "utf8", "utf-16", "utf-16-be", "utf-16-le", "utf-32", "utf-32-be", "utf-32-le",
     "latin-1", "latin1", "ascii", "cp1252"}
)  # fmt: skip


def describe_name(value: Any, *, fold: bool) -> str:
    """A STACK_GLOBAL operand as text: the string, bytes as latin-1, or a description.

    With *fold*, ``str(b, codec)`` results are decoded for the report (decoding may
    import a stdlib codec module, so the strict loader does not fold).
    """
    if type(value) is str:
        return value
    if type(value) is bytes:
        return value.decode("latin-1")
    folded = _fold(value) if fold else None
    if folded is not None:
        return folded
    if type(value) is Node and value.kind == "obj" and type(value.callable) is Global:
        return f"<result of {value.callable.dotted}(...)>"
    return f"<computed {getattr(value, 'kind', type(value).__name__)}>"


def _fold(value: Any) -> str | None:
    """The text ``str(b, codec)`` would produce, for reports (decoding runs no code)."""
    if type(value) is not Node or value.kind != "obj" or type(value.callable) is not Global:
        return None
    args = value.args
    if (value.callable.module, value.callable.name) != ("builtins", "str") or len(args) != 2:
        return None
    raw, codec = args
    if type(raw) is not bytes or type(codec) is not str or codec.lower() not in _FOLDABLE_CODECS:
        return None
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        return None

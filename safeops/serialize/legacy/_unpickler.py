"""The allow-listed unpickler behind ``serialize.legacy.loads`` and ``load``.

Two steps, so the expensive and dangerous part stays in C and sees only vetted input:

1. A symbolic walk (:mod:`._scan`) over the opcodes checks the budgets and every global,
   call, state update and container method call against :mod:`._policy`, without
   importing or calling anything. The C fast path (:mod:`._fastpath`) first tries the
   same walk for the plain-data pickles CPython writes; it can only accept, and whatever
   it does not accept goes through the Python walk, which alone reports errors.
2. CPython's C unpickler loads the bytes, with ``find_class`` overridden so that even a
   walk/C disagreement can never resolve a global outside the allow-list. The two
   callables pickle needs that are not classes are replaced by checking wrappers
   (``_codecs.encode``: latin-1 text only; ``copyreg._reconstructor``: allowed classes
   only). The load runs inside a ``pickle`` permit naming the allowed globals, so it
   works under ``safeops.enforce()`` in block mode.
"""

from __future__ import annotations

import codecs
import copyreg
import decimal
import importlib
import io
import os
import pickle
import sys
import threading
from collections.abc import Iterable
from typing import IO, Any

from safeops._permits import granted
from safeops.errors import ConfigurationError, DecodeError, DecodeLimitError, SafeOpsError, quote
from safeops.serialize._limits import DEFAULT_LIMITS, Limits
from safeops.serialize._tags import check_decimal_size
from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, normalize_global
from safeops.serialize.legacy._fastpath import fast_walk
from safeops.serialize.legacy._policy import (
    DECIMALS,
    ENCODE,
    ENCODINGS,
    RECONSTRUCTOR,
    RECONSTRUCTOR_BASES,
    SINGLETONS,
    AllowEntry,
    Policy,
    classify,
    describe,
    is_bare_uuid,
    makes_bare_uuid,
    parse_allow,
    vet_build,
    vet_call,
    vet_mutate,
)
from safeops.serialize.legacy._scan import walk
from safeops.serialize.legacy._symbolic import Global, Malformed, Node, OverLimit, Visitor

__all__ = ["load", "loads"]

#: Codecs (by their canonical name) accepted for Python 2 strings: ASCII-compatible ones.
_PY2_ENCODINGS = frozenset({"ascii", "iso8859-1", "utf-8", "cp1252"})

#: Budgets the walk derives itself (not Limits fields), and what exceeding them means.
_WALK_BUDGETS = {
    "max_opcodes": "more opcodes than 4 x max_elements (a work-exhaustion pattern)",
    "max_copy": "constructor calls would copy more bytes of constants than the pickle "
    "holds (a memoised constant reused as an amplifier)",
    "hash_collisions": "too many set members or dict keys share a hash value "
    "(a hash-collision attack)",
}

_PERMIT_REASON = "serialize.legacy: loading a pickle checked against the allow-list"


def loads(
    data: bytes | bytearray | memoryview,
    *,
    allow: Iterable[AllowEntry] = frozenset(),
    limits: Limits | None = None,
    encoding: str = "ASCII",
    errors: str = "strict",
) -> Any:
    """Load one pickle from *data*, resolving only allow-listed globals.

    *allow* adds application classes to the default allow-list (builtin scalars and
    containers, datetime, decimal, uuid and the common collections types), as
    ``"module.ClassName"`` strings, ``(module, qualname)`` pairs or the classes
    themselves. Only classes can be allowed; known gadgets (``subprocess.Popen``,
    ``functools.partial``...) are refused with :class:`~safeops.errors.ConfigurationError`.

    *limits* (a :class:`safeops.serialize.Limits`) bounds the input before the C
    unpickler runs: ``max_bytes``, ``max_elements`` (values counted once per reference,
    so shared sub-trees count every time), ``max_depth``, ``max_str_len`` and
    ``max_int_digits``; the memo may not grow beyond ``max_elements`` entries.
    *encoding*/*errors* decode Python 2 ``str`` values, as in :func:`pickle.loads`.

    Raises :class:`~safeops.errors.DecodeError` (a ``ValueError``) for anything refused:
    a global outside the allow-list (the message says how to allow it), a call that is not
    a vetted constructor, state set on a class, reference cycles, persistent ids, the
    extension registry, out-of-band buffers, malformed data, or an error raised while
    building an allowed value; :class:`~safeops.errors.DecodeLimitError` for a budget.
    """
    value, _ = _load(data, allow=allow, limits=limits, encoding=encoding, errors=errors)
    return value


def load(
    file: IO[bytes],
    *,
    allow: Iterable[AllowEntry] = frozenset(),
    limits: Limits | None = None,
    encoding: str = "ASCII",
    errors: str = "strict",
) -> Any:
    """Load one pickle from the binary file *file*; see :func:`loads`.

    Reads at most ``limits.max_bytes + 1`` bytes. When *file* is seekable it is left
    positioned just after the pickle, like :func:`pickle.load`, so consecutive pickles
    written to one file are read one call at a time. A non-seekable stream (a pipe, a
    socket) is read up to that size or its end, so it must carry a single pickle.
    """
    active = DEFAULT_LIMITS if limits is None else limits
    start = file.tell() if file.seekable() else None
    data = file.read(active.max_bytes + 1)
    if not isinstance(data, (bytes, bytearray)):
        raise DecodeError("load() needs a file opened in binary mode ('rb')")
    value, end = _load(data, allow=allow, limits=active, encoding=encoding, errors=errors)
    if start is not None:
        file.seek(start + end)
    return value


def _load(
    data: bytes | bytearray | memoryview,
    *,
    allow: Iterable[AllowEntry],
    limits: Limits | None,
    encoding: str,
    errors: str,
) -> tuple[Any, int]:
    active = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(
            f"legacy.loads needs bytes, got {type(data).__name__}", got=type(data).__name__
        )
    if encoding != "bytes" and _codec_name(encoding) not in _PY2_ENCODINGS:
        # The walk reads Python 2 ASCII strings as text; that only matches CPython for
        # codecs that decode ASCII as ASCII.
        raise ConfigurationError(
            f"encoding={encoding!r} is not supported; use 'ASCII', 'latin1', 'utf-8' or 'bytes'",
            encoding=encoding,
        )
    data = bytes(data)
    if len(data) > active.max_bytes:
        raise DecodeLimitError(
            f"the pickle is {len(data)} bytes, more than max_bytes={active.max_bytes}; "
            "pass limits=serialize.Limits(max_bytes=...) if this size is expected",
            limit="max_bytes",
            maximum=active.max_bytes,
            actual=len(data),
        )
    resolver = _resolver_for(parse_allow(allow))
    budgets = {
        "max_elements": active.max_elements,
        "max_depth": active.max_depth,
        "max_memo": min(active.max_elements, len(data)),
        "max_str_len": active.max_str_len,
        "max_int_digits": active.max_int_digits,
    }
    end = fast_walk(data, resolver.policy, decimals=resolver.decimals, **budgets)
    if end is None:
        end = _walk(data, resolver, budgets)
    # A buffered reader: CPython's unpickler prefetches through peek(); from a bare
    # BytesIO it makes a read() call per opcode of unframed (protocol 0-3) pickles,
    # which made them 2.7x slower than pickle.loads.
    stream = io.BufferedReader(io.BytesIO(data), buffer_size=1 << 16)
    unpickler = _Unpickler(stream, resolver, encoding=encoding, errors=errors)
    try:
        with granted("pickle", reason=_PERMIT_REASON, subject=resolver.policy.pairs):
            value = unpickler.load()
    except SafeOpsError:
        raise
    except Exception as error:  # an allowed constructor refused its arguments, etc.
        raise DecodeError(
            f"the pickle failed to load: {type(error).__name__}: {quote(str(error))}",
            error_type=type(error).__name__,
        ) from error
    return value, end


def _walk(data: bytes, resolver: _Resolver, budgets: dict[str, int]) -> int:
    """The Python walk with the strict visitor; its refusals as DecodeError(s)."""
    visitor = _StrictVisitor(
        resolver.policy, max_int_digits=budgets["max_int_digits"], decimals=resolver.decimals
    )
    try:
        return walk(data, visitor, **budgets)
    except Malformed as error:
        raise DecodeError(
            f"not a pickle the legacy reader accepts: {error.reason} (at byte {error.offset})",
            offset=error.offset,
        ) from None
    except OverLimit as error:
        if error.limit == "max_memo":
            raise DecodeLimitError(
                f"the pickle stores a value at memo index beyond its own size (at byte "
                f"{error.offset}): CPython would allocate memory for every slot below it",
                limit="max_elements",
                maximum=error.maximum,
                offset=error.offset,
            ) from None
        if error.limit in _WALK_BUDGETS:
            raise DecodeLimitError(
                f"the pickle exceeds {error.limit}={error.maximum} (at byte {error.offset}): "
                f"{_WALK_BUDGETS[error.limit]}",
                limit=error.limit,
                maximum=error.maximum,
                offset=error.offset,
            ) from None
        raise DecodeLimitError(
            f"the pickle exceeds {error.limit}={error.maximum} (at byte {error.offset}); "
            f"pass limits=serialize.Limits({error.limit}=...) if this is expected",
            limit=error.limit,
            maximum=error.maximum,
            offset=error.offset,
        ) from None


def _codec_name(encoding: str) -> str | None:
    try:
        return codecs.lookup(encoding).name
    except (LookupError, TypeError):
        return None


def vet_decimal(args: tuple[Any, ...], max_digits: int, offset: int) -> None:
    """Refuse a Decimal call whose value could exceed *max_digits* digits before or after
    the point, as serialize's decimal tag does: ``Decimal("1e999999999")`` is 11
    characters, and ``int()`` or ``quantize()`` of it takes minutes.

    Pickle writes ``Decimal(str(d))``; an int or float argument is bounded already.
    Text that does not parse is left to the load, which refuses it.
    """
    if not args:
        return
    value = args[0]
    kind = type(value)
    if len(args) > 1 or not (kind is str or kind is int or kind is float or kind is bool):
        raise DecodeError(
            f"the pickle was refused: Decimal of {', '.join(describe(a) for a in args[:3])} "
            f"(pickle writes Decimal(text); at byte {offset})",
            rule="call-not-vetted",
        )
    if kind is not str:
        return
    if len(value) > 2 * max_digits + 32:
        raise DecodeLimitError(
            f"a Decimal of {len(value)} characters exceeds max_int_digits={max_digits} "
            f"(at byte {offset})",
            limit="max_int_digits",
            maximum=max_digits,
            actual=len(value),
        )
    try:
        number = decimal.Decimal(value)
    except (ArithmeticError, ValueError):
        return
    check_decimal_size(number, max_digits)


class _StrictVisitor(Visitor):
    """Raises at the first global, call or state update the policy refuses."""

    def __init__(
        self,
        policy: Policy,
        *,
        max_int_digits: int = DEFAULT_LIMITS.max_int_digits,
        decimals: frozenset[tuple[str, str]] = DECIMALS,
    ) -> None:
        self.policy = policy
        self.bare_uuids = 0  # UUIDs made by NEWOBJ/reconstructor still waiting for BUILD
        self.max_int_digits = max_int_digits
        self.decimals = decimals  # Decimal and the caller's subclasses of it

    def global_(self, offset: int, opname: str, ref: Global) -> None:
        if ref.computed:
            raise DecodeError(
                f"the pickle names a global computed while loading ({ref.dotted}, at byte "
                f"{offset}); only names written as constants can be checked, so it is refused",
                rule="computed-global",
                offset=offset,
            )
        pair = (ref.module, ref.name)
        if pair in self.policy.pairs:
            return
        if classify(pair, frozenset()) == "dangerous":
            advice = "it is a known code-execution gadget and can never be allowed"
        else:
            advice = (
                f"if it is one of your own classes and the data is trusted, pass "
                f"allow={{{ref.dotted!r}}} (or --allow {ref.dotted} to safeops convert)"
            )
        raise DecodeError(
            f"the pickle needs the global {quote(ref.raw)} (at byte {offset}), which is not "
            f"allow-listed: {advice}",
            rule="global-not-allowed",
            global_name=ref.dotted,
            offset=offset,
        )

    def call(
        self,
        offset: int,
        opname: str,
        func: Any,
        args: tuple[Any, ...],
        kwargs: Node | None = None,
    ) -> None:
        self._refuse(vet_call(self.policy, opname, func, args, kwargs), offset, "call-not-vetted")
        if makes_bare_uuid(func, args):
            self.bare_uuids += 1
        if type(func) is Global and (func.module, func.name) in self.decimals:
            vet_decimal(args, self.max_int_digits, offset)

    def build(self, offset: int, target: Any, state: Any) -> None:
        self._refuse(vet_build(self.policy, target, state), offset, "build-not-allowed")
        if self.bare_uuids and is_bare_uuid(target):
            self.bare_uuids -= 1

    def finish(self, offset: int) -> None:
        if self.bare_uuids:
            # An empty UUID has no .int: encoders that trust the type would misbehave.
            self._refuse(
                "a uuid.UUID is created without its value and never given state",
                offset,
                "build-not-allowed",
            )

    def mutate(self, offset: int, opname: str, target: Any) -> None:
        self._refuse(vet_mutate(opname, target), offset, "method-call")

    def late_mutation(self, offset: int, opname: str) -> None:
        self._refuse(
            f"{opname} changes a value after it was placed inside another one (a reference "
            "cycle); the legacy reader loads acyclic data only",
            offset,
            "reference-cycle",
        )

    @staticmethod
    def _refuse(reason: str | None, offset: int, rule: str) -> None:
        if reason is not None:
            raise DecodeError(f"the pickle was refused: {reason} (at byte {offset})", rule=rule)


# --- resolution ------------------------------------------------------------------------


class _Resolver:
    """The objects ``find_class`` hands out for one policy (built once, then cached)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.objects: dict[tuple[str, str], Any] = {}
        for pair in SAFE_GLOBALS:
            self.objects[pair] = _import(pair)
        self.objects[ENCODE] = _encode
        for pair in policy.caller_pairs:
            value = _import(pair)
            if not isinstance(value, type):
                raise ConfigurationError(
                    f"allow entry {pair[0]}.{pair[1]} is a {type(value).__name__}, not a "
                    "class; only classes can be allowed (a function would be a gadget)",
                    entry=f"{pair[0]}.{pair[1]}",
                )
            self.objects[pair] = value
        classes = frozenset(
            value
            for pair, value in self.objects.items()
            if pair not in SINGLETONS and pair != ENCODE
        )
        bases = frozenset(self.objects[pair] for pair in RECONSTRUCTOR_BASES)
        self.objects[RECONSTRUCTOR] = _checked_reconstructor(classes, bases)
        #: Decimal and the caller's subclasses of it: their text arguments are vetted.
        self.decimals = DECIMALS | frozenset(
            pair
            for pair in policy.caller_pairs
            if isinstance(self.objects[pair], type)
            and issubclass(self.objects[pair], decimal.Decimal)
        )


_RESOLVERS: dict[frozenset[tuple[str, str]], _Resolver] = {}
_RESOLVERS_LOCK = threading.Lock()


def _reinit_lock() -> None:
    # A fork taken while another thread held the lock must not deadlock the child.
    global _RESOLVERS_LOCK  # noqa: PLW0603
    _RESOLVERS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_lock)


def _resolver_for(caller_pairs: frozenset[tuple[str, str]]) -> _Resolver:
    # A cache (allowed by ARCHITECTURE.md): resolving imports modules, and a service
    # calls loads() with the same allow= set on every request. Bounded by clearing.
    resolver = _RESOLVERS.get(caller_pairs)
    if resolver is None:
        resolver = _Resolver(Policy(caller_pairs))
        with _RESOLVERS_LOCK:
            if len(_RESOLVERS) >= 64:
                _RESOLVERS.clear()
            _RESOLVERS[caller_pairs] = resolver
    return resolver


def _import(pair: tuple[str, str]) -> Any:
    module_name, qualname = pair
    try:
        value: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(
            f"allow entry {module_name}.{qualname} cannot be imported ({error}); for a nested "
            "class pass the pair (module, 'Outer.Inner')",
            entry=f"{module_name}.{qualname}",
        ) from None
    return value


def _encode(text: object, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as pickle uses it for bytes (protocols 0-2), and nothing more."""
    if type(text) is not str or str(encoding).lower() not in ENCODINGS or errors != "strict":
        raise DecodeError("_codecs.encode is accepted only as (text, 'latin1')")
    return text.encode(encoding, errors)


def _checked_reconstructor(classes: frozenset[Any], bases: frozenset[Any]) -> Any:
    def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
        # copyreg._reconstructor calls base.__new__(cls, state): check both, and that the
        # state is a plain value (str/bytes/number) where the base would render it.
        if cls not in classes or base not in bases or not issubclass(cls, base):
            raise DecodeError(
                f"copyreg._reconstructor with class {quote(cls)} and base {quote(base)} "
                "is not allowed"
            )
        if base in (bytes, bytearray) and isinstance(state, int):
            raise DecodeError("copyreg._reconstructor of bytes from an integer is refused")
        if base in (str, bytes, bytearray, int, float, complex, bool) and not isinstance(
            state, (str, bytes, int, float, complex, type(None))
        ):
            raise DecodeError("copyreg._reconstructor with a non-constant state is refused")
        return copyreg._reconstructor(cls, base, state)  # type: ignore[attr-defined]

    return _reconstructor


class _Unpickler(pickle.Unpickler):
    """CPython's C unpickler with ``find_class`` limited to the resolver's objects."""

    def __init__(self, file: IO[bytes], resolver: _Resolver, *, encoding: str, errors: str) -> None:
        super().__init__(file, fix_imports=True, encoding=encoding, errors=errors)
        self._objects = resolver.objects

    def find_class(self, module: str, name: str, /) -> Any:
        pair = normalize_global(module, name)
        value = self._objects.get(pair)
        if value is None:
            raise DecodeError(f"the global {quote(module)}.{quote(name)} is not allow-listed")
        # The same audit event the stdlib raises, so enforce() and audit logs see it.
        sys.audit("pickle.find_class", pair[0], pair[1])
        return value

    def persistent_load(self, pid: Any, /) -> Any:
        raise DecodeError("persistent ids are not supported by the legacy reader")

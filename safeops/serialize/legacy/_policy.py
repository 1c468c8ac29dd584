"""What the legacy reader allows, and why: the rules shared by ``loads`` and ``inspect``.

Nothing here imports or resolves a global: the rules judge the *names* and the
*symbolic* values the opcode walk (:mod:`._scan`) produces, so ``inspect`` can use them
on hostile data without running any of it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from safeops.errors import ConfigurationError, quote
from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, normalize_global
from safeops.serialize.legacy._symbolic import BIG_INT, TOO_MANY, Global, Node

__all__ = [
    "DECIMALS",
    "RECONSTRUCTOR",
    "AllowEntry",
    "Policy",
    "Verdict",
    "classify",
    "describe",
    "is_bare_uuid",
    "makes_bare_uuid",
    "parse_allow",
    "vet_build",
    "vet_call",
    "vet_mutate",
]

Verdict = Literal["safe", "needs-allow", "dangerous"]
#: An entry of ``allow=``: ``"module.QualName"``, a ``(module, qualname)`` pair, or a class.
AllowEntry = str | tuple[str, str] | type

RECONSTRUCTOR = ("copyreg", "_reconstructor")
ENCODE = ("_codecs", "encode")
SINGLETONS = frozenset({("builtins", "Ellipsis"), ("builtins", "NotImplemented")})
#: Types whose constructor turns its argument into text or a number: a container argument
#: would be rendered (``str`` of a shared structure is exponential), so only constants.
SCALAR_TYPES = frozenset(
    ("builtins", name) for name in ("bool", "bytearray", "bytes", "complex", "float", "int", "str")
)
#: ``bytes(10**10)`` allocates ten gigabytes from a five-byte argument.
NO_INT_ARGUMENT = frozenset({("builtins", "bytes"), ("builtins", "bytearray")})
#: Bases ``copyreg._reconstructor`` may use: ``base.__new__(cls, state)``.
RECONSTRUCTOR_BASES = frozenset(
    pair for pair in SAFE_GLOBALS if pair[0] == "builtins" and pair not in SINGLETONS
)
#: Codec names ``_codecs.encode`` may be called with (pickle writes "latin1"): only names
#: CPython encodes with a built-in fast path, so no codec lookup and no import happens.
ENCODINGS = frozenset({"latin1", "latin-1", "utf-8", "utf8", "ascii"})
#: What Python 2 wrote for a bytearray: ``bytearray(text, 'latin-1')``.
BYTEARRAY_ENCODINGS = frozenset({"latin-1", "latin1"})
#: Constructors that consume an iterable: pickle never passes them text or bytes (it
#: writes items), and ``list(s)`` of a memoised megabyte string is a memory bomb.
CONTAINER_TYPES = frozenset(
    {
        ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
        ("builtins", "frozenset"), ("builtins", "dict"), ("collections", "deque"),
        ("collections", "Counter"), ("collections", "OrderedDict"),
        ("collections", "ChainMap"), ("collections", "defaultdict"),
    }
)  # fmt: skip
TEXT_TYPES = frozenset(("builtins", name) for name in ("bytearray", "bytes", "str"))
UUID = ("uuid", "UUID")
#: Decimal, whose text argument the loader vets (an exponent is not bounded by the
#: text's length); the caller's subclasses of it are added per load.
DECIMALS = frozenset({("decimal", "Decimal")})
CHAINMAP = ("collections", "ChainMap")
#: The values ``UUID.__getstate__`` writes for ``is_safe`` (SafeUUID's values).
UUID_IS_SAFE = (None, 0, -1)

# Module roots whose every global runs code, touches files, processes or the network, or
# reaches into the interpreter. Python 2 names are mapped first (commands -> subprocess).
DANGEROUS_MODULES = frozenset(
    {
        "_ctypes", "_io", "_multiprocessing", "_pickle", "_posixsubprocess", "_signal",
        "_socket", "_thread", "_winapi", "asyncio", "bdb", "cProfile",
        "cffi", "cloudpickle", "code", "codecs", "codeop", "commands", "compileall",
        "concurrent", "copyreg", "ctypes", "dill", "fileinput", "ftplib", "functools", "gc",
        "glob", "http", "imp", "importlib", "inspect", "io", "itertools", "joblib",
        "linecache", "marshal", "multiprocessing", "nt", "operator", "os", "pdb", "pickle",
        "pkgutil", "platform", "popen2", "posix", "profile", "pty", "py_compile", "pydoc",
        "runpy", "shelve", "shutil", "signal", "site", "smtplib", "socket", "subprocess",
        "sys", "sysconfig", "tarfile", "telnetlib", "tempfile", "threading", "timeit",
        "trace", "types", "urllib", "webbrowser", "xmlrpc", "zipfile", "zipimport",
    }
)  # fmt: skip
# Added after the attack review of 2026-11-28 (L7): classes that run commands or code.
DANGEROUS_MODULES |= frozenset(
    {
        "cgi", "cgitb", "doctest", "ensurepip", "idlelib", "imaplib", "lib2to3", "logging",
        "mailbox", "mailcap", "nntplib", "poplib", "pydoc_data", "rlcompleter",
        "socketserver", "sqlite3", "dbm", "test", "tkinter", "turtle", "turtledemo",
        "unittest", "venv", "wsgiref", "zipapp", "distutils", "setuptools", "pip",
        "selectors", "select", "mmap", "resource", "fcntl", "termios", "tty", "readline",
        "curses", "pathlib", "posixpath", "ntpath", "genericpath", "filecmp", "netrc",
        "configparser", "smtpd", "asynchat", "asyncore", "msvcrt", "winreg", "_winreg",
    }
)  # fmt: skip
#: The only standard-library classes outside the default set that ``allow=`` accepts:
#: any other stdlib class is reported as dangerous and cannot be allowed (the stdlib is
#: full of classes whose constructor runs a command, opens a file or a socket, or
#: evaluates code, e.g. ``imaplib.IMAP4_stream``, and a deny-list is never complete).
STDLIB_ALLOWABLE = frozenset(
    {
        ("fractions", "Fraction"),
        ("ipaddress", "IPv4Address"), ("ipaddress", "IPv6Address"),
        ("ipaddress", "IPv4Network"), ("ipaddress", "IPv6Network"),
        ("ipaddress", "IPv4Interface"), ("ipaddress", "IPv6Interface"),
    }
)  # fmt: skip
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"__builtin__", "copy_reg"}
DANGEROUS_BUILTINS = frozenset(
    {
        "__build_class__", "__import__", "apply", "breakpoint", "classmethod", "compile",
        "delattr", "dir", "eval", "exec", "execfile", "exit", "file", "filter", "getattr",
        "globals", "hasattr", "help", "input", "iter", "locals", "map", "max", "min", "next",
        "open", "print", "property", "quit", "reduce", "reload", "setattr", "sorted",
        "memoryview", "__loader__", "__spec__", "__builtins__",
        "staticmethod", "super", "type", "vars",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Policy:
    """The globals one call may resolve: :data:`SAFE_GLOBALS` plus the caller's classes.

    ``pairs`` is everything ``find_class`` may return (normalized names);
    ``caller_pairs`` the entries the caller added (each must be a class).
    """

    caller_pairs: frozenset[tuple[str, str]] = frozenset()
    pairs: frozenset[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairs", SAFE_GLOBALS | self.caller_pairs | {RECONSTRUCTOR})

    def is_class(self, pair: tuple[str, str]) -> bool:
        """True for the allowed pairs that name classes (what a call may construct)."""
        if pair in self.caller_pairs:
            return True
        return pair in SAFE_GLOBALS and pair != ENCODE and pair not in SINGLETONS


def parse_allow(allow: Iterable[AllowEntry] | AllowEntry) -> frozenset[tuple[str, str]]:
    """Turn the caller's ``allow=`` entries into normalized ``(module, qualname)`` pairs.

    Raises :class:`~safeops.errors.ConfigurationError` for a malformed entry or for a
    known gadget (``subprocess.Popen`` is a class too, and allowing it runs programs).
    """
    if isinstance(allow, (str, tuple, type)):
        allow = [allow]  # a lone entry is a common slip; treat it as a set of one
    pairs: set[tuple[str, str]] = set()
    for entry in allow:
        if isinstance(entry, type):
            pair = (entry.__module__, entry.__qualname__)
        elif (
            isinstance(entry, tuple)
            and len(entry) == 2
            and all(isinstance(part, str) for part in entry)
        ):
            pair = (entry[0], entry[1])
        elif isinstance(entry, str) and "." in entry.strip("."):
            module, _, name = entry.rpartition(".")
            pair = (module, name)
        else:
            raise ConfigurationError(
                f"allow entry {quote(entry)} is not 'module.ClassName', a (module, qualname) "
                "pair or a class",
                entry=quote(entry),
            )
        pair = normalize_global(*pair)
        if any(not part or part.startswith("__") for part in pair[1].split(".")):
            raise ConfigurationError(
                f"allow entry {pair[0]}.{pair[1]} names a dunder or empty attribute; "
                "only classes can be allowed",
                entry=f"{pair[0]}.{pair[1]}",
            )
        if classify(pair, frozenset()) == "dangerous":
            raise ConfigurationError(
                f"{pair[0]}.{pair[1]} is a known code-execution or file/process gadget (or a "
                "standard-library global that is not vetted) and cannot be allowed; convert "
                "the data it builds to plain values instead",
                entry=f"{pair[0]}.{pair[1]}",
            )
        pairs.add(pair)
    return frozenset(pairs - SAFE_GLOBALS)


def classify(pair: tuple[str, str], allowed: frozenset[tuple[str, str]]) -> Verdict:
    """safe (allowed), dangerous (a known gadget) or needs-allow (anything else).

    Dangerous: the deny-listed modules and builtins, private names, and every
    standard-library global outside the default set and :data:`STDLIB_ALLOWABLE`.
    """
    module, name = pair
    if pair in SAFE_GLOBALS or pair in allowed:
        return "safe"
    root = module.split(".", 1)[0]
    if root in DANGEROUS_MODULES or (root == "builtins" and name in DANGEROUS_BUILTINS):
        return "dangerous"
    if module == "_codecs" or name.startswith("_") or "._" in name:
        return "dangerous"  # codec decoders (zip bombs), private helpers
    if root in _STDLIB and pair not in STDLIB_ALLOWABLE:
        return "dangerous"  # not vetted: stdlib gadgets are found every year
    return "needs-allow"


def describe(value: Any, limit: int = 40) -> str:
    """A short, bounded rendering of a symbolic value for reports and errors."""
    if type(value) is Global:
        return value.dotted
    if type(value) is Node:
        if value.kind == "obj":
            func = value.callable
            name = func.dotted if type(func) is Global else "<computed>"
            return f"{name}(...)"
        if value.kind == "tuple":
            inner = ", ".join(describe(item, limit) for item in value.items[:4])
            more = ", ..." if len(value.items) > 4 else ""
            return f"({inner}{more})"
        return f"<{value.kind}>"
    if value is BIG_INT:
        return "<large int>"
    return quote(value, limit)


def _is_constant(value: Any) -> bool:
    return value is None or type(value) in (str, bytes, int, float, bool)


def _is_encoded_bytes(value: Any) -> bool:
    return (
        type(value) is Node
        and value.kind == "obj"
        and type(value.callable) is Global
        and (value.callable.module, value.callable.name) == ENCODE
    )


def vet_call(
    policy: Policy,
    opname: str,
    func: Any,
    args: tuple[Any, ...],
    kwargs: Node | None = None,
) -> str | None:
    """Why this call is not a vetted constructor of an allowed type, or None if it is.

    *kwargs* is NEWOBJ_EX's keyword dict: refused unless empty or the class is one the
    caller allowed (none of the default types has ``__getnewargs_ex__``, so pickle never
    writes keyword arguments for them; ``bytes(source=10**9)`` would bypass every rule).
    """
    if type(func) is not Global:
        return (
            f"{opname} calls {describe(func)}, a value built while loading (a getattr or "
            "similar chain); only allow-listed classes may be called"
        )
    pair = (func.module, func.name)
    if func.computed or pair not in policy.pairs:
        return f"{opname} calls {func.dotted}, which is not allow-listed"
    if pair == ENCODE:
        if opname != "REDUCE" or not 1 <= len(args) <= 3 or type(args[0]) not in (str, bytes):
            return "_codecs.encode is accepted only as pickle writes bytes: (text, 'latin1')"
        codec = args[1] if len(args) >= 2 else "utf-8"
        if type(codec) not in (str, bytes) or _text(codec) not in ENCODINGS:
            return f"_codecs.encode with codec {describe(args[1])} (only latin-1/utf-8/ascii)"
        if len(args) == 3 and _text(args[2]) != "strict":
            return "_codecs.encode with an error handler other than 'strict'"
        return None
    if pair == RECONSTRUCTOR:
        if opname != "REDUCE" or len(args) != 3:
            return "copyreg._reconstructor is accepted only as (class, base, state)"
        cls, base = args[0], args[1]
        if type(cls) is not Global or not policy.is_class((cls.module, cls.name)):
            return f"copyreg._reconstructor builds {describe(cls)}, which is not allow-listed"
        if type(base) is not Global or (base.module, base.name) not in RECONSTRUCTOR_BASES:
            return f"copyreg._reconstructor with base {describe(base)} (only builtin types)"
        return _vet_scalar((base.module, base.name), args[2:], "copyreg._reconstructor")
    if not policy.is_class(pair):
        return f"{opname} calls {func.dotted}, which is not a class"
    if kwargs is not None and kwargs.weight > 1 and pair not in policy.caller_pairs:
        return (
            f"{opname} passes keyword arguments to {func.dotted} (pickle never writes them "
            "for the default types; they would bypass the argument rules)"
        )
    if pair in CONTAINER_TYPES:
        for arg in args:
            if type(arg) in (str, bytes):
                return (
                    f"{func.dotted}() of a text or bytes constant (pickle writes container "
                    "items, never an iterable to expand)"
                )
    problem = _vet_scalar(pair, args, func.dotted)
    if problem is not None:
        return problem
    if pair == UUID and opname.startswith("NEWOBJ") and args:
        # UUID.__new__ is object's: it ignores the arguments, leaving a UUID with no .int
        # that no BUILD is then required to fill (pickle writes NEWOBJ UUID ()).
        return "NEWOBJ of uuid.UUID with arguments (pickle writes none; its value comes by BUILD)"
    if pair == ("uuid", "SafeUUID") and len(args) > 1:
        return "uuid.SafeUUID called with more than one argument (the Enum functional API)"
    if pair == ("collections", "defaultdict") and args:
        factory = args[0]
        if factory is not None and (
            type(factory) is not Global or not policy.is_class((factory.module, factory.name))
        ):
            return f"defaultdict with default_factory {describe(factory)} (only allowed classes)"
    return None


def _vet_scalar(pair: tuple[str, str], args: tuple[Any, ...], name: str) -> str | None:
    if pair not in SCALAR_TYPES:
        return None
    # The second argument of str/bytes/bytearray is a codec name: the data would choose
    # (and import) a codec. Only Python 2's bytearray form is accepted, with its codec.
    if (
        pair in TEXT_TYPES
        and len(args) > 1
        and not (
            pair == ("builtins", "bytearray")
            and len(args) == 2
            and type(args[0]) is str
            and args[1] in BYTEARRAY_ENCODINGS
        )
    ):
        return f"{name}() with a codec or error-handler argument (the data would choose one)"
    for arg in args:
        if pair in NO_INT_ARGUMENT and type(arg) is int:
            return f"{name}() of an integer allocates that many bytes"
        if not (_is_constant(arg) or (pair in NO_INT_ARGUMENT and _is_encoded_bytes(arg))):
            return f"{name}() of {describe(arg)} (only constants are accepted)"
    return None


def built_class(target: Node) -> tuple[str, str] | None:
    """The allowed class an ``obj`` node is an instance of (seen through the reconstructor)."""
    func = target.callable
    if type(func) is not Global:
        return None
    pair = (func.module, func.name)
    if pair == RECONSTRUCTOR and target.args and type(target.args[0]) is Global:
        return (target.args[0].module, target.args[0].name)
    return pair


def is_bare_uuid(target: Any) -> bool:
    """True for a UUID made without its value (NEWOBJ/reconstructor): BUILD must follow."""
    if type(target) is not Node or target.kind != "obj" or built_class(target) != UUID:
        return False
    func = target.callable
    return (func.module, func.name) == RECONSTRUCTOR or not target.args


def makes_bare_uuid(func: Any, args: tuple[Any, ...]) -> bool:
    """True for the calls that make a UUID without its value (its BUILD must follow)."""
    if type(func) is not Global or func.name not in ("UUID", "_reconstructor"):
        return False
    pair = (func.module, func.name)
    if pair == UUID:
        return not args
    return (
        pair == RECONSTRUCTOR
        and len(args) > 0
        and type(args[0]) is Global
        and (args[0].module, args[0].name) == UUID
    )


def vet_build(policy: Policy, target: Any, state: Any) -> str | None:
    """Why BUILD on *target* with *state* is refused, or None.

    Only instances built by a vetted call may get state, once. For the default types the
    state must be the type's own pickled form: ``{'int': 0 <= n < 2**128, 'is_safe'?:
    None|0|-1}`` for UUID, ``{'maps': [...]}`` for ChainMap, none for the others (a
    forged ``UUID.int`` list makes orjson read object internals). Classes the caller
    allowed take any state.
    """
    if type(target) is Node and target.kind == "obj":
        if target.built:
            # The first BUILD can plant an instance attribute named __setstate__, which
            # pickle then calls (with any state) on the second one.
            return "a second BUILD on the same object could call a __setstate__ the first planted"
        cls = built_class(target)
        if cls is not None and cls in policy.caller_pairs:
            return None
        return _vet_default_state(cls, state)
    return (
        f"BUILD sets the state of {describe(target)}; only instances built from allowed "
        "classes may be given state (setting attributes on a class is a gadget)"
    )


def _vet_default_state(cls: tuple[str, str] | None, state: Any) -> str | None:
    items = _dict_items(state)
    if cls == UUID and items is not None:
        if (  # the common case, {'int': n}, first
            len(items) == 2
            and items[0] == "int"
            and type(items[1]) is int
            and 0 <= items[1] < 1 << 128
            and items[1] is not BIG_INT
        ):
            return None
        fields = dict(zip(items[::2], items[1::2], strict=True))
        if len(fields) * 2 == len(items) and set(fields) <= {"int", "is_safe"}:
            number = fields.get("int")
            if (
                type(number) is int
                and number is not BIG_INT
                and 0 <= number < 1 << 128
                and type(fields.get("is_safe")) in (int, type(None))
                and fields.get("is_safe") in UUID_IS_SAFE
            ):
                return None
        return "uuid.UUID state must be {'int': 0 <= n < 2**128, 'is_safe': None/0/-1}"
    if (
        cls == CHAINMAP
        and items is not None
        and len(items) == 2
        and items[0] == "maps"
        and type(items[1]) is Node
        and items[1].kind == "list"
    ):
        return None
    if cls == CHAINMAP:
        return "collections.ChainMap state must be {'maps': [mappings]}"
    name = f"{cls[0]}.{cls[1]}" if cls else "a computed value"
    return (
        f"BUILD sets state on {name}, whose pickled form has none (only UUID and ChainMap "
        "take state among the default types; allow your own classes to give them state)"
    )


def _dict_items(state: Any) -> list[Any] | None:
    """A dict node's recorded items (flattened), or None when unknown or not a dict."""
    if type(state) is not Node or state.kind != "dict":
        return None
    pairs: list[Any] | None = getattr(state, "pairs", None)
    if pairs is None:
        return [] if state.weight == 1 else None  # empty, or filled without a record
    return None if pairs is TOO_MANY else pairs


def vet_mutate(opname: str, target: Any) -> str | None:
    """Why APPEND/SETITEM/ADDITEMS on *target* is refused, or None."""
    if type(target) is Node and target.kind == "obj" and target.built:
        # append/extend/add are looked up on the instance: BUILD could have planted them.
        return f"{opname} after BUILD could call a method the state planted on the instance"
    if type(target) is Node and target.kind not in ("tuple", "frozenset"):
        return None
    return f"{opname} on {describe(target)} would call one of its methods"


def _text(value: Any) -> str:
    return (value.decode("latin-1") if type(value) is bytes else str(value)).lower()

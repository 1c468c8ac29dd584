"""What the legacy reader allows, and why: the rules shared by ``loads`` and ``inspect``.

Nothing here imports or resolves a global: the rules judge the *names* and the
*symbolic* values the opcode walk (:mod:`._scan`) produces, so ``inspect`` can use them
on hostile data without running any of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from safeops.errors import ConfigurationError, quote
from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, normalize_global
from safeops.serialize.legacy._symbolic import BIG_INT, Global, Node

__all__ = [
    "RECONSTRUCTOR",
    "AllowEntry",
    "Policy",
    "Verdict",
    "classify",
    "describe",
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
#: Codec names ``_codecs.encode`` may be called with (pickle writes "latin1").
ENCODINGS = frozenset(
    {"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1", "utf-8", "utf8", "ascii"}
)

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
DANGEROUS_BUILTINS = frozenset(
    {
        "__build_class__", "__import__", "apply", "breakpoint", "classmethod", "compile",
        "delattr", "dir", "eval", "exec", "execfile", "exit", "file", "filter", "getattr",
        "globals", "hasattr", "help", "input", "iter", "locals", "map", "max", "min", "next",
        "open", "print", "property", "quit", "reduce", "reload", "setattr", "sorted",
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
                f"{pair[0]}.{pair[1]} is a known code-execution or file/process gadget "
                "and cannot be allowed; convert the data it builds to plain values instead",
                entry=f"{pair[0]}.{pair[1]}",
            )
        pairs.add(pair)
    return frozenset(pairs - SAFE_GLOBALS)


def classify(pair: tuple[str, str], allowed: frozenset[tuple[str, str]]) -> Verdict:
    """safe (allowed), dangerous (a known gadget) or needs-allow (anything else)."""
    module, name = pair
    if pair in SAFE_GLOBALS or pair in allowed:
        return "safe"
    root = module.split(".", 1)[0]
    if root in DANGEROUS_MODULES or (root == "builtins" and name in DANGEROUS_BUILTINS):
        return "dangerous"
    if module == "_codecs" or name.startswith("_") or "._" in name:
        return "dangerous"  # codec decoders (zip bombs), private helpers
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


def vet_call(policy: Policy, opname: str, func: Any, args: tuple[Any, ...]) -> str | None:
    """Why this call is not a vetted constructor of an allowed type, or None if it is."""
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
    problem = _vet_scalar(pair, args, func.dotted)
    if problem is not None:
        return problem
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
    for arg in args:
        if pair in NO_INT_ARGUMENT and type(arg) is int:
            return f"{name}() of an integer allocates that many bytes"
        if not (_is_constant(arg) or (pair in NO_INT_ARGUMENT and _is_encoded_bytes(arg))):
            return f"{name}() of {describe(arg)} (only constants are accepted)"
    return None


def vet_build(target: Any) -> str | None:
    """Why BUILD on *target* is refused, or None (an instance built by a vetted call)."""
    if type(target) is Node and target.kind == "obj":
        if target.built:
            # The first BUILD can plant an instance attribute named __setstate__, which
            # pickle then calls (with any state) on the second one.
            return "a second BUILD on the same object could call a __setstate__ the first planted"
        return None
    return (
        f"BUILD sets the state of {describe(target)}; only instances built from allowed "
        "classes may be given state (setting attributes on a class is a gadget)"
    )


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

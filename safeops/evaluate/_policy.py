"""What an expression may touch: value types, attributes, builtins, host callables.

Everything here is an allow-list. A value from the host enters an expression only if its
*exact* type is a plain data type (subclasses can override methods, so they are refused);
containers are copied, so an expression never holds (or mutates) the host's own objects.
Attributes are allowed per exact type and name, and only ones that return plain data:
nothing that returns a type, a frame, a code object, a module or a bound method of an
object the expression could not otherwise reach.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Callable, Mapping
from typing import Any

from safeops.errors import EvaluationLimitError, UnsafeExpressionError, quote
from safeops.evaluate._limits import ExpressionLimits

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ATTRIBUTE_NAMES",
    "SCALAR_TYPES",
    "vet_function",
    "vet_value",
]

#: Leaf types a value may have. ``bool`` before ``int`` does not matter: exact types.
SCALAR_TYPES: frozenset[type] = frozenset({type(None), bool, int, float, complex, str, bytes})
_CONTAINER_TYPES = (list, tuple, dict, set, frozenset)

_STR_ATTRIBUTES = frozenset(
    {
        "capitalize", "casefold", "center", "count", "endswith", "expandtabs", "find",
        "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier",
        "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join",
        "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace",
        "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines",
        "startswith", "strip", "swapcase", "title", "upper", "zfill",
    }
)  # fmt: skip
# Deliberately absent: format and format_map (their field syntax walks attributes and
# items in C: asteval CVE-2025-24359, RestrictedPython CVE-2023-41039/CVE-2024-47532),
# encode/decode/translate/maketrans (codecs lookups by name; a static method).
_BYTES_ATTRIBUTES = frozenset(
    {
        "center", "count", "decode", "endswith", "find", "hex", "index", "isalnum",
        "isalpha", "isascii", "isdigit", "islower", "isspace", "istitle", "isupper", "join",
        "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace",
        "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines",
        "startswith", "strip", "swapcase", "title", "upper", "zfill",
    }
)  # fmt: skip
# Mutating methods (append, pop, update, add, clear, sort, ...) are never listed: even on
# the expression's own copies they would allow building cycles and unbounded loops.
_SEQUENCE_ATTRIBUTES = frozenset({"count", "index"})
_DICT_ATTRIBUTES = frozenset({"get", "items", "keys", "values"})
_SET_ATTRIBUTES = frozenset(
    {"difference", "intersection", "isdisjoint", "issubset", "issuperset",
     "symmetric_difference", "union"}
)  # fmt: skip
_NUMBER_ATTRIBUTES = frozenset({"bit_length", "conjugate", "denominator", "imag",
                                "numerator", "real"})  # fmt: skip
_FLOAT_ATTRIBUTES = frozenset({"conjugate", "imag", "is_integer", "real"})

#: Exact type -> attribute names an expression may read on a value of that type.
ALLOWED_ATTRIBUTES: Mapping[type, frozenset[str]] = types.MappingProxyType(
    {
        str: _STR_ATTRIBUTES,
        bytes: _BYTES_ATTRIBUTES,
        list: _SEQUENCE_ATTRIBUTES,
        tuple: _SEQUENCE_ATTRIBUTES,
        dict: _DICT_ATTRIBUTES,
        set: _SET_ATTRIBUTES,
        frozenset: _SET_ATTRIBUTES,
        int: _NUMBER_ATTRIBUTES,
        bool: _NUMBER_ATTRIBUTES,
        float: _FLOAT_ATTRIBUTES,
        complex: frozenset({"conjugate", "imag", "real"}),
    }
)
#: Every attribute name that is allowed on some type (checked when the source is compiled).
ATTRIBUTE_NAMES: frozenset[str] = frozenset().union(*ALLOWED_ATTRIBUTES.values())

# Host callables that hand out a way out of any expression language: attribute walking,
# code execution, namespaces, types and I/O. Refused by identity.
_DANGEROUS_BUILTINS = frozenset(
    id(getattr(builtins, name))
    for name in (
        "__import__", "breakpoint", "callable", "classmethod", "compile", "delattr", "dir",
        "eval", "exec", "getattr", "globals", "hasattr", "help", "input", "locals",
        "memoryview", "object", "open", "print", "property", "setattr", "staticmethod",
        "super", "type", "vars", "__build_class__", "exit", "quit", "copyright", "credits",
        "license",
    )
    if hasattr(builtins, name)
)  # fmt: skip
# Functions defined in these modules run code, touch the process or walk objects.
_DANGEROUS_MODULES = frozenset(
    {
        "builtins", "os", "posix", "nt", "sys", "subprocess", "_posixsubprocess", "shutil",
        "importlib", "importlib._bootstrap", "imp", "pickle", "_pickle", "marshal", "shelve",
        "ctypes", "_ctypes", "inspect", "gc", "code", "codeop", "runpy", "pty", "socket",
        "_socket", "io", "_io", "pathlib", "operator", "_operator", "functools",
        "_functools", "types", "signal", "_signal", "threading", "_thread", "multiprocessing",
        "asyncio", "pdb", "bdb", "traceback", "linecache", "string", "_string", "weakref",
        "_weakref", "copyreg", "copy", "tempfile", "webbrowser", "platform", "ast", "dis",
        "atexit", "faulthandler", "tracemalloc", "resource", "fcntl", "mmap", "select",
        "codecs", "_codecs", "glob", "fileinput", "zipfile", "tarfile", "sqlite3", "urllib",
        "http", "ftplib", "smtplib", "imaplib", "poplib", "xmlrpc", "dbm", "pydoc", "site",
        "sysconfig", "zipimport", "pkgutil", "posixpath", "ntpath", "genericpath", "stat",
        "pwd", "grp", "getpass", "sched", "concurrent", "contextvars", "_contextvars",
        "safeops",
        # import or resolve names, touch files, processes or the network (attack review
        # 2026-11-28, F19); anything else in functions= is the host's responsibility
        "_sqlite3", "_imp", "_frozen_importlib", "_frozen_importlib_external", "_winapi",
        "msvcrt", "winreg", "_overlapped", "tty", "termios", "_posixshmem",
        "_multiprocessing", "_dbm", "_gdbm", "gzip", "bz2", "lzma", "configparser",
        "mailbox", "netrc", "plistlib", "filecmp", "tabnanny", "py_compile", "compileall",
        "modulefinder", "trace", "cProfile", "profile", "timeit", "doctest", "unittest",
        "venv", "ensurepip", "socketserver", "ssl", "_ssl", "asyncore", "asynchat",
        "telnetlib", "nntplib", "selectors", "syslog", "readline", "rlcompleter", "cmd",
        "idlelib", "tkinter", "turtle", "curses", "imghdr", "sndhdr", "wave", "aifc",
        "sunau", "chunk", "mimetypes", "tokenize", "pyclbr", "pickletools", "xml",
        "logging", "zipapp", "uu", "crypt", "spwd", "nis", "lib2to3", "distutils",
        "setuptools", "pip", "pkg_resources", "importlib_metadata", "importlib_resources",
        "requests", "urllib3", "httpx", "aiohttp", "dill", "cloudpickle", "joblib",
    }
)  # fmt: skip
_SAFE_BUILTIN_FUNCTIONS = frozenset(
    id(getattr(builtins, name))
    for name in ("abs", "all", "any", "ascii", "bin", "chr", "divmod", "hash", "hex",
                 "len", "max", "min", "oct", "ord", "repr", "round", "sorted", "sum")
)  # fmt: skip
_FRAME_HOLDERS = (
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.FrameType,
    types.TracebackType,
    types.CodeType,
)


def _refuse(what: str, name: str, value: object, hint: str) -> UnsafeExpressionError:
    return UnsafeExpressionError(
        f"{what} {name!r} refused: {quote(value)} {hint}",
        argument=name,
        value_type=type(value).__name__,
    )


def vet_function(name: str, function: Any, *, unsafe_allow_any: bool = False) -> None:
    """Refuse a host callable that would hand an expression a way out.

    Plain Python functions, lambdas and builtin functions of harmless modules (``math``,
    ``statistics``...) pass; classes, modules, frame holders, non-callables and anything
    from the code-running or process modules are refused. *unsafe_allow_any* skips the
    module and identity checks (the caller vouches for the callable), not the type ones.
    """
    if isinstance(function, types.ModuleType):
        raise _refuse("function", name, function, "is a module: pass its functions instead")
    if isinstance(function, type):
        raise _refuse(
            "function", name, function,
            "is a class: a class hands out its methods, bases and subclasses; pass a "
            "function that builds the value instead",
        )  # fmt: skip
    if isinstance(function, _FRAME_HOLDERS) or not callable(function):
        raise _refuse("function", name, function, "is not a plain callable")
    if unsafe_allow_any:
        return
    if id(function) in _SAFE_BUILTIN_FUNCTIONS:
        return
    if id(function) in _DANGEROUS_BUILTINS:
        raise _refuse(
            "function", name, function,
            "runs code, walks attributes or reaches the process; it can never be offered "
            "to an expression",
        )  # fmt: skip
    owner = getattr(function, "__self__", None)
    if isinstance(function, types.MethodType) or (
        owner is not None and not isinstance(owner, types.ModuleType)
    ):
        if isinstance(owner, (type, types.ModuleType)) or owner is None:
            raise _refuse("function", name, function, "is bound to a class or module")
        if not isinstance(function, types.MethodType) and type(owner) not in SCALAR_TYPES:
            # builtin method of some object (list.append, dict.update...): mutates host
            raise _refuse(
                "function", name, function,
                "is a method of a host object: the expression could mutate or inspect it; "
                "wrap it in a function that copies what it returns",
            )  # fmt: skip
    module = getattr(function, "__module__", None)
    if isinstance(owner, types.ModuleType):
        module = owner.__name__
    if not isinstance(module, str) or module.split(".")[0] in _DANGEROUS_MODULES:
        raise _refuse(
            "function", name, function,
            f"comes from module {module!r}, which runs code or reaches the process; pass "
            "unsafe_allow_any_function=True only if you have vetted it yourself",
        )  # fmt: skip
    if not isinstance(
        function, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    ):
        raise _refuse(
            "function", name, function,
            "is a callable object: its other methods and attributes could be reached by "
            "what it returns; pass a plain function",
        )  # fmt: skip


class _Budget:
    __slots__ = ("items",)

    def __init__(self, items: int) -> None:
        self.items = items


def vet_value(name: str, value: object, limits: ExpressionLimits) -> object:
    """Return *value* ready to enter an expression: plain data, containers copied.

    Refuses anything else (modules, classes, functions, frames, objects of other types,
    subclasses of the allowed types) with :class:`UnsafeExpressionError`, and data nested
    deeper than ``max_depth`` or larger than ``max_data_items`` with
    :class:`EvaluationLimitError`.
    """
    kind = type(value)
    if kind in SCALAR_TYPES:
        return value
    return _copy(name, value, limits, _Budget(limits.max_data_items), 0, set())


def _copy(  # noqa: PLR0917
    name: str, value: object, limits: ExpressionLimits, budget: _Budget, depth: int,
    active: set[int],
) -> object:  # fmt: skip
    kind = type(value)
    if kind in SCALAR_TYPES:
        return value
    if kind not in _CONTAINER_TYPES:
        raise _refuse(
            "value", name, value,
            "is not plain data (None, bool, int, float, complex, str, bytes, or a list, "
            "tuple, dict, set or frozenset of them); convert it before evaluating",
        )  # fmt: skip
    if depth >= limits.max_depth:
        raise EvaluationLimitError(
            f"value {name!r} is nested deeper than {limits.max_depth} containers",
            limit="max_depth",
            maximum=limits.max_depth,
        )
    if id(value) in active:
        raise _refuse("value", name, value, "contains itself (a reference cycle)")
    size = len(value)  # type: ignore[arg-type]
    budget.items -= size
    if budget.items < 0:
        raise EvaluationLimitError(
            f"values hold more than {limits.max_data_items} container items",
            limit="max_data_items",
            maximum=limits.max_data_items,
        )
    active.add(id(value))
    copy: Callable[[object], Any] = lambda item: _copy(  # noqa: E731
        name, item, limits, budget, depth + 1, active
    )
    result: object
    if kind is dict:
        result = {copy(key): copy(item) for key, item in value.items()}  # type: ignore[attr-defined]
    else:
        result = kind(copy(item) for item in value)  # type: ignore[attr-defined]
    active.discard(id(value))
    return result

"""safeops: vetted, drop-in replacements for Python's dangerous builtins.

The public face of the package: re-exports only. Heavy dependencies (pydantic,
RestrictedPython, asyncio) and the CLI are imported lazily by the modules that need
them, so ``import safeops`` stays cheap.
"""

from __future__ import annotations

from safeops import serialize
from safeops.command import CommandPolicy, CommandResult, Program, arun_cmd, run_cmd
from safeops.enforce import enforce, permit
from safeops.errors import SafeOpsError, SafeOpsWarning
from safeops.evaluate import compile_expr, safe_eval, safe_exec

__all__ = [
    "CommandPolicy",
    "CommandResult",
    "Program",
    "SafeOpsError",
    "SafeOpsWarning",
    "__version__",
    "arun_cmd",
    "compile_expr",
    "enforce",
    "permit",
    "run_cmd",
    "safe_eval",
    "safe_exec",
    "serialize",
]


def __getattr__(name: str) -> str:
    # The version is read from the installed package's metadata, on first use only:
    # importlib.metadata costs more to import than the rest of safeops.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("safeops")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'safeops' has no attribute {name!r}")

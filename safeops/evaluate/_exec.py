"""``safe_exec``: run an untrusted statement program on RestrictedPython, with limits."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from safeops.errors import (
    ConfigurationError,
    UnsafeExpressionError,
    UnsupportedPlatformError,
    quote,
)
from safeops.evaluate._exec_limits import DEFAULT_EXEC_LIMITS, ExecLimits

__all__ = ["ExecLimits", "safe_exec"]


def safe_exec(
    source: str,
    names: Mapping[str, object] | None = None,
    *,
    limits: ExecLimits | None = None,
    isolated: bool = True,
) -> dict[str, Any]:
    """Run the statements in *source* and return the variables they defined.

    The program runs on RestrictedPython with safeops' syntax check in front and every
    guard hook wired (attribute, item, iteration, write, in-place, unpacking, print),
    without modules or imports, under the budgets in *limits* (``ExecLimits()`` by
    default). It receives *names* as variables and returns a new dict of the variables
    it assigned at module level whose values are plain data (functions it defined and
    other objects are left out).

    ``isolated=True`` (the default, POSIX only) runs it in a warm worker process with
    ``RLIMIT_AS``/``RLIMIT_CPU`` and a wall-clock kill, so even C-level work
    (``math.factorial(10**7)``, ``bytearray(10**10)``) is stopped. Values cross the
    process boundary as plain data (never pickle): *names* may hold only data that
    the transport carries (no callables), and tuples come back as lists.

    ``isolated=False`` runs in this process with the same guards, a tracer for time,
    CPU and depth, and size guards on the operations that can blow up. It cannot stop
    a single long C-level call or bound memory; do not use it for hostile input that
    can reach such calls. *names* may also hold plain functions (vetted; data is
    deep-copied so the program never mutates the host's objects).

    Raises :class:`~safeops.errors.UnsafeExpressionError` before running anything
    refused, :class:`~safeops.errors.EvaluationLimitError` (or its timeout/memory
    leaves) when a budget is hit, and :class:`~safeops.errors.EvaluatedCodeError` for
    the program's own exceptions. A real Ctrl-C still raises KeyboardInterrupt.
    """
    if limits is None:
        limits = DEFAULT_EXEC_LIMITS
    elif not isinstance(limits, ExecLimits):
        raise ConfigurationError(
            f"limits must be an ExecLimits, not {type(limits).__name__}"
        )
    if names is not None and not isinstance(names, Mapping):
        raise UnsafeExpressionError(f"names must be a mapping, not {type(names).__name__}")
    if isolated:
        return _exec_isolated(source, names, limits)
    return _exec_in_process(source, names, limits)


def _exec_isolated(
    source: str, names: Mapping[str, object] | None, limits: ExecLimits
) -> dict[str, Any]:
    if os.name != "posix":
        raise UnsupportedPlatformError(
            "safe_exec(isolated=True) needs POSIX process limits (resource, fork); "
            "on this platform pass isolated=False and read what it does not protect "
            "against in docs/evaluate.md"
        )
    from safeops.evaluate._isolation import run_isolated
    from safeops.evaluate._sandbox_namespace import check_name_key

    # Only cheap checks here: the host never parses hostile source in isolated mode,
    # the worker does (under its memory limit).
    if not isinstance(source, str):
        raise UnsafeExpressionError(
            f"safe_exec takes source text (str), not {type(source).__name__}"
        )
    if len(source) > limits.max_source_length:
        raise UnsafeExpressionError(
            f"source of {len(source)} characters is longer than max_source_length="
            f"{limits.max_source_length}", limit="max_source_length", actual=len(source),
        )
    prepared: dict[str, object] = {}
    for key, value in (names or {}).items():
        check_name_key(key)
        if callable(value):
            raise UnsafeExpressionError(
                f"names[{quote(key)}] is callable: functions cannot cross into the isolated "
                "worker (only data that safeops.serialize carries can); compute the "
                "value first, or use isolated=False with a vetted plain function",
                name=key,
            )
        prepared[key] = value
    return run_isolated(source, prepared, limits)


def _exec_in_process(
    source: str, names: Mapping[str, object] | None, limits: ExecLimits
) -> dict[str, Any]:
    from safeops.evaluate._sandbox import compile_program, run_program
    from safeops.evaluate._sandbox_iter import expanded_size
    from safeops.evaluate._sandbox_namespace import is_data, vet_in_process_names

    prepared = vet_in_process_names(names)
    program = compile_program(source, limits)

    def keep(value: object) -> bool:
        # Same rule as isolated mode: shared references must not expand past max_size.
        return is_data(value) and expanded_size(value, limits.max_size) <= limits.max_size

    return run_program(program, prepared, limits, keep, watch_memory=True)

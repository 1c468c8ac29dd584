"""Budgets for ``safe_exec``: one frozen dataclass, validated when it is built."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from safeops.errors import ConfigurationError

__all__ = ["DEFAULT_EXEC_LIMITS", "ExecLimits"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class ExecLimits:
    """Resource budgets for one :func:`safeops.safe_exec` call.

    The defaults stop every resource attack in ``tests/vectors/eval/exec/`` within a few
    seconds and a few hundred MiB. Raise them deliberately, per call, for trusted heavy
    workloads; a limits object never means "unlimited".

    - ``wall_time``: seconds of real time for the whole call (isolated mode: the worker
      is killed when it runs past this, whatever it is doing).
    - ``cpu_time``: seconds of CPU time of the evaluated code. Python-level loops are
      stopped when they pass it; in isolated mode ``RLIMIT_CPU`` also stops C-level work.
    - ``max_memory``: bytes of address space of the isolated worker (``RLIMIT_AS``),
      including the interpreter itself (about 30-60 MiB). In-process, only
      approximated: the growth of the process's peak RSS is checked between lines.
    - ``max_output``: characters that ``print`` may produce in total.
    - ``max_depth``: nesting depth of calls of functions the code defined.
    - ``max_source_length``: characters of source accepted before anything parses it.
    - ``max_ast_nodes`` / ``max_ast_depth``: size and nesting of the parsed program.
    - ``max_size``: largest sequence, string or bytes an operation guarded by safeops
      (``*``, ``**``, ``<<``, ``%``-formatting, padding methods, ``replace``, ``join``,
      ``list()``/``tuple()``/... of a sized argument) may produce, in elements or
      characters.
    - ``max_int_bits``: largest integer ``**`` and ``<<`` may produce, in bits.
    - ``max_result_bytes``: size of the encoded variables an isolated call hands back.
    """

    wall_time: float = 5.0
    cpu_time: float = 2.0
    max_memory: int = 384 * _MIB
    max_output: int = 64 * 1024
    max_depth: int = 200
    max_source_length: int = 100_000
    max_ast_nodes: int = 30_000
    max_ast_depth: int = 100
    max_size: int = 5_000_000
    max_int_bits: int = 1_000_000
    max_result_bytes: int = 16 * _MIB

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigurationError(
                    f"ExecLimits.{field.name} must be a number, not {type(value).__name__}",
                    limit=field.name,
                )
            if not math.isfinite(value) or value <= 0:
                raise ConfigurationError(
                    f"ExecLimits.{field.name} must be a positive finite number; "
                    "there is no 'unlimited': pass a large value deliberately",
                    limit=field.name,
                )
            if field.type in ("int",) and not isinstance(value, int):
                raise ConfigurationError(
                    f"ExecLimits.{field.name} must be an int", limit=field.name
                )
        if self.wall_time < self.cpu_time:
            raise ConfigurationError(
                "ExecLimits.wall_time must be at least cpu_time: the wall clock is the "
                "last line of defence for work the CPU limit cannot see",
                limit="wall_time",
            )
        if self.max_memory < 64 * _MIB:
            raise ConfigurationError(
                "ExecLimits.max_memory below 64 MiB cannot hold the worker interpreter",
                limit="max_memory",
            )

    def to_wire(self) -> dict[str, float]:
        """The limits as a plain mapping, for the isolated worker."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_wire(cls, data: object) -> ExecLimits:
        """Rebuild limits sent by :meth:`to_wire`; anything else is a ConfigurationError."""
        if not isinstance(data, dict) or set(data) != {f.name for f in fields(cls)}:
            raise ConfigurationError("malformed limits received by the worker")
        return cls(**data)


DEFAULT_EXEC_LIMITS = ExecLimits()

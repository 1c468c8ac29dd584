"""Safe replacements for ``eval``: literals, expressions (and statements, see safe_exec).

Re-exports only; see docs/evaluate.md for which mode fits which job.
"""

from __future__ import annotations

from safeops.evaluate._exec import ExecLimits, safe_exec
from safeops.evaluate._expression import Expression, compile_expr
from safeops.evaluate._limits import ExpressionLimits
from safeops.evaluate._safe_eval import safe_eval

__all__ = [
    "ExecLimits",
    "Expression",
    "ExpressionLimits",
    "compile_expr",
    "safe_eval",
    "safe_exec",
]

"""Reading legacy pickle data without letting it run code.

- :func:`loads` / :func:`load`: an unpickler that resolves only allow-listed globals
  and refuses gadget patterns, with budgets checked before CPython's C unpickler runs.
- :func:`inspect`: a report of every global a pickle would import and every call it
  would make, without running any of it.
- :data:`SAFE_GLOBALS` / :func:`is_safe_global`: the default allow-list, shared with
  ``safeops.enforce``.

See docs/legacy.md.
"""

from __future__ import annotations

from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, is_safe_global
from safeops.serialize.legacy._inspect import Finding, InspectReport, inspect
from safeops.serialize.legacy._unpickler import load, loads

__all__ = [
    "SAFE_GLOBALS",
    "Finding",
    "InspectReport",
    "inspect",
    "is_safe_global",
    "load",
    "loads",
]

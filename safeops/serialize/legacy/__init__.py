"""Reading legacy pickle data without letting it run code.

- :func:`loads` / :func:`load`: an unpickler that resolves only allow-listed globals
  and refuses gadget patterns, with budgets checked before CPython's C unpickler runs.
- :func:`inspect`: a report of every global a pickle would import and every call it
  would make, without running any of it.
- :func:`convert_file` / :func:`convert_tree`: legacy pickle files to
  ``safeops.serialize`` documents, written atomically (what ``safeops convert`` runs).
- :func:`register_stdlib_types`: ``safeops.serialize`` forms for the allow-listed
  collections types it has no tag for (``convert`` uses them; readers call it too).
- :data:`SAFE_GLOBALS` / :func:`is_safe_global`: the default allow-list, shared with
  ``safeops.enforce``.

See docs/legacy.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, is_safe_global

if TYPE_CHECKING:
    from safeops.serialize.legacy._convert import ConvertSummary, convert_file, convert_tree
    from safeops.serialize.legacy._inspect import Finding, InspectReport, inspect
    from safeops.serialize.legacy._stdlib_types import register_stdlib_types
    from safeops.serialize.legacy._unpickler import load, loads

__all__ = [
    "SAFE_GLOBALS",
    "ConvertSummary",
    "Finding",
    "InspectReport",
    "convert_file",
    "convert_tree",
    "inspect",
    "is_safe_global",
    "load",
    "loads",
    "register_stdlib_types",
]

# The allow-list is imported eagerly: safeops.enforce reads it from its audit hook and
# must not pay for (or recurse into) pickle, the codecs or the converter. The rest is
# imported on first use.
_LAZY = {
    "ConvertSummary": "_convert",
    "convert_file": "_convert",
    "convert_tree": "_convert",
    "Finding": "_inspect",
    "InspectReport": "_inspect",
    "inspect": "_inspect",
    "load": "_unpickler",
    "loads": "_unpickler",
    "register_stdlib_types": "_stdlib_types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

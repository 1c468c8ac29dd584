"""Reading legacy pickle data without letting it run code.

See docs/legacy.md. The allow-list shared with ``safeops.enforce`` lives in
:mod:`safeops.serialize.legacy._allowlist`.
"""

from __future__ import annotations

from safeops.serialize.legacy._allowlist import SAFE_GLOBALS, is_safe_global

__all__ = ["SAFE_GLOBALS", "is_safe_global"]

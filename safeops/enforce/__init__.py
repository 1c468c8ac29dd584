"""``safeops.enforce``: an audit-hook mode that blocks the dangerous originals.

See docs/enforce.md. The hook machinery is imported on the first ``enforce()`` call.
"""

from __future__ import annotations

from safeops.enforce._api import enforce, permit
from safeops.enforce._policy import Policy, load_policy

__all__ = ["Policy", "enforce", "load_policy", "permit"]

"""The public entry points: ``enforce()`` and ``permit()``.

Kept light on purpose: ``import safeops`` imports this module, and the hook machinery
(rules, attribution, the shared allow-list and shell knowledge) is imported only when
``enforce()`` is first called.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from safeops import _permits
from safeops.enforce._policy import Mode, Policy, load_policy

if TYPE_CHECKING:
    from safeops.enforce._hook import Enforcement

__all__ = ["enforce", "permit"]


def enforce(
    mode: Mode = "block",
    *,
    policy: Policy | str | os.PathLike[str] | None = None,
    report: str | os.PathLike[str] | None = None,
    unsafe_relax: bool = False,
) -> Enforcement:
    """Block (or warn on, or log) the dangerous originals in this whole process.

    Installs one ``sys.addaudithook`` hook the first time; later calls re-configure it
    and return the same handle. *mode*: ``"block"`` raises
    :class:`~safeops.errors.BlockedOperation` (a ``PermissionError``) naming the event,
    the call site and the safe replacement; ``"warn"`` issues a
    :class:`~safeops.errors.SafeOpsWarning` once per call site and lets the call
    through; ``"log"`` only records. *policy*: a :class:`Policy`, or the path of a TOML
    file to read it from (never looked up implicitly); ``None`` keeps the active policy
    (the default policy on the first call). *report*: a JSON Lines file the records are
    appended to (default: the ``SAFEOPS_REPORT`` environment variable, else none).

    A later call may tighten the configuration (log -> warn -> block, a stricter
    policy); relaxing it raises :class:`~safeops.errors.EnforcementSetupError` unless
    ``unsafe_relax=True``. After installing, the hook is verified live with a probe
    event: if an earlier audit hook made CPython drop it, ``EnforcementSetupError`` is
    raised instead of pretending.

    Audit hooks are not a sandbox: this is defence in depth against injection into
    dangerous sinks and against legacy calls (see docs/enforce.md for the known
    bypasses), not a way to run hostile Python code.
    """
    from safeops.enforce._hook import install

    if isinstance(policy, (str, os.PathLike)):
        policy = load_policy(policy)
    if report is None:
        report = os.environ.get("SAFEOPS_REPORT") or None
    path = os.path.abspath(os.fspath(report)) if report is not None else None
    return install(mode, policy, path, unsafe_relax=unsafe_relax)


def permit(category: _permits.Category, *, reason: str) -> AbstractContextManager[_permits.Permit]:
    """A scoped, logged exception to enforcement for *category*.

    ``with safeops.permit("dynamic_code", reason="plugin loader reviewed in #123"):``
    lets the operations of that category through for the duration of the block, in
    this thread or asyncio task only (a :mod:`contextvars` value), and records each use
    in the report with its reason. Categories: ``pickle``, ``dynamic_code``,
    ``process``, ``native``. Raises ``ValueError`` for an unknown category or an empty
    reason.
    """
    # Checked here, not only on entering the block: a misspelt category must fail even
    # where the context manager is created and entered apart.
    if category not in _permits.CATEGORIES:
        raise ValueError(
            f"unknown permit category {category!r}; expected one of {sorted(_permits.CATEGORIES)}"
        )
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("a permit needs a non-empty reason (it is written to the report)")
    return _permits.granted(category, reason=reason, origin="application")

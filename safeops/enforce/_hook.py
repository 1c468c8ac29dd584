"""The installed audit hook and its process-wide state.

Module-level state is the point here (ARCHITECTURE.md allows it for the enforcement
hook): CPython hooks cannot be removed, so there is exactly one hook per interpreter,
installed by the first ``enforce()`` and re-configured (only ever tightened, unless an
``unsafe_`` opt-in says otherwise) by later calls. Configuration changes replace one
immutable :class:`_Config` object under a lock; the hook reads it without locking.

The hook's hot path is one ``in`` test on a dict: every event nobody gates (the vast
majority: ``open``, ``os.listdir``, ``object.__getattr__``...) returns right there.
Gated events are dispatched to :mod:`._rules`, which walks the stack only when it has
to. A thread-local flag keeps the hook from judging the events its own work raises.
"""

from __future__ import annotations

import atexit
import os
import secrets
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from safeops.enforce._policy import LEVELS, MODES, Mode, Policy
from safeops.enforce._report import Reporter
from safeops.enforce._rules import PROBE_EVENT, Finding, Rules
from safeops.errors import BlockedOperation, EnforcementSetupError, SafeOpsWarning

__all__ = ["Enforcement", "install"]


@dataclass(frozen=True)
class _Config:
    mode: Mode
    policy: Policy
    rules: Rules


class _State:
    """The process-wide state (one instance, :data:`_state`)."""

    def __init__(self) -> None:
        self.config: _Config | None = None
        self.reporter: Reporter | None = None
        self.handle: Enforcement | None = None
        self.probe_token: str | None = None
        self.probe_seen = False


_lock = threading.Lock()
_state = _State()
_busy = threading.local()


class Enforcement:
    """The handle ``enforce()`` returns: the live state of the process-wide hook.

    The same object is returned by every ``enforce()`` call; its properties always show
    the current configuration.
    """

    @property
    def mode(self) -> Mode:
        """The current mode: ``block``, ``warn`` or ``log``."""
        return _current().mode

    @property
    def policy(self) -> Policy:
        """The current :class:`~safeops.enforce.Policy`."""
        return _current().policy

    @property
    def report_path(self) -> str | None:
        """Where the JSON Lines report is written, or ``None``."""
        return _state.reporter.path if _state.reporter is not None else None

    def records(self) -> list[dict[str, object]]:
        """This process's report records so far, most frequent first."""
        return _state.reporter.records() if _state.reporter is not None else []

    def summary(self) -> str:
        """A plain-text table of the records."""
        return _state.reporter.summary() if _state.reporter is not None else ""

    def flush(self) -> None:
        """Write pending records to the report file now (also done at exit)."""
        if _state.reporter is not None:
            _state.reporter.flush()

    def __repr__(self) -> str:
        return f"<safeops Enforcement mode={self.mode!r} report={self.report_path!r}>"


def _current() -> _Config:
    config = _state.config
    if config is None:  # pragma: no cover - a handle exists only after install
        raise EnforcementSetupError("enforcement is not installed")
    return config


def _make_hook(
    gated: dict[str, Callable[..., Finding | None]],
) -> Callable[[str, tuple[Any, ...]], None]:
    def safeops_audit_hook(event: str, args: tuple[Any, ...]) -> None:
        if event in gated:
            _dispatch(event, args)

    return safeops_audit_hook


def _dispatch(event: str, args: tuple[Any, ...]) -> None:
    if event == PROBE_EVENT:
        if args and args[0] == _state.probe_token:
            _state.probe_seen = True
        return
    config = _state.config
    if config is None:
        return
    quick = config.rules.fast_allow.get(event)
    if quick is not None and quick(args):
        return
    if getattr(_busy, "active", False):
        return  # an event raised by our own rule code (imports, frame access)
    _busy.active = True
    try:
        # Frames: 0 this function, 1 the hook, 2 the code that raised the event. An
        # event raised from C with no Python caller (an atexit callback at shutdown)
        # has none: CPython then raises ValueError or SystemError; the rules judge a
        # missing caller (restricted: nobody trusted asked for it).
        frame: FrameType | None
        try:
            frame = sys._getframe(2)
        except (ValueError, SystemError):
            frame = None
        finding = config.rules.handlers[event](event, args, frame)
        del frame
        if finding is None:
            return
        error = _act(config.mode, finding)
    finally:
        _busy.active = False
    if error is not None:
        raise error


def _act(mode: Mode, finding: Finding) -> BlockedOperation | None:
    """Record *finding* and return the error to raise in block mode, if any."""
    reporter = _state.reporter
    if finding.permit is not None:
        if reporter is not None:
            reporter.record(finding, "permitted")
        return None
    effective: str = mode
    if finding.level != "enforce":
        effective = MODES[min(MODES.index(mode), LEVELS.index(finding.level) - 1)]
    site = finding.site
    where = site.describe() if site else "an unknown call site"
    message = (
        f"{finding.event} ({finding.rule}): {finding.why}. Detail: {finding.detail}. "
        f"Call site: {where}. Use {finding.replacement} instead, or wrap a reviewed call "
        f"in `with safeops.permit({finding.category!r}, reason=...)`."
    )
    decision = {"block": "blocked", "warn": "warned", "log": "logged"}[effective]
    first = reporter.record(finding, decision) if reporter is not None else True
    if effective == "block":
        return BlockedOperation(
            "safeops blocked " + message,
            event=finding.event,
            rule=finding.rule,
            call_site=where,
            replacement=finding.replacement,
        )
    if effective == "warn" and first:
        warnings.warn_explicit(
            SafeOpsWarning("safeops: " + message),
            SafeOpsWarning,
            site.file if site else "<unknown>",
            site.line if site else 0,
            module=site.module if site else None,
        )
    return None


def _check_tightening(old: _Config, mode: Mode, policy: Policy, unsafe_relax: bool) -> None:
    if unsafe_relax:
        return
    if MODES.index(mode) < MODES.index(old.mode):
        raise EnforcementSetupError(
            f"enforce(mode={mode!r}) would relax the active mode {old.mode!r}; pass "
            "unsafe_relax=True if that is intended",
            mode=mode,
            active_mode=old.mode,
        )
    if not policy.is_at_least_as_strict_as(old.policy):
        raise EnforcementSetupError(
            "the new policy would relax the active one (a weaker rule level, more trusted "
            "patterns or fewer restricted ones); pass unsafe_relax=True if that is intended"
        )


def _load_rules(policy: Policy) -> Rules:
    # The shared knowledge, imported lazily: only enforce() needs it.
    from safeops.command._knowledge import find_shell_command
    from safeops.serialize.legacy._allowlist import is_safe_global

    return Rules(policy, is_safe_global=is_safe_global, find_shell_command=find_shell_command)


def _verify() -> None:
    """Raise the probe event and require the hook to have seen it."""
    _state.probe_token = secrets.token_hex(8)
    _state.probe_seen = False
    sys.audit(PROBE_EVENT, _state.probe_token)
    if not _state.probe_seen:
        raise EnforcementSetupError(
            "the safeops audit hook is not receiving events: an audit hook installed "
            "earlier refused sys.addaudithook (CPython then drops the new hook silently). "
            "Enforcement is NOT active."
        )


def install(
    mode: Mode,
    policy: Policy | None,
    report: str | None,
    *,
    unsafe_relax: bool = False,
) -> Enforcement:
    """Install or re-configure the process-wide hook (see ``safeops.enforce``)."""
    if mode not in MODES:
        raise EnforcementSetupError(f"unknown mode {mode!r}; expected one of {MODES}")
    with _lock:
        old = _state.config
        if old is not None:
            new_policy = old.policy if policy is None else policy
            _check_tightening(old, mode, new_policy, unsafe_relax)
            if (
                report is not None
                and _state.reporter is not None
                and report != _state.reporter.path
            ):
                if _state.reporter.path is not None:
                    raise EnforcementSetupError(
                        f"the report already goes to {_state.reporter.path!r}; it cannot move",
                        report=report,
                    )
                _state.reporter.path = report
            rules = old.rules if new_policy == old.policy else _load_rules(new_policy)
            _state.config = _Config(mode, new_policy, rules)
            _verify()
            _carry_to_children()
            assert _state.handle is not None
            return _state.handle
        new_policy = policy if policy is not None else Policy()
        rules = _load_rules(new_policy)
        from safeops.enforce import _fork_exec

        _fork_exec.install_wrappers()
        _state.reporter = Reporter(report)
        _state.config = _Config(mode, new_policy, rules)
        try:
            sys.addaudithook(_make_hook(dict(rules.handlers, **{PROBE_EVENT: _noop})))
        except Exception as error:
            _state.config = None
            raise EnforcementSetupError(
                f"sys.addaudithook failed: {error!r}; enforcement is NOT active"
            ) from error
        try:
            _verify()
        except EnforcementSetupError:
            _state.config = None
            raise
        _carry_to_children()
        atexit.register(flush_at_exit)
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _state.handle = Enforcement()
        return _state.handle


def _carry_to_children() -> None:
    from safeops.enforce import _fork_exec, _startup

    config = _current()
    path = _state.reporter.path if _state.reporter is not None else None
    _fork_exec.set_child_bootstrap(
        _startup.child_prefix(config.mode, config.policy.as_mapping(), path)
    )


def _noop(event: str, args: tuple[Any, ...], frame: FrameType | None) -> None:
    return None


def flush_at_exit() -> None:
    """Append the pending records to the report (atexit and worker finalizers)."""
    if _state.reporter is not None:
        _state.reporter.flush()


def _after_fork_in_child() -> None:
    reporter = _state.reporter
    if reporter is None:
        return
    reporter.reset_in_child()
    reporter.write_through = True
    _busy.active = False
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None and reporter.path is not None:
        # multiprocessing workers leave through os._exit: flush from its finalizers.
        mp_util.Finalize(None, flush_at_exit, exitpriority=0)

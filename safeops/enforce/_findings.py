"""What a rule decided: a :class:`Finding`, with its message parts and replacement.

Kept apart from the rules themselves (:mod:`._rules`, :mod:`._process_rules`) so the
report, the hook and the rules share one record type, so that every detail passes
through one place that bounds it and escapes what could forge a log line, and so that
every rule settles permits the same way (:func:`outcome`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from safeops import _permits
from safeops.enforce._attribution import Attribution
from safeops.enforce._locations import CallSite
from safeops.enforce._policy import Level
from safeops.errors import quote

__all__ = [
    "REPLACEMENTS",
    "RULES",
    "Finding",
    "application_permit",
    "make_finding",
    "outcome",
    "rule_finding",
]

_DETAIL_LIMIT: Final = 200

REPLACEMENTS: Final = {
    "pickle": "safeops.serialize (new data) or safeops.serialize.legacy with an explicit "
    "allow-list (old pickles)",
    "marshal": "safeops.serialize; marshal is for the import system's own .pyc files",
    "dynamic_code": "safe_eval()/compile_expr() for expressions, safe_eval(mode='literal') "
    "for data, safe_exec() for scripts",
    "process.shell": "run_cmd([...]) with an argument list (no shell)",
    "process.spawn": "run_cmd([...])",
    "process.code": "a script file run with run_cmd([...]) (Program(..., unsafe_allow_code=True)), "
    "or safe_eval()/safe_exec() for code that comes from data",
    "process.template": "a reviewed helper function handed to the template, which calls "
    "run_cmd([...])",
    "native": "a reviewed extension module, or a scoped safeops.permit('native', reason=...)",
    "escape": "nothing: logged for review",
}

#: Each rule's category (named in its message and the report) and its key in
#: :data:`REPLACEMENTS`.
RULES: Final = {
    "pickle.global": ("pickle", "pickle"),
    "pickle.build_class": ("pickle", "pickle"),
    "marshal.loads": ("dynamic_code", "marshal"),
    "dynamic_code.compile": ("dynamic_code", "dynamic_code"),
    "dynamic_code.exec": ("dynamic_code", "dynamic_code"),
    "process.shell": ("process", "process.shell"),
    "process.code": ("process", "process.code"),
    "process.template": ("process", "process.template"),
    "process.spawn": ("process", "process.spawn"),
    "native.ctypes": ("native", "native"),
    "interpreter.create": ("native", "native"),
    "escape.code_new": ("native", "escape"),
    "escape.set_code": ("native", "escape"),
    "escape.audit_hook": ("native", "escape"),
}


#: Types whose repr is CPython's own C code (no user method can run). A tuple compared
#: by identity: a set lookup would hash the type, running a metaclass's __hash__.
_PLAIN_REPR = (str, bytes, bytearray, int, float, complex, bool, type(None))
_TYPE_NAME = type.__dict__["__qualname__"]


def _printable_detail(detail: object) -> str:
    """*detail* as one bounded, printable line for messages, warnings and the report.

    Text that is printable and short is kept as written (commands stay readable); any
    control or other non-printable character (newline, ANSI escape, bidi override) is
    repr-escaped in place, so attacker text cannot forge log lines or recolour a terminal
    (attack review 2026-11-28, E12). Long text and other values are ``quote()``d.

    This runs inside the audit hook, whose own events are not judged, so it must run no
    method of the application's objects: a ``__repr__`` (of an ``ast.AST`` subclass given
    to ``compile``, say) could start a process unseen. Text is read through ``str``'s
    own C method, only CPython's reprs of plain values are used, and anything else is
    shown by its type's name (enforce de-duplication review, 2026-11-28)."""
    if issubclass(type(detail), str):  # a C-level check of the type, never __class__
        text = str.__str__(detail)
        if len(text) <= _DETAIL_LIMIT:
            if text.isprintable():
                return text
            return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
        return quote(text, _DETAIL_LIMIT)
    return _plain_repr(detail, nested=False)


def _plain_repr(value: object, *, nested: bool) -> str:
    kind = type(value)
    if any(kind is plain for plain in _PLAIN_REPR):
        return quote(value, _DETAIL_LIMIT)
    if kind is tuple and not nested:  # e.g. the arguments of ctypes.call_function
        items = [_plain_repr(item, nested=True) for item in value[:8]]  # type: ignore[index]
        more = ", ..." if len(value) > 8 else ""  # type: ignore[arg-type]
        return _printable_detail(f"({', '.join(items)}{more})")
    return f"<{_TYPE_NAME.__get__(kind)} object>"


@dataclass(frozen=True)
class Finding:
    """One rule outcome worth recording: a violation, or an application permit used."""

    rule: str
    category: str
    event: str
    level: Level
    site: CallSite | None
    why: str
    detail: str
    replacement: str
    permit: _permits.Permit | None = None


def make_finding(
    *,
    rule: str,
    category: str,
    event: str,
    level: Level,
    where: Attribution | CallSite | None,
    why: str,
    detail: object,
    replacement_key: str,
) -> Finding:
    """A :class:`Finding` with its detail made printable and bounded."""
    site = where.site if isinstance(where, Attribution) else where
    return Finding(
        rule=rule,
        category=category,
        event=event,
        level=level,
        site=site,
        why=why,
        detail=_printable_detail(detail),
        replacement=REPLACEMENTS[replacement_key],
    )


def application_permit(permit: _permits.Permit, finding: Finding) -> Finding | None:
    """Events allowed by safeops' own permits are not recorded; an application's scoped
    exceptions are (that is the point of logging them)."""
    if permit.origin != "application":
        return None
    return Finding(**{**finding.__dict__, "permit": permit})


def rule_finding(
    rule: str, event: str, level: Level, *, where: Attribution | CallSite | None, why: str,
    detail: object,
) -> Finding:
    """:func:`make_finding` for one of :data:`RULES`, with its category and replacement."""
    category, replacement_key = RULES[rule]
    return make_finding(
        rule=rule, category=category, event=event, level=level, where=where, why=why,
        detail=detail, replacement_key=replacement_key,
    )


def outcome(
    finding: Finding,
    permit: _permits.Permit | None,
    covers: Callable[[_permits.Permit], bool],
) -> Finding | None:
    """What a rule returns for *finding*: the finding itself, unless *permit* (the active
    permit that may apply, if any) covers the event, as *covers* decides. A covering
    permit of safeops' own allows the event silently; an application's is recorded with
    the finding (:func:`application_permit`)."""
    if permit is not None and covers(permit):
        return application_permit(permit, finding)
    return finding

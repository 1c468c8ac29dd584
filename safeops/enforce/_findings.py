"""What a rule decided: a :class:`Finding`, with its message parts and replacement.

Kept apart from the rules themselves (:mod:`._rules`) so the report, the hook and the
rules share one record type, and so that every detail passes through one place that
bounds it and escapes what could forge a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from safeops import _permits
from safeops.enforce._attribution import Attribution
from safeops.enforce._locations import CallSite
from safeops.enforce._policy import Level
from safeops.errors import quote

__all__ = ["REPLACEMENTS", "Finding", "application_permit", "make_finding"]

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


def _printable_detail(detail: object) -> str:
    """*detail* as one bounded, printable line for messages, warnings and the report.

    Text that is printable and short is kept as written (commands stay readable); any
    control or other non-printable character (newline, ANSI escape, bidi override) is
    repr-escaped in place, so attacker text cannot forge log lines or recolour a terminal
    (attack review 2026-11-28, E12). Long text and other objects are ``quote()``d."""
    if isinstance(detail, str) and len(detail) <= _DETAIL_LIMIT:
        if detail.isprintable():
            return detail
        return "".join(char if char.isprintable() else repr(char)[1:-1] for char in detail)
    return quote(detail, _DETAIL_LIMIT)


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

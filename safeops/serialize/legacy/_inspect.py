"""``serialize.legacy.inspect``: what a pickle would import and call, without running it.

The report comes from the same symbolic opcode walk the loader uses (:mod:`._scan`):
nothing is imported, called or built. Obfuscated forms are seen through because the walk
follows the stack and the memo: a STACK_GLOBAL whose names come from the memo is the same
global as a plain GLOBAL, a name computed by a call is flagged as such, a call of a value
returned by another call (``getattr(os, "system")(...)``) is flagged, and byte or text
constants that are themselves pickles are walked too (``nested_in`` gives their offsets).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from safeops.errors import quote
from safeops.serialize._limits import DEFAULT_LIMITS, Limits
from safeops.serialize.legacy._policy import (
    RECONSTRUCTOR,
    AllowEntry,
    Policy,
    Verdict,
    classify,
    describe,
    is_bare_uuid,
    makes_bare_uuid,
    parse_allow,
    vet_build,
    vet_call,
    vet_mutate,
)
from safeops.serialize.legacy._scan import walk
from safeops.serialize.legacy._symbolic import Global, Malformed, Node, OverLimit, Visitor

__all__ = ["Finding", "InspectReport", "inspect"]

_RANK = {"safe": 0, "needs-allow": 1, "dangerous": 2}
_MAX_NESTING = 4


@dataclass(frozen=True)
class Finding:
    """One thing the pickle would do.

    ``kind`` is ``global`` (a name it would import), ``call`` (something it would call),
    ``state`` (state or items set through an object's methods) or ``structure`` (a
    budget the data exceeds). ``target`` names the global or callee, ``detail`` says
    why the verdict was reached, ``offset`` is the opcode's byte offset and
    ``nested_in`` the offsets of the constants this finding is nested in.
    """

    kind: Literal["global", "call", "state", "structure"]
    verdict: Verdict
    target: str
    detail: str
    opcode: str
    offset: int
    nested_in: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "kind": self.kind,
            "verdict": self.verdict,
            "target": self.target,
            "detail": self.detail,
            "opcode": self.opcode,
            "offset": self.offset,
            "nested_in": list(self.nested_in),
        }


@dataclass(frozen=True)
class InspectReport:
    """Everything :func:`inspect` found in one pickle.

    ``verdict`` is the worst finding's (``safe`` when there are none). ``error`` is set
    when the walk had to stop early (malformed or truncated data): the findings up to
    that point are still reported, since pickle runs opcodes as it reads them.
    """

    size: int
    protocol: int
    findings: tuple[Finding, ...]
    error: str | None = None

    @property
    def verdict(self) -> Verdict:
        worst: Verdict = "safe"
        for finding in self.findings:
            if _RANK[finding.verdict] > _RANK[worst]:
                worst = finding.verdict
        return worst

    @property
    def dangerous(self) -> bool:
        """True if anything dangerous was found."""
        return self.verdict == "dangerous"

    @property
    def globals(self) -> tuple[str, ...]:
        """Every distinct global the pickle names, in order of first appearance."""
        seen: dict[str, None] = {}
        for finding in self.findings:
            if finding.kind == "global":
                seen.setdefault(finding.target, None)
        return tuple(seen)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (the ``safeops inspect --json`` format)."""
        return {
            "size": self.size,
            "protocol": self.protocol,
            "verdict": self.verdict,
            "error": self.error,
            "globals": list(self.globals),
            "findings": [finding.as_dict() for finding in self.findings],
        }


def inspect(
    data: bytes | bytearray | memoryview,
    *,
    allow: Iterable[AllowEntry] = frozenset(),
    limits: Limits | None = None,
) -> InspectReport:
    """Report every global *data* would import and every call it would make.

    Never imports, calls or builds anything from the data. *allow* marks the caller's
    classes as safe (as in :func:`loads`); *limits* bounds the walk like the loader's.
    Findings are ``safe`` (the loader accepts it), ``needs-allow`` (an unknown global:
    the loader refuses it unless allowed) or ``dangerous`` (a known gadget, an
    obfuscated name or call, state set on a class, a budget exceeded).
    """
    raw = bytes(data)
    policy = Policy(parse_allow(allow))
    active = DEFAULT_LIMITS if limits is None else limits
    findings: list[Finding] = []
    protocol = raw[1] if len(raw) > 1 and raw[0] == 0x80 else 0
    if len(raw) > active.max_bytes:
        stop = OverLimit(0, "max_bytes", active.max_bytes)
        findings.append(_over_limit(stop, ()))
        return InspectReport(len(raw), protocol, tuple(findings), error=f"{stop} (not walked)")
    error = _walk_into(raw, policy, active, findings, ())
    return InspectReport(size=len(raw), protocol=protocol, findings=tuple(findings), error=error)


def _walk_into(
    data: bytes,
    policy: Policy,
    limits: Limits,
    findings: list[Finding],
    nested_in: tuple[int, ...],
) -> str | None:
    visitor = _Recorder(policy, limits, findings, nested_in)
    try:
        walk(
            data,
            visitor,
            max_elements=limits.max_elements,
            max_depth=limits.max_depth,
            max_memo=min(limits.max_elements, len(data)),
            max_str_len=limits.max_str_len,
            max_int_digits=limits.max_int_digits,
        )
    except Malformed as stop:
        if stop.feature:
            findings.append(
                Finding(
                    kind="structure",
                    verdict="dangerous",
                    target=stop.feature,
                    detail=f"{stop.reason}: what it loads cannot be judged from the bytes",
                    opcode=stop.feature,
                    offset=stop.offset,
                    nested_in=nested_in,
                )
            )
        return f"{stop.reason} (at byte {stop.offset})"
    except OverLimit as stop:
        findings.append(_over_limit(stop, nested_in))
        return str(stop)
    return None


def _over_limit(stop: OverLimit, nested_in: tuple[int, ...]) -> Finding:
    return Finding(
        kind="structure",
        verdict="dangerous",
        target=stop.limit,
        detail=f"exceeds {stop.limit}={stop.maximum} (a resource-exhaustion pattern "
        "or a larger budget is needed)",
        opcode="",
        offset=stop.offset,
        nested_in=nested_in,
    )


class _Recorder(Visitor):
    wants_constants = True

    def __init__(
        self,
        policy: Policy,
        limits: Limits,
        findings: list[Finding],
        nested_in: tuple[int, ...],
    ) -> None:
        self.policy = policy
        self.limits = limits
        self.findings = findings
        self.nested_in = nested_in
        self.bare_uuids = 0

    def _add(
        self, kind: Any, verdict: Verdict, target: str, detail: str, where: tuple[str, int]
    ) -> None:
        opcode, offset = where
        self.findings.append(Finding(kind, verdict, target, detail, opcode, offset, self.nested_in))

    def global_(self, offset: int, opname: str, ref: Global) -> None:
        if ref.computed:
            self._add(
                "global",
                "dangerous",
                ref.dotted,
                "the name is computed while loading (obfuscation)",
                (opname, offset),
            )
            return
        pair = (ref.module, ref.name)
        verdict = classify(pair, self.policy.pairs)
        detail = {
            "safe": "on the allow-list",
            "needs-allow": "not on the allow-list: refused unless the caller allows it",
            "dangerous": "a known code-execution, file, process or interpreter gadget (or a "
            "standard-library global that is not vetted)",
        }[verdict]
        if pair == RECONSTRUCTOR:
            detail = "object reconstructor: each call is judged by the class it is given"
        if ref.raw != ref.dotted:
            detail += f" (written as {ref.raw})"
        self._add("global", verdict, ref.dotted, detail, (opname, offset))

    def call(
        self,
        offset: int,
        opname: str,
        func: Any,
        args: tuple[Any, ...],
        kwargs: Node | None = None,
    ) -> None:
        shown = ", ".join(describe(arg) for arg in args[:4]) + (", ..." if len(args) > 4 else "")
        if kwargs is not None and kwargs.weight > 1:
            shown += ", **<keyword arguments>"
        target = f"{describe(func)}({shown})"
        if makes_bare_uuid(func, args):
            self.bare_uuids += 1
        problem = vet_call(self.policy, opname, func, args, kwargs)
        if problem is None:
            self._add("call", "safe", target, "a vetted constructor", (opname, offset))
            return
        verdict: Verdict = "dangerous"
        if type(func) is Global and not func.computed:
            pair = (func.module, func.name)
            if pair == RECONSTRUCTOR and args and type(args[0]) is Global:
                verdict = classify((args[0].module, args[0].name), self.policy.pairs)
                verdict = "dangerous" if verdict == "safe" else verdict
            elif pair not in self.policy.pairs:
                verdict = classify(pair, self.policy.pairs)
        self._add("call", verdict, target, problem, (opname, offset))

    def build(self, offset: int, target: Any, state: Any) -> None:
        if is_bare_uuid(target):
            self.bare_uuids -= 1
        problem = vet_build(self.policy, target, state)
        if problem is not None:
            self._add("state", "dangerous", describe(target), problem, ("BUILD", offset))

    def finish(self, offset: int) -> None:
        if self.bare_uuids:
            self._add(
                "state",
                "dangerous",
                "uuid.UUID(...)",
                "a UUID is created without its value and never given state",
                ("STOP", offset),
            )

    def mutate(self, offset: int, opname: str, target: Any) -> None:
        problem = vet_mutate(opname, target)
        if problem is not None:
            self._add("state", "dangerous", describe(target), problem, (opname, offset))

    def constant(self, offset: int, value: str | bytes) -> None:
        if len(value) < 4:
            return
        if isinstance(value, str):
            try:
                value = value.encode("latin-1")
            except UnicodeEncodeError:
                return
        if not _looks_like_pickle(value):
            return
        if len(self.nested_in) >= _MAX_NESTING:
            # Deeper than we walk: unknown is not safe (a loader would unwrap it).
            self._add(
                "structure",
                "dangerous",
                "nested pickle",
                f"a {len(value)}-byte constant looks like a pickle nested more than "
                f"{_MAX_NESTING} levels deep: not inspected",
                ("", offset),
            )
            return
        nested: list[Finding] = []
        error = _walk_into(value, self.policy, self.limits, nested, (*self.nested_in, offset))
        if not nested:
            return  # not a pickle after all, or one that names nothing: inert data
        self.findings.extend(nested)
        worst = max((finding.verdict for finding in nested), key=_RANK.__getitem__)
        note = f" (walk stopped: {quote(error, 60)})" if error else ""
        self._add(
            "structure",
            worst,
            "nested pickle",
            f"a {len(value)}-byte constant is itself a pickle{note}",
            ("", offset),
        )


def _looks_like_pickle(value: bytes) -> bool:
    if value[0] == 0x80 and value[1] <= 5:
        return True
    # Protocols 0-1 have no header; a pickle starts with an opcode and holds a STOP
    # (pickle.loads ignores whatever follows the STOP, so it need not end with one).
    return value[:1] in b"(cSVXIFLNU]}ltdi)\x88\x89KJM" and b"." in value

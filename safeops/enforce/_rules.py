"""The event rules: for each gated audit event, is this occurrence a violation?

Each rule returns ``None`` (allowed, nothing to record) or a :class:`Finding`. A finding
is either a violation, acted on by the hook according to the mode and the rule's level,
or an event allowed by an *application* permit (recorded so scoped exceptions show up in
the report); :func:`._findings.outcome` settles the permit the same way for every rule.
The rules by category, with their defaults (see docs/enforce.md):

- ``pickle.global``: ``pickle.find_class`` of a global outside the shared allow-list,
  whoever unpickles; only the stdlib frames that read multiprocessing's and
  concurrent.futures' own IPC messages are exempt (not their workers' callbacks).
  ``pickle.build_class``: BUILD applied to an allow-listed class itself (setting its
  attributes process-wide), whoever unpickles (:mod:`._class_guard`).
- ``marshal.loads``, ``dynamic_code.compile``, ``dynamic_code.exec``: judged by who
  supplied the bytes, source or code object (:mod:`._attribution`).
- ``process.*``: process creation and forks (:mod:`._process_rules`).
- ``native.ctypes``: ``ctypes`` loading a library or resolving a symbol from restricted
  code; ``interpreter.create``: a sub-interpreter (this hook would not run in it).
- ``escape.*`` (policy ``escape_hatches``): code objects built by hand, ``__code__``
  assigned, another audit hook added.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Sequence
from types import CodeType, FrameType
from typing import Final

from safeops import _permits
from safeops.enforce._attribution import attribute
from safeops.enforce._class_guard import BUILD_CLASS_EVENT, build_detail, guard_classes
from safeops.enforce._findings import Finding, outcome, rule_finding
from safeops.enforce._locations import first_frame, site_of, trust_of
from safeops.enforce._policy import Policy
from safeops.enforce._process_rules import ProcessRules
from safeops.enforce._subjects import (
    FORK_EXEC_EVENT,
    any_permit,
    code_permit_covers,
    pickle_permit_covers,
    unscoped,
)

__all__ = ["FORK_EXEC_EVENT", "PROBE_EVENT", "SUBINTERPRETER_EVENT", "Finding", "Rules"]

#: The event ``enforce()`` raises to prove its hook is live.
PROBE_EVENT: Final = "safeops.enforce.probe"
#: Raised by safeops' wrappers around operations CPython does not audit.
SUBINTERPRETER_EVENT: Final = "safeops.subinterpreter"

_PICKLE_PLUMBING: Final = frozenset({"pickle", "copyreg", "_compat_pickle", "shelve"})
#: The interpreter's own IPC reads: (module, function) of the stdlib frames that call
#: ``loads``/``load`` on their own messages (CPython 3.10-3.13): ``Connection.recv``
#: (also behind concurrent.futures' result reads, managers and pools), ``Queue.get`` /
#: ``SimpleQueue.get`` (concurrent.futures' call items), and a spawned child reading its
#: preparation data and process object. Only these frames are exempt: a worker that runs
#: a callable it was handed (``executor.map(pickle.loads, blobs)``) is not an IPC read.
_IPC_READS: Final = frozenset(
    {
        ("multiprocessing.connection", "recv"),
        ("multiprocessing.queues", "get"),
        ("multiprocessing.spawn", "_main"),
    }
)
_NATIVE_PLUMBING: Final = frozenset({"ctypes.*"})
_NO_PLUMBING: Final = frozenset[str]()
_COMPILE_NAMES: Final = frozenset({"compile", "exec", "eval"})
_EXEC_NAMES: Final = frozenset({"exec", "eval"})
_MARSHAL_NAMES: Final = frozenset({"loads", "load"})
_AST_PARSE_CODE: Final = ast.parse.__code__

_Handler = Callable[[str, tuple[object, ...], FrameType | None], "Finding | None"]


class Rules:
    """The rules of one policy, bound to the shared allow-list and shell knowledge."""

    def __init__(
        self,
        policy: Policy,
        *,
        is_safe_global: Callable[[str, str], bool],
        find_shell_command: Callable[[Sequence[str]], str | None],
    ) -> None:
        self.policy = policy
        self._is_safe_global = is_safe_global
        processes = ProcessRules(policy, find_shell_command=find_shell_command)
        self.process: _Handler = processes.process
        self.fork: _Handler = processes.fork
        #: Checks that settle an event from its arguments alone, before the hook pays
        #: for a frame: an allow-listed pickle global is the common case.
        self.fast_allow: dict[str, Callable[[tuple[object, ...]], bool]] = {
            "pickle.find_class": self._safe_global_args,
        }
        self.handlers: dict[str, _Handler] = {
            "pickle.find_class": self.pickle_find_class,
            BUILD_CLASS_EVENT: self.pickle_build_class,
            "marshal.loads": self.marshal,
            "marshal.load": self.marshal,
            "compile": self.compile,
            "exec": self.exec,
            "os.system": self.process,
            "subprocess.Popen": self.process,
            "os.exec": self.process,
            "os.posix_spawn": self.process,
            "os.spawn": self.process,
            FORK_EXEC_EVENT: self.process,
            "os.fork": self.fork,
            "os.forkpty": self.fork,
            "ctypes.dlopen": self.native,
            "ctypes.dlsym": self.native,
            "ctypes.dlsym/handle": self.native,
            SUBINTERPRETER_EVENT: self.interpreter,
            "code.__new__": self.escape,
            "object.__setattr__": self.escape,
            "sys.addaudithook": self.escape,
        }
        if sys.version_info < (3, 12):
            # Refusing this C-level event is clean on 3.10/3.11 (creation fails with
            # RuntimeError); on 3.12 it crashes the interpreter, and 3.13 no longer
            # raises it in the creating interpreter: there the wrapper's event is used.
            self.handlers["cpython.PyInterpreterState_New"] = self.interpreter
        allowlist = sys.modules.get("safeops.serialize.legacy._allowlist")
        if allowlist is not None:  # imported with is_safe_global by the caller
            guard_classes(allowlist.SAFE_GLOBALS)

    # --- deserialization ---------------------------------------------------------------

    def _safe_global_args(self, args: tuple[object, ...]) -> bool:
        if len(args) < 2:
            return False
        module, name = args[0], args[1]
        return type(module) is str and type(name) is str and self._is_safe_global(module, name)

    def pickle_find_class(
        self, event: str, args: tuple[object, ...], frame: FrameType | None
    ) -> Finding | None:
        if self.policy.pickle == "off" or len(args) < 2:
            return None
        module, name = args[0], args[1]
        # find_class accepts str subclasses; judge the characters themselves (read by
        # str's own method), never a subclass's __hash__/__eq__ in the allow-list lookup.
        if not issubclass(type(module), str) or not issubclass(type(name), str):
            return None  # find_class itself refuses non-strings
        module, name = str.__str__(module), str.__str__(name)
        if self._is_safe_global(module, name):
            return None
        caller = first_frame(frame, _PICKLE_PLUMBING)
        site = site_of(caller) if caller is not None else None
        if (
            site is not None
            and site.kind == "stdlib"
            and (site.module, site.function) in _IPC_READS
        ):
            return None  # the interpreter's own IPC between its worker processes
        finding = rule_finding(
            "pickle.global", event, self.policy.pickle, where=site, detail=f"{module}.{name}",
            why="the pickle names a global outside the safe allow-list "
            "(judged by what is unpickled, whoever unpickles)",
        )
        return outcome(
            finding,
            _permits.active("pickle"),
            lambda permit: pickle_permit_covers(permit.subject, module, name),
        )

    def pickle_build_class(
        self, event: str, args: tuple[object, ...], frame: FrameType | None
    ) -> Finding | None:
        """BUILD applied to an allow-listed class itself (see :mod:`._class_guard`)."""
        if self.policy.pickle == "off":
            return None
        caller = first_frame(frame, _PICKLE_PLUMBING)
        finding = rule_finding(
            "pickle.build_class", event, self.policy.pickle, detail=build_detail(args),
            where=site_of(caller) if caller is not None else None,
            why="the pickle sets attributes on an allow-listed class itself (BUILD), which "
            "would change that class for the whole process (judged by what is unpickled, "
            "whoever unpickles)",
        )
        return outcome(finding, _permits.active("pickle"), unscoped)

    def marshal(
        self, event: str, args: tuple[object, ...], frame: FrameType | None
    ) -> Finding | None:
        if self.policy.marshal == "off":
            return None
        data = args[0] if args else None
        attribution = attribute(frame, data, self.policy, names=_MARSHAL_NAMES)
        if attribution.trusted:
            return None
        finding = rule_finding(
            "marshal.loads", event, self.policy.marshal, where=attribution,
            why="marshal data can hold code objects; " + attribution.why,
            detail=data if data is not None else "<stream>",
        )
        return outcome(
            finding,
            _permits.active("dynamic_code") or _permits.active("pickle"),
            lambda permit: permit.subject is None or permit.subject is data,
        )

    # --- dynamic code ------------------------------------------------------------------

    def compile(
        self, event: str, args: tuple[object, ...], frame: FrameType | None
    ) -> Finding | None:
        if self.policy.dynamic_code == "off" or not args:
            return None
        source = args[0]
        if frame is not None and frame.f_code is _AST_PARSE_CODE:
            return None  # ast.parse builds a tree; running it needs another compile
        permit = _permits.active("dynamic_code")
        if (
            permit is not None
            and permit.origin == "safeops"
            and code_permit_covers(permit.subject, source, derived_ast=True)
        ):
            return None
        attribution = attribute(frame, source, self.policy, names=_COMPILE_NAMES, match_text=True)
        if attribution.trusted:
            return None
        finding = rule_finding(
            "dynamic_code.compile", event, self.policy.dynamic_code,
            where=attribution, why=attribution.why, detail=source,
        )
        return outcome(finding, permit, lambda active: code_permit_covers(active.subject, source))

    def exec(self, event: str, args: tuple[object, ...], frame: FrameType | None) -> Finding | None:
        if self.policy.dynamic_code == "off" or not args:
            return None
        code = args[0]
        permit = _permits.active("dynamic_code")
        if permit is not None and permit.origin == "safeops" and permit.subject is code:
            # The vetted evaluator runs the code object it compiled. Anything else executed
            # inside its permit (a host callback of an in-process safe_exec running its
            # own exec) is judged like any other exec (attack review 2026-11-28, E12).
            return None
        attribution = attribute(frame, code, self.policy, names=_EXEC_NAMES)
        if attribution.trusted:
            return None
        name = code.co_name if isinstance(code, CodeType) else type(code).__name__
        finding = rule_finding(
            "dynamic_code.exec", event, self.policy.dynamic_code,
            where=attribution, why=attribution.why, detail=f"<code object {name}>",
        )
        # Only an application's permit covers it: safeops' own covers just its code object.
        return outcome(finding, permit, lambda active: active.origin == "application")

    # --- native code and interpreters ----------------------------------------------------

    def native(
        self, event: str, args: tuple[object, ...], frame: FrameType | None
    ) -> Finding | None:
        if self.policy.native == "off":
            return None
        caller = first_frame(frame, _NATIVE_PLUMBING)
        if caller is None:
            return None
        site = site_of(caller)
        trusted, why = trust_of(site.kind, site.module, self.policy)
        if trusted:
            return None
        detail = args[-1] if event != "ctypes.dlopen" else (args[0] if args else None)
        finding = rule_finding(
            "native.ctypes", event, self.policy.native, where=site, why=why, detail=detail
        )
        return outcome(finding, _permits.active("native"), any_permit)

    def interpreter(
        self, event: str, args: tuple[object, ...], frame: FrameType | None
    ) -> Finding | None:
        if self.policy.interpreters == "off":
            return None
        caller = first_frame(frame, _NO_PLUMBING)
        finding = rule_finding(
            "interpreter.create", event, self.policy.interpreters,
            where=site_of(caller) if caller is not None else None,
            why="a sub-interpreter runs without this audit hook",
            detail=event,
        )
        return outcome(finding, _permits.active("native"), any_permit)

    def escape(
        self, event: str, args: tuple[object, ...], frame: FrameType | None
    ) -> Finding | None:
        if self.policy.escape_hatches == "off":
            return None
        if event == "object.__setattr__" and (len(args) < 2 or args[1] != "__code__"):
            return None
        caller = first_frame(frame, _NO_PLUMBING)
        if caller is None:
            return None
        site = site_of(caller)
        if event != "sys.addaudithook" and trust_of(site.kind, site.module, self.policy)[0]:
            return None
        rule = {"code.__new__": "escape.code_new", "object.__setattr__": "escape.set_code"}
        return rule_finding(
            rule.get(event, "escape.audit_hook"), event, self.policy.escape_hatches,
            where=site, why="an interpreter escape hatch (logged for review)", detail=event,
        )

"""The process rules: is this process creation or fork a violation?

Part of :class:`._rules.Rules` (which dispatches the process events here), kept apart
because processes are judged from their argument vectors as much as from frames. By
rule (see docs/enforce.md):

- ``process.shell``: ``os.system``, or any process whose program is a shell given a
  command string (directly or through argument-executing wrappers), whatever the event;
  also the command programs of :mod:`._programs` (awk ``system()``, sed ``e``...);
- ``process.code`` and ``process.template`` (policy ``process="shells"``):
  :func:`._processes.judge_process`; template code also must not fork;
- ``process.spawn`` (policy ``process="all"``): any other process creation or fork,
  except multiprocessing's and concurrent.futures' own workers.

Every finding is at level ``enforce``. A process permit without a subject covers any of
them; one with a subject covers only a process whose program it names (never a fork).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import FrameType
from typing import Final

from safeops import _permits
from safeops.enforce._findings import Finding, outcome, rule_finding
from safeops.enforce._locations import CallSite, first_frame, site_of
from safeops.enforce._policy import Policy
from safeops.enforce._processes import judge_process, template_frame
from safeops.enforce._subjects import (
    dash_c_command,
    is_interpreter_machinery,
    is_worker_start,
    process_subject,
    same_program,
    unscoped,
)

__all__ = ["ProcessRules"]

_PROCESS_PLUMBING: Final = frozenset(
    {"os", "subprocess", "pty", "posixpath", "asyncio.*", "multiprocessing.util"}
)
_SPAWN_WHY: Final = "this policy refuses processes not started by run_cmd"


class ProcessRules:
    """The process rules of one policy, bound to the shared shell knowledge."""

    def __init__(
        self, policy: Policy, *, find_shell_command: Callable[[Sequence[str]], str | None]
    ) -> None:
        self.policy = policy
        self._find_shell_command = find_shell_command

    def process(
        self, event: str, args: tuple[object, ...], frame: FrameType | None
    ) -> Finding | None:
        level = self.policy.process
        if level == "off":
            return None
        executable, argv = process_subject(event, args)
        command: str | None
        if event == "os.system":
            command = argv[0] if argv else ""
        else:
            command = self._shell_command(executable, argv)
        path = args[0] if args else None
        unnamed_fd = event == "os.exec" and executable is None and type(path) is int
        if command is None and unnamed_fd:
            command = dash_c_command(argv)  # fexecve of a file that cannot be named
        caller = first_frame(frame, _PROCESS_PLUMBING)
        where = site_of(caller) if caller is not None else None
        detail: object
        if command is not None:
            rule, detail = "process.shell", command
            why = "a shell is given a command string (judged by what runs, whoever asks)"
        elif caller is not None and is_worker_start(caller):
            return None  # multiprocessing starting its own worker interpreters
        else:
            verdict = judge_process(executable, argv, caller, self.policy)
            if verdict is not None:
                rule, where, why, detail = verdict.rule, verdict.site, verdict.why, verdict.detail
            elif level != "all" or (
                caller is not None and is_interpreter_machinery(caller, self.policy)
            ):
                return None
            else:
                rule, why = "process.spawn", _SPAWN_WHY
                detail = " ".join(argv) if argv else executable
        finding = rule_finding(rule, event, "enforce", where=where, why=why, detail=detail)
        program = executable if executable is not None else (argv[0] if argv else None)
        return outcome(
            finding,
            _permits.active("process"),
            lambda permit: permit.subject is None or same_program(permit.subject, program),
        )

    def fork(self, event: str, args: tuple[object, ...], frame: FrameType | None) -> Finding | None:
        if self.policy.process == "off":
            return None
        caller = first_frame(frame, _PROCESS_PLUMBING)
        template = template_frame(caller) if caller is not None else None
        where: CallSite | None
        if template is not None:
            rule, where = "process.template", site_of(template)
            why = "template code forks the process (server-side template injection)"
        elif self.policy.process != "all" or (
            caller is not None and is_interpreter_machinery(caller, self.policy)
        ):
            return None
        else:
            rule, why = "process.spawn", _SPAWN_WHY
            where = site_of(caller) if caller is not None else None
        finding = rule_finding(rule, event, "enforce", where=where, why=why, detail=event)
        return outcome(finding, _permits.active("process"), unscoped)

    def _shell_command(self, executable: str | None, argv: list[str]) -> str | None:
        if executable is not None and argv:
            command = self._find_shell_command([executable, *argv[1:]])
            if command is not None:
                return command
        return self._find_shell_command(argv) if argv else None

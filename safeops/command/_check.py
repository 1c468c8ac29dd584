"""Vetting a command before anything runs: the program, its wrappers and its options.

:func:`vet` turns what the caller wrote (argv, untrusted args, policy) into the exact
argv that will run, or raises UnsafeCommandError naming the rule that refused. Nothing
here starts a process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from safeops.command._knowledge import (
    ARG_EXECUTING_WRAPPERS,
    INTERPRETERS,
    SHELLS,
    normalise_name,
    wrapped_command,
)
from safeops.command._options import Scan, Syntax, Word, scan
from safeops.command._policy import CommandPolicy, Program
from safeops.command._resolve import resolve
from safeops.command._rules import (
    UNWRAPPED_WRAPPERS,
    WRAPPER_RULES,
    Rule,
    occurrence_refused,
    refuse,
    rule_for,
)
from safeops.errors import UnsafeCommandError, quote

__all__ = ["Vetted", "check_encodable", "check_words", "vet"]

_MULTICALL = frozenset({"busybox", "toybox"})
_NEEDS_COMMAND: frozenset[str] = frozenset()  # wrappers that start a shell without one
_FIND_ARGS = ("-", "(", ")", "!", ",")
_MAX_DEPTH = 8


@dataclass
class Vetted:
    """The command as it will run, and what its environment may contain."""

    argv: list[str]
    executable: str
    fixed_env: dict[str, str] = field(default_factory=dict)
    env_names: set[str] = field(default_factory=set)
    unsafe_env: set[str] = field(default_factory=set)
    assignments: dict[str, str] = field(default_factory=dict)


def _rule_of(policy: CommandPolicy, names: frozenset[str], written: str) -> Program | None:
    rules = [p for p in policy.rules() if normalise_name(p.name) in names or p.name in names]
    exact = [p for p in rules if p.name == written]
    found = exact or rules
    return found[0] if found else None


def vet(
    argv: list[str], args: list[str], policy: CommandPolicy, cwd: str | None, depth: int = 0
) -> Vetted:
    """Check *argv* + *args* against *policy*; return the argv that will run."""
    if depth > _MAX_DEPTH:
        raise refuse(argv[0], "wrapper-depth", "a chain of more than 8 wrappers",
                     "deep wrapper chains hide what runs", "Call the program directly")
    written = argv[0]
    written_name = normalise_name(os.path.basename(written))
    pinned = _rule_of(policy, frozenset({written_name, written}), written)
    executable, real_names = resolve(written, policy, pinned, cwd)
    names = real_names | {written_name}
    program = _rule_of(policy, names, written)
    label = os.path.basename(executable)
    if program is None and not policy.any_program:
        allowed = sorted(p.name for p in policy.rules())
        raise refuse(label, "allow-list", f"the program {quote(written)}",
                     f"it is not on the allow-list {allowed}",
                     "Add it to allow=[...] if the caller may run it")
    if program is not None and program.path is not None and (
        os.path.realpath(program.path) != os.path.realpath(executable)
    ):
        raise refuse(label, "pinned-path", f"{quote(executable)}",
                     f"Program({program.name!r}) is pinned to {program.path}",
                     "Call the pinned path or change the pin")
    opted_in = program is not None and program.unsafe_allow_code
    kind = _code_kind(names)
    if kind and not opted_in:
        raise refuse(label, kind[0], f"the {kind[1]} {quote(written)}", kind[2],
                     f"If this exact code must run, opt in by name with "
                     f"Program({written_name!r}, unsafe_allow_code=True); a plain allow "
                     "entry is not enough")
    result = Vetted(argv=[executable], executable=executable)
    if program is not None:
        result.env_names |= program.env
        result.unsafe_env |= program.unsafe_env
    if opted_in:
        return _opted_in(result, argv, args, label)
    wrapper = names & UNWRAPPED_WRAPPERS
    if wrapper:
        return _unwrap(result, argv=argv, args=args, policy=policy, cwd=cwd, depth=depth,
                       wrapper=sorted(wrapper)[0], label=label)
    rule = rule_for(names)
    _check_options(result, argv=argv, args=args, rule=rule, program=program, label=label)
    if rule is not None:
        result.fixed_env.update(rule.fixed_env)
    return result


def _code_kind(names: frozenset[str]) -> tuple[str, str, str] | None:
    if names & _MULTICALL:
        return ("multicall", "multi-call binary",
                "it runs whichever program its first argument names, past every rule")
    if names & SHELLS:
        return ("shell", "shell",
                "a shell runs code from -c, from script files and from stdin alike")
    if names & INTERPRETERS:
        return ("interpreter", "interpreter",
                "an interpreter (or a program whose operands or input are code: make, "
                "sqlite3, pydoc, m4, ...) runs code from its arguments, files and stdin")
    if names & (ARG_EXECUTING_WRAPPERS - UNWRAPPED_WRAPPERS - {"find", "gfind"}):
        return ("wrapper", "argument-executing program",
                "it runs commands built from its arguments or input (xargs, sudo, su, "
                "watch, ...), which bypasses the checks on args")
    return None


def _opted_in(result: Vetted, argv: list[str], args: list[str], label: str) -> Vetted:
    if args and len(argv) == 1:
        raise refuse(label, "code-from-args", "args without code in argv",
                     "the first argument would choose the code this program runs",
                     "Write the script or -c code in argv; args are data")
    _refuse_dash_args(args, label, "its options are not known to run_cmd")
    result.argv += argv[1:] + args
    return result


def _refuse_dash_args(
    args: list[str], label: str, why: str, starts: tuple[str, ...] = ("-",)
) -> None:
    for arg in args:
        if arg.startswith(starts):
            raise refuse(label, "option-like-arg", f"the argument {quote(arg)}",
                         f"it would be read as an option: {why}",
                         "Pass file names as ./name or an absolute path")


def _unwrap(
    result: Vetted,
    *,
    argv: list[str],
    args: list[str],
    policy: CommandPolicy,
    cwd: str | None,
    depth: int,
    wrapper: str,
    label: str,
) -> Vetted:
    rule = WRAPPER_RULES.get("env" if wrapper in ("env", "genv") else wrapper)
    own = argv[1:]
    inner = wrapped_command(wrapper, own)
    if inner is not None and (len(inner) > len(own) or own[len(own) - len(inner) :] != inner):
        raise refuse(label, "wrapper-shell", "a command string",
                     "this wrapper would run it through a shell or re-split it into words",
                     "Write the wrapped command as separate argv words")
    if inner is None:
        if args or wrapper in _NEEDS_COMMAND:
            raise refuse(label, "wrapper-command", "a wrapped command taken from args",
                         "the program a wrapper runs must be written in argv",
                         "Write the wrapped program in argv; args are data")
        result.argv += own
        return result
    head = own[: len(own) - len(inner)]
    parsed = scan([Word(w, True) for w in head], rule.syntax if rule else Syntax(permute=False))
    if wrapper in ("env", "genv"):
        for occurrence in parsed.options:
            if occurrence.name in ("-i", "-u", "-S", "-0", "-C", "-P", "-a") or (
                occurrence.long and occurrence.name != "--"
            ):
                raise refuse(label, "env-options", f"env {occurrence.name}",
                             "run_cmd already gives a minimal environment; env's options "
                             "would clear or rewrite it, re-split words or change "
                             "directory", "Use run_cmd's env= and cwd= instead")
        for word in parsed.operands:
            name, _, value = word.text.partition("=")
            result.assignments[name] = value
    elif rule is not None:
        for occurrence in parsed.options:
            refused = occurrence_refused(occurrence, rule.code_options, rule.syntax)
            if refused:
                raise refuse(label, "wrapper-options", refused, "it runs other code",
                             "Call the program directly")
    inner_result = vet(inner, args, policy, cwd, depth + 1)
    result.argv += head + inner_result.argv
    result.fixed_env.update(inner_result.fixed_env)
    result.env_names |= inner_result.env_names
    result.unsafe_env |= inner_result.unsafe_env
    result.assignments.update(inner_result.assignments)
    return result


def _check_options(
    result: Vetted,
    *,
    argv: list[str],
    args: list[str],
    rule: Rule | None,
    program: Program | None,
    label: str,
) -> None:
    syntax = rule.syntax if rule is not None else Syntax()
    words = [Word(w, True) for w in (*(rule.prepend if rule else ()), *argv[1:])]
    if args:
        if rule is None:
            # Whether an unknown program honours `--` is unknown: insert it and refuse
            # option-like args anyway.
            _refuse_dash_args(args, label, "run_cmd has no rule saying this program "
                              "honours `--`")
        elif rule.dash_args or not syntax.double_dash:
            starts = _FIND_ARGS if "find" in rule.names else ("-",)
            why = ("this program reads options even after `--`" if syntax.double_dash
                   else "this program does not honour `--`")
            _refuse_dash_args(args, label, why, starts)
        if syntax.double_dash and "--" not in argv[1:]:
            words.append(Word("--", True))
        words += [Word(a, False) for a in args]
    parsed = scan(words, syntax)
    refused_options: frozenset[str] = frozenset()
    file_options: frozenset[str] = frozenset()
    allowed: frozenset[str] = frozenset()
    if rule is not None:
        refused_options, file_options = rule.code_options, rule.file_options
    if program is not None:
        allowed = program.unsafe_allow_options
        refused_options = (refused_options | program.refuse_options) - allowed
    for occurrence in parsed.options:
        if not occurrence.word.trusted:
            raise refuse(label, "option-like-arg", f"the argument {quote(occurrence.word.text)}",
                         "an untrusted argument would be read as an option",
                         "Pass file names as ./name or an absolute path")
        option = occurrence_refused(occurrence, refused_options, syntax)
        if option:
            why = rule.why if rule is not None and option not in (
                program.refuse_options if program else ()) else "the policy refuses it"
            raise refuse(label, f"{label}-options", f"{quote(occurrence.word.text)} ({option})",
                         f"{why}", _allow_hint(label, option))
        if not occurrence.value_trusted and occurrence_refused(occurrence, file_options, syntax):
            raise refuse(label, "file-option-from-args", f"a value for {occurrence.name} from args",
                         "this option reads or writes the file it names",
                         "Write the option and its value in argv")
    _check_subcommands(parsed, program, label)
    if rule is not None and rule.check is not None:
        rule.check(label, parsed, rule, allowed)
    result.argv += [w.text for w in words]


def _allow_hint(label: str, option: str) -> str:
    return (f"If it must run with {option}, opt in deliberately with "
            f"Program({label!r}, unsafe_allow_options={{{option!r}}})")


def _check_subcommands(parsed: Scan, program: Program | None, label: str) -> None:
    if program is None or program.subcommands is None:
        return
    sub = parsed.subcommand
    if sub is None and parsed.operands and parsed.operands[0].trusted:
        sub = parsed.operands[0].text
    if sub not in program.subcommands:
        raise refuse(label, "subcommands", f"the subcommand {quote(sub)}",
                     f"Program({program.name!r}) allows only {sorted(program.subcommands)}",
                     "Add it to subcommands= if it is meant to run")


def check_words(values: object, what: str) -> list[str]:
    """Validate argv or args: a list of str/bytes/PathLike without NUL, CR or LF."""
    if isinstance(values, (str, bytes)):
        import shlex

        try:
            shown = shlex.split(values if isinstance(values, str) else os.fsdecode(values))
        except ValueError:
            shown = str(values).split()
        raise UnsafeCommandError(
            f"refused a string as {what}: run_cmd never parses a command line (that is the "
            f"shell injection it exists to prevent). Pass a list, e.g. {quote(shown, 120)}; if "
            "you must split a trusted string, call shlex.split() yourself",
            rule="string-argv",
        )
    try:
        items = list(values)  # type: ignore[call-overload]
    except TypeError:
        raise UnsafeCommandError(
            f"{what} must be a list of str, bytes or os.PathLike", rule="argument-type"
        ) from None
    words = []
    for index, item in enumerate(items):
        if not isinstance(item, (str, bytes, os.PathLike)):
            raise UnsafeCommandError(
                f"{what}[{index}] is {type(item).__name__}; arguments are str, bytes or "
                "os.PathLike (convert numbers with str())",
                rule="argument-type",
            )
        try:
            text = os.fspath(item)
        except Exception as error:  # a hostile or broken __fspath__
            raise UnsafeCommandError(
                f"{what}[{index}]: its __fspath__ failed ({type(error).__name__})",
                rule="argument-type",
            ) from None
        word = os.fsdecode(text) if isinstance(text, bytes) else text
        if not isinstance(word, str):
            raise UnsafeCommandError(f"{what}[{index}] is not text", rule="argument-type")
        check_encodable(word, f"{what}[{index}]")
        for char, name in (("\0", "NUL"), ("\r", "CR"), ("\n", "LF")):
            if char in word:
                raise UnsafeCommandError(
                    f"refused {what}[{index}] {quote(word)}: it contains {name}, which "
                    "programs and logs read as a line or string end",
                    rule="control-character",
                    argument=word,
                )
        words.append(word)
    return words


def check_encodable(text: str, what: str) -> None:
    """Refuse text the OS cannot take: a lone surrogate (U+D800, from JSON "\\ud800")
    has no file-system encoding, and Popen would raise UnicodeEncodeError."""
    try:
        os.fsencode(text)
    except UnicodeError:
        raise UnsafeCommandError(
            f"refused {what} {quote(text)}: it contains characters with no encoding in the "
            "file-system encoding (a lone surrogate such as '\\ud800')",
            rule="encoding",
        ) from None

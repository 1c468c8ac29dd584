"""Reading a command line the way the program will: option syntax and matching.

A refused option is only refused if it is recognised in every spelling the program
accepts: ``--opt=value`` and ``--opt value``, GNU/git unique abbreviations (``--upload``
for ``--upload-pack``), bundled short flags (``-xvI cmd``), attached values
(``-oProxyCommand=...``), single-dash long options (``find -exec``, ``openssl -engine``),
tar's old-style first word (``tar xIf``) and subcommands (``git -c k=v clone ...``).

Where the syntax of a program is not fully known the reading errs towards refusing:
a short letter not known to take a value is read as a flag, so the letters after it are
still checked; a long option that abbreviates a refused one is refused even when the
program might find it ambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Occurrence", "Scan", "Syntax", "Word", "matches", "scan"]


@dataclass(frozen=True)
class Syntax:
    """How a program parses its command line (only what matching needs)."""

    short_with_value: str = ""
    long_with_value: frozenset[str] = frozenset()
    known_long: frozenset[str] = frozenset()
    abbreviations: bool = True
    single_dash_long: bool = False
    double_dash: bool = True
    permute: bool = True
    old_style_first: bool = False
    subcommand: Syntax | None = None


@dataclass(frozen=True)
class Word:
    """One word of the final command line; ``trusted`` if the programmer wrote it in argv."""

    text: str
    trusted: bool


@dataclass(frozen=True)
class Occurrence:
    """One option as the program will read it.

    ``name`` is the option as written without its value: ``"-I"`` for a short letter
    (also inside a bundle), ``"--upload"`` for a long one, ``"-exec"`` for single-dash
    long options, ``"+cmd"`` style words keep their text. ``value`` is its argument when
    it takes one; ``section`` is ``"global"`` before a subcommand, else ``"command"``.
    """

    name: str
    value: str | None
    word: Word
    long: bool
    section: str
    value_trusted: bool = True


@dataclass
class Scan:
    """The options and operands of a command line; ``subcommand`` is the first operand
    when the syntax has subcommands."""

    options: list[Occurrence] = field(default_factory=list)
    operands: list[Word] = field(default_factory=list)
    subcommand: str | None = None


def _long_takes_value(name: str, syntax: Syntax) -> bool:
    if name in syntax.long_with_value:
        return True
    if name in syntax.known_long or not syntax.abbreviations:
        return False
    candidates = [n for n in (*syntax.long_with_value, *syntax.known_long) if n.startswith(name)]
    return bool(candidates) and all(n in syntax.long_with_value for n in candidates)


def scan(words: Sequence[Word], syntax: Syntax) -> Scan:
    """Split *words* (argv without the program) into options and operands."""
    result = Scan()
    section = "global" if syntax.subcommand is not None else "command"
    current = syntax
    end = False
    first = True
    i = 0
    while i < len(words):
        word = words[i]
        text = word.text
        i += 1
        if end:
            result.operands.append(word)
            continue
        if current.old_style_first and first and text and not text.startswith("-"):
            first = False
            # tar's traditional form: each letter an option, value letters take the
            # following words in order (`tar xIf cmd archive`).
            for letter in text:
                value: str | None = None
                if letter in current.short_with_value and i < len(words):
                    value, i = words[i].text, i + 1
                result.options.append(Occurrence("-" + letter, value, word, False, section))
            continue
        first = False
        if text == "--" and current.double_dash:
            end = True
            continue
        if text.startswith("-") and len(text) > 1 and current.single_dash_long:
            name, eq, value_text = text.lstrip("-").partition("=")
            value = value_text if eq else None
            value_trusted = word.trusted
            if not eq and name in current.long_with_value and i < len(words):
                value, value_trusted, i = words[i].text, words[i].trusted, i + 1
            result.options.append(
                Occurrence("-" + name, value, word, True, section, value_trusted)
            )
            continue
        if text.startswith("--") and len(text) > 2:
            name, eq, value_text = text[2:].partition("=")
            value = value_text if eq else None
            value_trusted = word.trusted
            if not eq and _long_takes_value(name, current) and i < len(words):
                value, value_trusted, i = words[i].text, words[i].trusted, i + 1
            result.options.append(
                Occurrence("--" + name, value, word, True, section, value_trusted)
            )
            continue
        if text.startswith("-") and len(text) > 1:
            for j in range(1, len(text)):
                letter = text[j]
                if letter in current.short_with_value:
                    value = text[j + 1 :]
                    value_trusted = word.trusted
                    if not value and i < len(words):
                        value, value_trusted, i = words[i].text, words[i].trusted, i + 1
                    result.options.append(
                        Occurrence("-" + letter, value, word, False, section, value_trusted)
                    )
                    break
                result.options.append(Occurrence("-" + letter, None, word, False, section))
            continue
        if section == "global" and current.subcommand is not None:
            result.subcommand = text
            current = current.subcommand
            section = "command"
            continue
        result.operands.append(word)
        if not current.permute:
            end = True
    return result


def matches(occurrence: Occurrence, refused: str, syntax: Syntax) -> bool:
    """Whether *occurrence* is the program's reading of the option *refused*.

    *refused* is written as the program spells it (``"--to-command"``, ``"-I"``,
    ``"-exec"``). Long options match exactly or, where the program accepts
    abbreviations, when the written name is a prefix of the refused one and not itself
    another known option.
    """
    name = occurrence.name
    if name == refused:
        return True
    if not occurrence.long or not refused.startswith("--") or not name.startswith("--"):
        return False
    if not syntax.abbreviations or len(name) < 3:
        return False
    bare = name[2:]
    if bare in syntax.known_long or bare in syntax.long_with_value:
        return False
    return refused[2:].startswith(bare)

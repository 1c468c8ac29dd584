"""The exception hierarchy of safeops.

Every error safeops raises derives from :class:`SafeOpsError`. Each leaf also derives
from the stdlib error that the call it replaces would have raised, so existing
``except ValueError`` / ``except TypeError`` / ``except PermissionError`` /
``except subprocess.CalledProcessError`` clauses keep working after a migration::

    SafeOpsError
    ├── ConfigurationError (ValueError)          a Limits/policy object that cannot work
    ├── UnsupportedPlatformError (NotImplementedError)
    ├── SerializationError
    │   ├── EncodeError (TypeError)
    │   │   └── EncodeLimitError
    │   └── DecodeError (ValueError)
    │       ├── SignatureError
    │       ├── DecodeLimitError
    │       └── DecodeValidationError
    ├── EvaluationError
    │   ├── UnsafeExpressionError (ValueError)   refused before running
    │   ├── EvaluationLimitError (RuntimeError)
    │   │   ├── EvaluationTimeoutError (TimeoutError)
    │   │   └── EvaluationMemoryError (MemoryError)
    │   └── EvaluatedCodeError (RuntimeError)    the evaluated code raised
    ├── CommandError
    │   ├── UnsafeCommandError (ValueError)      refused before running
    │   ├── CommandNotFoundError (FileNotFoundError)
    │   ├── CommandFailedError (subprocess.CalledProcessError)
    │   ├── CommandTimeoutError (subprocess.TimeoutExpired)
    │   └── OutputLimitError (subprocess.SubprocessError)
    └── EnforcementError
        ├── BlockedOperation (PermissionError)
        └── EnforcementSetupError (RuntimeError)

    SafeOpsWarning (UserWarning)

Messages say what was refused, why, and what to do instead. Any text that may come
from an attacker is passed through :func:`quote` before it is put in a message, so an
error never echoes an unbounded payload into a log. The structured context (the limit,
the path, the argument) is kept on the exception in :attr:`SafeOpsError.context`, with
attacker-supplied strings truncated the same way.

This module imports nothing from safeops (it is a leaf every other module shares).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

__all__ = [
    "BlockedOperation",
    "CommandError",
    "CommandFailedError",
    "CommandNotFoundError",
    "CommandTimeoutError",
    "ConfigurationError",
    "DecodeError",
    "DecodeLimitError",
    "DecodeValidationError",
    "EncodeError",
    "EncodeLimitError",
    "EnforcementError",
    "EnforcementSetupError",
    "EvaluatedCodeError",
    "EvaluationError",
    "EvaluationLimitError",
    "EvaluationMemoryError",
    "EvaluationTimeoutError",
    "OutputLimitError",
    "SafeOpsError",
    "SafeOpsWarning",
    "SerializationError",
    "SignatureError",
    "UnsafeCommandError",
    "UnsafeExpressionError",
    "UnsupportedPlatformError",
    "quote",
]

#: How many characters of an untrusted value an error message quotes.
QUOTE_LIMIT = 80


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """Return a bounded ``repr`` of *value* for an error message.

    The repr of an attacker-supplied value can be arbitrarily long (a 100 MB string, a
    huge integer). Only the first *limit* characters are kept, followed by a note of how
    many were cut. Huge ints are not converted to decimal at all: that conversion is
    itself quadratic and refused by CPython past 4300 digits.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"<int of {value.bit_length()} bits>"
    if isinstance(value, (str, bytes, bytearray)) and len(value) > limit:
        # Slice before repr so a 1 GB string is never copied whole.
        head = repr(value[:limit])
        return f"{head}... ({len(value) - limit} more {_unit(value)})"
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        return f"<{type(value).__name__} object with a failing repr>"
    if len(text) > limit:
        return f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text


def _unit(value: str | bytes | bytearray) -> str:
    return "characters" if isinstance(value, str) else "bytes"


def _bounded(value: object) -> object:
    """Make a context value safe to keep and log: long text and huge ints are quoted."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 256 else quote(value)
    if isinstance(value, (str, bytes, bytearray)):
        return value if len(value) <= QUOTE_LIMIT else quote(value)
    if isinstance(value, tuple) and len(value) <= QUOTE_LIMIT:
        return tuple(_bounded(item) for item in value)
    return quote(value)


class SafeOpsError(Exception):
    """Root of every error safeops raises.

    ``str(error)`` is the full message. ``error.context`` is a read-only mapping of the
    structured details (what was refused, the limit, the path or argument); string
    values in it are bounded to :data:`QUOTE_LIMIT` characters.
    """

    message: str
    context: Mapping[str, object]

    def __init__(self, message: str, **context: object) -> None:
        # Exception.__init__ directly, not super(): several leaves also derive from
        # stdlib errors whose __init__ takes other arguments (CalledProcessError).
        Exception.__init__(self, message)
        self.message = message
        self.context = MappingProxyType({key: _bounded(v) for key, v in context.items()})

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # multiprocessing and concurrent.futures pickle a worker's exception to send it
        # back: the read-only context view cannot be pickled and several leaves take
        # keyword-only arguments, so rebuild from the message, context and attributes.
        state = {key: value for key, value in self.__dict__.items() if key != "context"}
        return (_restore_error, (type(self), self.message, dict(self.context), state))


def _restore_error(
    cls: type[SafeOpsError], message: str, context: dict[str, object], state: dict[str, Any]
) -> SafeOpsError:
    """Rebuild an error pickled by :meth:`SafeOpsError.__reduce__` without calling its
    ``__init__`` (whose signature differs between leaves)."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    error.context = MappingProxyType(context)
    return error


class SafeOpsWarning(UserWarning):
    """Issued by ``enforce(mode="warn")`` and for other advisories."""


class ConfigurationError(SafeOpsError, ValueError):
    """A limits or policy object was built with values that cannot work.

    Raised when the object is built, not when it is first used, so a bad configuration
    fails at start-up rather than on the first hostile request.
    """


class UnsupportedPlatformError(SafeOpsError, NotImplementedError):
    """The feature needs POSIX facilities this platform does not have."""


# --- serialization -------------------------------------------------------------------


class SerializationError(SafeOpsError):
    """Base of the ``safeops.serialize`` errors."""


class EncodeError(SerializationError, TypeError):
    """An object cannot be encoded (unsupported type, cycle, unregistered class)."""


class EncodeLimitError(EncodeError):
    """Encoding would exceed a configured budget (depth, size)."""


class DecodeError(SerializationError, ValueError):
    """Bytes were refused. ``except DecodeError`` catches every way that can happen."""


class SignatureError(DecodeError):
    """A signed envelope is missing, tampered, truncated, expired or for another purpose."""


class DecodeLimitError(DecodeError):
    """The input exceeds a decoding budget (bytes, depth, elements, lengths, digits).

    ``context`` holds ``limit`` (the budget's name), ``maximum`` and, where it is known
    without doing the expensive work, ``actual``.
    """


class DecodeValidationError(DecodeError):
    """Decoded data does not match the requested type.

    ``errors`` lists every bad field as ``(path, message)``, where *path* is a tuple of
    keys and indexes from the document root.
    """

    errors: tuple[tuple[tuple[str | int, ...], str], ...]

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[tuple[Sequence[str | int], str]] = (),
        **context: object,
    ) -> None:
        super().__init__(message, **context)
        self.errors = tuple(
            (tuple(_bounded_key(part) for part in path), quote(text, 200)[1:-1])
            for path, text in errors
        )


def _bounded_key(part: str | int) -> str | int:
    if isinstance(part, str) and len(part) > QUOTE_LIMIT:
        return part[:QUOTE_LIMIT] + "..."
    return part


# --- evaluation ----------------------------------------------------------------------


class EvaluationError(SafeOpsError):
    """Base of the ``safe_eval`` / ``compile_expr`` / ``safe_exec`` errors."""


class UnsafeExpressionError(EvaluationError, ValueError):
    """The source was refused before anything ran (syntax outside the allow-list,
    a forbidden name or attribute, a host value that would hand out an escape)."""


class EvaluationLimitError(EvaluationError, RuntimeError):
    """Evaluation hit a budget (time, memory, output, size of an operation, depth)."""


class EvaluationTimeoutError(EvaluationLimitError, TimeoutError):
    """Evaluation ran past its wall-clock or CPU-time limit and was stopped."""


class EvaluationMemoryError(EvaluationLimitError, MemoryError):
    """Evaluation needed more memory than its limit allows."""


class EvaluatedCodeError(EvaluationError, RuntimeError):
    """The evaluated code raised an exception of its own.

    The original is never re-raised into the host (so an expression cannot raise
    ``SystemExit`` or ``KeyboardInterrupt`` there). ``error_type`` is the name of its
    class and ``error_message`` its bounded message; in-process evaluation also chains
    the original as ``__cause__``.
    """

    error_type: str
    error_message: str

    def __init__(
        self, message: str, *, error_type: str, error_message: str, **context: object
    ) -> None:
        super().__init__(message, error_type=error_type, **context)
        self.error_type = error_type
        self.error_message = quote(error_message, 200)[1:-1]


# --- commands ------------------------------------------------------------------------


class CommandError(SafeOpsError):
    """Base of the ``run_cmd`` errors."""


class UnsafeCommandError(CommandError, ValueError):
    """The command was refused before any process started. ``context["rule"]`` names
    the rule that refused it."""


class CommandNotFoundError(CommandError, FileNotFoundError):
    """The program is not on the safe search path."""


class CommandFailedError(CommandError, subprocess.CalledProcessError):
    """The command exited with a non-zero status and ``check=True`` was in force.

    Has the attributes of :class:`subprocess.CalledProcessError`: ``returncode``,
    ``cmd``, ``output``/``stdout`` and ``stderr``.
    """

    def __init__(
        self,
        message: str,
        *,
        returncode: int,
        cmd: Sequence[str],
        output: Any = None,
        stderr: Any = None,
        **context: object,
    ) -> None:
        super().__init__(message, returncode=returncode, **context)
        self.returncode = returncode
        self.cmd = list(cmd)
        self.output = output
        self.stderr = stderr


class CommandTimeoutError(CommandError, subprocess.TimeoutExpired):
    """The command ran past its timeout; its whole process group was killed.

    Has the attributes of :class:`subprocess.TimeoutExpired`: ``cmd``, ``timeout``,
    ``output``/``stdout`` and ``stderr`` (the output captured before the kill).
    """

    def __init__(
        self,
        message: str,
        *,
        cmd: Sequence[str],
        timeout: float,
        output: Any = None,
        stderr: Any = None,
        **context: object,
    ) -> None:
        super().__init__(message, timeout=timeout, **context)
        self.cmd = list(cmd)
        self.timeout = timeout
        self.output = output
        self.stderr = stderr


class OutputLimitError(CommandError, subprocess.SubprocessError):
    """The command wrote more than ``max_output``; it was killed when the cap was hit.

    ``cmd``, ``output``/``stdout`` and ``stderr`` hold what was captured up to the cap.
    """

    def __init__(
        self,
        message: str,
        *,
        cmd: Sequence[str],
        max_output: int,
        output: Any = None,
        stderr: Any = None,
        **context: object,
    ) -> None:
        super().__init__(message, max_output=max_output, **context)
        self.cmd = list(cmd)
        self.max_output = max_output
        self.output = output
        self.stderr = stderr

    @property
    def stdout(self) -> Any:
        """Alias of ``output``, as on the subprocess errors."""
        return self.output


# --- enforcement ---------------------------------------------------------------------


class EnforcementError(SafeOpsError):
    """Base of the ``safeops.enforce`` errors."""


class BlockedOperation(EnforcementError, PermissionError):
    """``enforce(mode="block")`` refused a dangerous original.

    ``context`` names the audit ``event``, the ``rule`` that refused it, the attributed
    ``call_site`` and the safe ``replacement`` to use.
    """


class EnforcementSetupError(EnforcementError, RuntimeError):
    """The enforcement hook could not be installed or verified, or a change to it
    would have relaxed it without an explicit ``unsafe_`` opt-in."""

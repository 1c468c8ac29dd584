"""Pins the exception hierarchy: one root, and each leaf also its stdlib base."""

from __future__ import annotations

import pickle
import subprocess

import pytest

from safeops import _permits
from safeops import errors as e

#: Every leaf and the stdlib error a user of the replaced call already catches.
STDLIB_BASES: list[tuple[type[Exception], type[BaseException]]] = [
    (e.ConfigurationError, ValueError),
    (e.UnsupportedPlatformError, NotImplementedError),
    (e.EncodeError, TypeError),
    (e.EncodeLimitError, TypeError),
    (e.DecodeError, ValueError),
    (e.SignatureError, ValueError),
    (e.DecodeLimitError, ValueError),
    (e.DecodeValidationError, ValueError),
    (e.UnsafeExpressionError, ValueError),
    (e.EvaluationLimitError, RuntimeError),
    (e.EvaluationTimeoutError, TimeoutError),
    (e.EvaluationMemoryError, MemoryError),
    (e.EvaluatedCodeError, RuntimeError),
    (e.UnsafeCommandError, ValueError),
    (e.CommandNotFoundError, FileNotFoundError),
    (e.CommandFailedError, subprocess.CalledProcessError),
    (e.CommandTimeoutError, subprocess.TimeoutExpired),
    (e.OutputLimitError, subprocess.SubprocessError),
    (e.BlockedOperation, PermissionError),
    (e.EnforcementSetupError, RuntimeError),
]


def _all_error_classes() -> list[type[e.SafeOpsError]]:
    return [
        obj
        for name in e.__all__
        if isinstance(obj := getattr(e, name), type) and issubclass(obj, e.SafeOpsError)
    ]


@pytest.mark.parametrize(("leaf", "stdlib_base"), STDLIB_BASES)
def test_leaf_is_a_safeops_error_and_its_stdlib_base(
    leaf: type[Exception], stdlib_base: type[BaseException]
) -> None:
    """Existing except clauses keep catching the replacement's errors."""
    assert issubclass(leaf, e.SafeOpsError)
    assert issubclass(leaf, stdlib_base)


def test_every_exported_error_has_a_pinned_stdlib_base_or_is_a_branch() -> None:
    """No error class is exported without a decision about its stdlib base."""
    pinned = {leaf for leaf, _ in STDLIB_BASES}
    branches = {
        e.SafeOpsError,
        e.SerializationError,
        e.EvaluationError,
        e.CommandError,
        e.EnforcementError,
    }
    assert set(_all_error_classes()) == pinned | branches


@pytest.mark.parametrize("leaf", [e.SignatureError, e.DecodeLimitError, e.DecodeValidationError])
def test_every_refusal_of_bytes_is_a_decode_error(leaf: type[Exception]) -> None:
    """``except DecodeError`` catches signature, limit and validation failures."""
    assert issubclass(leaf, e.DecodeError)


def test_encode_limit_error_is_an_encode_error() -> None:
    """Encode-side limits sit under EncodeError."""
    assert issubclass(e.EncodeLimitError, e.EncodeError)


def test_safeops_warning_is_a_user_warning() -> None:
    """Warn mode uses a UserWarning subclass so warnings filters apply."""
    assert issubclass(e.SafeOpsWarning, UserWarning)
    assert not issubclass(e.SafeOpsWarning, e.SafeOpsError)


def test_message_and_context_are_kept() -> None:
    """The message is str(error); structured context is read-only."""
    err = e.DecodeLimitError("too deep", limit="max_depth", maximum=64, actual=65)
    assert str(err) == "too deep"
    assert err.context == {"limit": "max_depth", "maximum": 64, "actual": 65}
    with pytest.raises(TypeError):
        err.context["limit"] = "x"  # type: ignore[index]


def test_quote_truncates_long_attacker_text() -> None:
    """A 10 MB payload is never echoed whole into a message."""
    payload = "A" * 10_000_000
    text = e.quote(payload)
    assert len(text) < 200
    assert "9999920 more characters" in text


def test_quote_truncates_long_bytes() -> None:
    """Bytes are cut too and the unit says bytes."""
    assert "more bytes" in e.quote(b"x" * 1000)


def test_quote_never_converts_huge_ints_to_decimal() -> None:
    """A 10**100000 int is described by its size, not printed."""
    assert e.quote(10**100_000) == f"<int of {(10**100_000).bit_length()} bits>"


def test_quote_survives_a_hostile_repr() -> None:
    """An object whose __repr__ raises does not mask the error being built."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("boom")

    assert "failing repr" in e.quote(Hostile())


def test_context_values_are_bounded() -> None:
    """Attacker strings stored as context are truncated like messages."""
    err = e.UnsafeCommandError("refused", argument="-" + "x" * 5000)
    argument = err.context["argument"]
    assert isinstance(argument, str)
    assert len(argument) < 200


def test_command_failed_error_has_called_process_error_attributes() -> None:
    """Code written for CalledProcessError keeps working."""
    err = e.CommandFailedError(
        "git exited with status 1", returncode=1, cmd=["git", "x"], output="o", stderr="e"
    )
    assert (err.returncode, err.cmd, err.stdout, err.stderr) == (1, ["git", "x"], "o", "e")
    assert str(err) == "git exited with status 1"


def test_command_timeout_error_has_timeout_expired_attributes() -> None:
    """Code written for TimeoutExpired keeps working."""
    err = e.CommandTimeoutError("timed out", cmd=["sleep", "9"], timeout=1.5, output=b"x")
    assert (err.cmd, err.timeout, err.stdout) == (["sleep", "9"], 1.5, b"x")


def test_output_limit_error_keeps_partial_output() -> None:
    """The output captured up to the cap is available."""
    err = e.OutputLimitError("too much", cmd=["yes"], max_output=10, output=b"y\n" * 5)
    assert err.stdout == b"y\n" * 5
    assert err.max_output == 10


def test_validation_error_keeps_every_path() -> None:
    """A validation error lists each bad field with its path."""
    err = e.DecodeValidationError(
        "2 fields are invalid",
        errors=[(("items", 0, "price"), "not a number"), (("name",), "missing")],
    )
    assert err.errors == ((("items", 0, "price"), "not a number"), (("name",), "missing"))


def test_evaluated_code_error_names_the_original() -> None:
    """The wrapped exception's type and message are kept, bounded."""
    err = e.EvaluatedCodeError(
        "the expression raised ZeroDivisionError",
        error_type="ZeroDivisionError",
        error_message="division by zero" + "!" * 1000,
    )
    assert err.error_type == "ZeroDivisionError"
    assert err.error_message.startswith("division by zero")
    assert len(err.error_message) < 300


def test_repr_shows_class_and_message() -> None:
    """repr names the class and the message, for logs."""
    err = e.BlockedOperation("os.system blocked", event="os.system")
    assert repr(err) == "BlockedOperation('os.system blocked')"


@pytest.mark.parametrize(
    "error",
    [
        e.BlockedOperation("os.system blocked", event="os.system", rule="process.shell"),
        e.DecodeValidationError("1 field is invalid", errors=[(("a", 0), "not an int")]),
        e.CommandFailedError("failed", returncode=2, cmd=["tar"], output="o", stderr="e"),
        e.CommandTimeoutError("timed out", cmd=["sleep"], timeout=1.0, output=b"x"),
        e.OutputLimitError("too much", cmd=["yes"], max_output=10, output=b"y"),
        e.EvaluatedCodeError("raised", error_type="ZeroDivisionError", error_message="x"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_survive_a_process_boundary(error: e.SafeOpsError) -> None:
    """A worker's SafeOpsError pickles back to its pool with message, context and fields."""
    # The test itself unpickles (not multiprocessing's IPC), so under `safeops run` it
    # needs a permit like any application unpickling a non-allow-listed global.
    with _permits.granted("pickle", reason="test: error round trip", origin="application"):
        copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.context == error.context
    assert {k: v for k, v in vars(copy).items() if k != "context"} == {
        k: v for k, v in vars(error).items() if k != "context"
    }

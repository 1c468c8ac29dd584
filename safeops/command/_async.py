"""arun_cmd: the asyncio twin of run_cmd (asyncio is imported when it is first called).

Vetting is the same code as run_cmd's. Cancelling the awaiting task kills the whole
process group before the cancellation propagates.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, overload

from safeops._permits import granted
from safeops.command._execute import Outcome, kill_group, spawn_errors, spawn_options
from safeops.command._policy import CommandResult
from safeops.command._runner import (
    DEFAULT_MAX_OUTPUT,
    DEFAULT_TIMEOUT,
    Allow,
    Arg,
    Prepared,
    prepare,
    result_of,
)
from safeops.errors import CommandTimeoutError, OutputLimitError

if TYPE_CHECKING:
    import asyncio

__all__ = ["arun_cmd"]

_CHUNK = 1 << 16


class _OverLimit(Exception):
    """Internal signal: a stream passed max_output."""


@overload
async def arun_cmd(
    argv: Sequence[Arg],
    *,
    args: Sequence[Arg] = ...,
    allow: Allow = ...,
    timeout: float = ...,
    cwd: str | os.PathLike[str] | None = ...,
    env: Mapping[str, str] | None = ...,
    input: str | bytes | None = ...,
    max_output: int = ...,
    check: bool = ...,
    text: Literal[True] = ...,
    unsafe_env: Iterable[str] = ...,
) -> CommandResult[str]: ...
@overload
async def arun_cmd(
    argv: Sequence[Arg],
    *,
    args: Sequence[Arg] = ...,
    allow: Allow = ...,
    timeout: float = ...,
    cwd: str | os.PathLike[str] | None = ...,
    env: Mapping[str, str] | None = ...,
    input: str | bytes | None = ...,
    max_output: int = ...,
    check: bool = ...,
    text: Literal[False],
    unsafe_env: Iterable[str] = ...,
) -> CommandResult[bytes]: ...
async def arun_cmd(
    argv: Sequence[Arg],
    *,
    args: Sequence[Arg] = (),
    allow: Allow = None,
    timeout: float = DEFAULT_TIMEOUT,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    check: bool = True,
    text: bool = True,
    unsafe_env: Iterable[str] = (),
) -> CommandResult[str] | CommandResult[bytes]:
    """Like :func:`run_cmd`, awaited. Cancelling the task kills the process group."""
    prepared = prepare(argv, args=args, allow=allow, timeout=timeout, cwd=cwd, env=env,
                       input=input, max_output=max_output, unsafe_env=unsafe_env)
    outcome = await _run(prepared)
    return result_of(prepared, outcome, check=check, text=text)


async def _run(prepared: Prepared) -> Outcome:
    import asyncio

    started = time.monotonic()
    with granted("process", reason="arun_cmd: vetted command", subject=prepared.executable), \
            spawn_errors(prepared.argv):
        process = await asyncio.create_subprocess_exec(
            *prepared.argv, executable=prepared.executable, env=prepared.env,
            cwd=prepared.cwd, **spawn_options(prepared.input is not None),  # type: ignore[arg-type]
        )
    stdout: list[bytes] = []
    stderr: list[bytes] = []
    try:
        await asyncio.wait_for(
            _communicate(process, prepared, stdout, stderr), timeout=prepared.timeout
        )
    except asyncio.TimeoutError:
        await _kill(process)
        raise CommandTimeoutError(
            f"command {os.path.basename(prepared.argv[0])} ran longer than "
            f"{prepared.timeout} s; its process group was killed. Raise timeout= if it "
            "needs longer",
            cmd=list(prepared.argv), timeout=prepared.timeout,
            output=b"".join(stdout), stderr=b"".join(stderr),
        ) from None
    except _OverLimit:
        await _kill(process)
        raise OutputLimitError(
            f"command {os.path.basename(prepared.argv[0])} wrote more than "
            f"max_output={prepared.max_output} bytes to one stream; its process group was "
            "killed at the limit. Raise max_output= if the output is expected",
            cmd=list(prepared.argv), max_output=prepared.max_output,
            output=b"".join(stdout)[: prepared.max_output],
            stderr=b"".join(stderr)[: prepared.max_output],
        ) from None
    except BaseException:  # cancellation included: never leave the group running
        await _kill(process)
        raise
    assert process.returncode is not None
    return Outcome(process.returncode, b"".join(stdout), b"".join(stderr),
                   time.monotonic() - started)


async def _kill(process: asyncio.subprocess.Process) -> None:
    import asyncio

    if process.returncode is None:
        kill_group(process.pid)
    # Process.wait() also waits for the pipes to close, which never happens if a reader
    # stopped early (output cap) or a descendant escaped the group and holds them: close
    # our ends. asyncio has no public API for this; the transport is the documented
    # owner of the pipes (asyncio.SubprocessTransport.close()).
    transport = getattr(process, "_transport", None)
    if isinstance(transport, asyncio.SubprocessTransport):
        transport.close()
    # Shielded: a second cancellation must not leave the child unreaped.
    await asyncio.shield(process.wait())


async def _communicate(
    process: asyncio.subprocess.Process,
    prepared: Prepared,
    stdout: list[bytes],
    stderr: list[bytes],
) -> None:
    import asyncio

    async def feed() -> None:
        if process.stdin is None:
            return
        try:
            if prepared.input:
                process.stdin.write(prepared.input)
                await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            process.stdin.close()

    async def drain(stream: asyncio.StreamReader | None, sink: list[bytes]) -> None:
        if stream is None:
            return
        size = 0
        while True:
            data = await stream.read(_CHUNK)
            if not data:
                return
            sink.append(data)
            size += len(data)
            if size > prepared.max_output:
                raise _OverLimit

    await asyncio.gather(feed(), drain(process.stdout, stdout), drain(process.stderr, stderr))
    await process.wait()

"""Starting the vetted command and collecting its output under limits (synchronous).

The process starts in a new session (so in its own process group), with no inherited
file descriptors beyond stdin/stdout/stderr and stdin closed unless input is given.
Output is read as it arrives; the moment either stream passes ``max_output`` bytes, or
the deadline passes, the whole process group is killed with SIGKILL (children and
grandchildren included) and the matching error carries what was captured so far.

The group is killed before the leader is reaped, so its process-group id cannot have
been reused by an unrelated process; after a normal exit the group is killed too (members
the leader left behind), again before reaping it (synchronous run_cmd only: in arun_cmd
asyncio's child watcher reaps the leader itself). A descendant that calls ``setsid()``/``setpgid()``
leaves the group and escapes the kill; on Linux a child subreaper
(``PR_SET_CHILD_SUBREAPER``) could catch it, but that is a process-wide setting that
would make the whole application the parent of every orphan (it would have to reap
them all), so safeops does not set it. Use a cgroup or container where escaping
descendants matter.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from safeops._permits import granted
from safeops.errors import (
    CommandError,
    CommandFailedError,
    CommandTimeoutError,
    OutputLimitError,
)

__all__ = ["Outcome", "failed", "kill_group", "run_process", "spawn_errors", "spawn_options"]

_CHUNK = 1 << 16
# poll(2) where it exists, as subprocess does: for two or three pipes it is cheaper than
# creating and closing an epoll instance on every call.
_Selector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.DefaultSelector
)


@dataclass
class Outcome:
    """What a finished process produced (bytes; decoding happens in the runner)."""

    returncode: int
    stdout: bytes
    stderr: bytes
    duration: float


def failed(
    argv: Sequence[str], returncode: int, stdout: object, stderr: object
) -> CommandFailedError:
    """The error for a non-zero exit status."""
    return CommandFailedError(
        f"command {os.path.basename(argv[0])} exited with status {returncode}; pass "
        "check=False to get the result instead of this error",
        returncode=returncode,
        cmd=list(argv),
        output=stdout,
        stderr=stderr,
    )


def kill_group(pid: int) -> None:
    """SIGKILL the process group *pid* leads; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def spawn_errors(argv: Sequence[str]) -> Iterator[None]:
    """Turn an execve E2BIG (limits lower than run_cmd's size check) into CommandError."""
    try:
        yield
    except OSError as error:
        if error.errno != errno.E2BIG:
            raise
        raise CommandError(
            f"the kernel refused to start {os.path.basename(argv[0])}: its command line and "
            "environment are too large (E2BIG). Pass large data through input= or a file",
            rule="size",
        ) from None


def spawn_options(stdin_wanted: bool) -> dict[str, object]:
    """The keyword arguments every run_cmd spawn uses (shared with arun_cmd)."""
    return {
        "stdin": subprocess.PIPE if stdin_wanted else subprocess.DEVNULL,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "close_fds": True,
        "start_new_session": True,
        "shell": False,
    }


def run_process(
    argv: Sequence[str],
    *,
    executable: str,
    env: dict[str, str],
    cwd: str | None,
    input: bytes | None,
    timeout: float,
    max_output: int,
) -> Outcome:
    """Run *argv* and collect its output; raise on timeout or output limit."""
    started = time.monotonic()
    deadline = started + timeout
    with granted("process", reason="run_cmd: vetted command", subject=executable), \
            spawn_errors(argv):
        process = subprocess.Popen(
            list(argv), executable=executable, env=env, cwd=cwd,
            **spawn_options(input is not None),  # type: ignore[call-overload]
        )
    try:
        return _collect(process, argv, input=input, deadline=deadline, timeout=timeout,
                        max_output=max_output, started=started)
    except BaseException:
        # KeyboardInterrupt, a bug, anything: never leave the group running.
        if process.returncode is None:
            kill_group(process.pid)
        process.wait()
        raise
    finally:
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _collect(
    process: subprocess.Popen[bytes],
    argv: Sequence[str],
    *,
    input: bytes | None,
    deadline: float,
    timeout: float,
    max_output: int,
    started: float,
) -> Outcome:
    assert process.stdout is not None and process.stderr is not None
    chunks: dict[int, list[bytes]] = {process.stdout.fileno(): [], process.stderr.fileno(): []}
    sizes = dict.fromkeys(chunks, 0)
    out_fd, err_fd = process.stdout.fileno(), process.stderr.fileno()
    offset = 0
    with _Selector() as selector:
        selector.register(out_fd, selectors.EVENT_READ)
        selector.register(err_fd, selectors.EVENT_READ)
        if process.stdin is not None:
            if input:
                selector.register(process.stdin.fileno(), selectors.EVENT_WRITE)
            else:
                process.stdin.close()
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(process, argv, chunks, timeout)
            for key, _ in selector.select(remaining):
                fd = key.fd
                if fd not in chunks:  # stdin is writable
                    assert process.stdin is not None and input is not None
                    try:
                        offset += os.write(fd, input[offset : offset + 4096])
                    except BrokenPipeError:
                        offset = len(input)
                    if offset >= len(input):
                        selector.unregister(fd)
                        process.stdin.close()
                    continue
                data = os.read(fd, _CHUNK)
                if not data:
                    selector.unregister(fd)
                    continue
                chunks[fd].append(data)
                sizes[fd] += len(data)
                if sizes[fd] > max_output:
                    raise _over_limit(process, argv, [chunks[out_fd], chunks[err_fd]],
                                      max_output)
    if process.returncode is None and not _exited_before(process.pid, deadline):
        raise _timed_out(process, argv, chunks, timeout)
    if _exited_unreaped(process.pid):
        # The leader is a zombie, so its group id cannot have been reused: kill members
        # it left behind in the group (a background child that closed its output).
        kill_group(process.pid)
    try:
        returncode = process.wait(max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        raise _timed_out(process, argv, chunks, timeout) from None
    return Outcome(
        returncode, b"".join(chunks[out_fd]), b"".join(chunks[err_fd]), time.monotonic() - started
    )


def _exited_before(pid: int, deadline: float) -> bool:
    """Wait for the child *pid* to exit, until *deadline*; False if it is still running.

    Popen.wait(timeout) polls with sleeps (up to 50 ms late); a pidfd (Linux 5.3+) becomes
    readable the moment the child exits. The child is not reaped yet, so its pid cannot
    have been reused. Elsewhere Popen.wait's polling is used.
    """
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return True  # let process.wait(timeout) do the waiting
    try:
        pidfd = pidfd_open(pid)
    except OSError:  # old kernel, seccomp: fall back to process.wait(timeout)
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        remaining = max(deadline - time.monotonic(), 0)
        return bool(poller.poll(remaining * 1000))
    finally:
        os.close(pidfd)


def _exited_unreaped(pid: int) -> bool:
    """True if the child *pid* has exited and is not reaped yet (waitid WNOWAIT)."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:  # not POSIX: leftovers are not killed after a normal exit
        return False
    try:
        return waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped (by someone else's waitpid(-1))
        return False


def _timed_out(
    process: subprocess.Popen[bytes],
    argv: Sequence[str],
    chunks: dict[int, list[bytes]],
    timeout: float,
) -> CommandTimeoutError:
    kill_group(process.pid)
    process.wait()
    assert process.stdout is not None and process.stderr is not None
    stdout = b"".join(chunks[process.stdout.fileno()])
    stderr = b"".join(chunks[process.stderr.fileno()])
    return CommandTimeoutError(
        f"command {os.path.basename(argv[0])} ran longer than {timeout} s; its process group "
        "was killed. Raise timeout= if it needs longer",
        cmd=list(argv),
        timeout=timeout,
        output=stdout,
        stderr=stderr,
    )


def _over_limit(
    process: subprocess.Popen[bytes],
    argv: Sequence[str],
    streams: list[list[bytes]],
    max_output: int,
) -> OutputLimitError:
    kill_group(process.pid)
    process.wait()
    stdout = b"".join(streams[0])[:max_output]
    stderr = b"".join(streams[1])[:max_output]
    return OutputLimitError(
        f"command {os.path.basename(argv[0])} wrote more than max_output={max_output} bytes "
        "to one stream; its process group was killed at the limit. Raise max_output= if "
        "the output is expected",
        cmd=list(argv),
        max_output=max_output,
        output=stdout,
        stderr=stderr,
    )

"""Host side of isolated ``safe_exec``: a small pool of warm worker processes.

Module state (documented in ARCHITECTURE.md as allowed): one pool per process.

- Warm: a worker serves many calls; a call costs one request/response over pipes.
- Thread-safe: a worker serves one call at a time; concurrent calls take another idle
  worker or start one; at most ``_MAX_IDLE`` idle workers are kept.
- Fork-safe: the pool records ``os.getpid()``; after ``os.fork()`` the child drops the
  parent's pool (``os.register_at_fork``) and never touches its workers or pipes, and
  a pool used from another pid is discarded the same way.
- Deadlines: the host waits at most ``wall_time`` plus a short grace; then it kills the
  worker's process group, reaps it (no zombies) and raises EvaluationTimeoutError.
- Ctrl-C: a KeyboardInterrupt (or any other exception) while waiting kills and reaps
  the worker, then propagates.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from safeops._permits import granted
from safeops.errors import (
    ConfigurationError,
    EvaluatedCodeError,
    EvaluationError,
    EvaluationLimitError,
    EvaluationMemoryError,
    EvaluationTimeoutError,
    UnsafeExpressionError,
)
from safeops.evaluate._exec_limits import ExecLimits
from safeops.evaluate._exec_transport import MAX_REQUEST_BYTES, TransportError, decode, encode
from safeops.evaluate._worker import write_frame

__all__ = ["run_isolated", "shutdown"]

_HEADER_SIZE = 4
_MAX_IDLE = 2
#: Extra wall-clock time the host grants over ``wall_time`` for IPC and start-up jitter.
_GRACE = 0.5
_START_TIMEOUT = 30.0
_ERRORS: dict[str, type[EvaluationError]] = {
    cls.__name__: cls
    for cls in (UnsafeExpressionError, EvaluationLimitError, EvaluationMemoryError,
                EvaluationTimeoutError, EvaluationError)
}


class _Worker:
    """One worker process and its pipes. Used by one thread at a time."""

    def __init__(self) -> None:
        # cwd: the directory holding the safeops package the host imported, so that
        # ``-m`` finds the same code and nothing in the caller's cwd can shadow it.
        package_root = str(Path(__file__).resolve().parents[2])
        argv = [sys.executable, "-m", "safeops.evaluate._worker"]
        with granted("process", reason="safe_exec starts its isolated worker",
                     subject=sys.executable):
            self.process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, cwd=package_root, close_fds=True,
                start_new_session=True, bufsize=0,
            )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.last_limits: ExecLimits | None = None
        self.write_fd = self.process.stdin.fileno()
        self.read_fd = self.process.stdout.fileno()
        try:
            frame = self._read_frame(time.monotonic() + _START_TIMEOUT, 1 << 16)
            ready = decode(frame, max_bytes=1 << 16)
        except BaseException:
            self.kill()
            raise
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            self.kill()
            raise EvaluationError("the isolated worker failed to start")

    def call(self, request: bytes, limits: ExecLimits) -> Any:
        deadline = time.monotonic() + limits.wall_time + _GRACE
        try:
            write_frame(self.write_fd, request)
            frame = self._read_frame(deadline, limits.max_result_bytes + 1024)
            return decode(frame, max_bytes=limits.max_result_bytes + 1024,
                          max_int_bits=limits.max_int_bits)
        except BaseException:
            # Timeout, Ctrl-C, a dead or misbehaving worker: its state is unknown.
            self.kill()
            raise

    def _read_frame(self, deadline: float, max_bytes: int) -> bytes:
        header = self._read_exact(_HEADER_SIZE, deadline)
        length = int.from_bytes(header, "big")
        if length > max_bytes:
            raise EvaluationLimitError(
                f"the isolated worker answered with {length} bytes, more than allowed",
                limit="max_result_bytes",
            )
        return self._read_exact(length, deadline)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise EvaluationTimeoutError(
                    "the program ran past its wall-clock limit; the isolated worker "
                    "was killed", limit="wall_time",
                )
            readable, _, _ = select.select([self.read_fd], [], [], timeout)
            if not readable:
                continue
            chunk = os.read(self.read_fd, min(remaining, 1 << 20))
            if not chunk:
                raise self._death()
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _death(self) -> EvaluationError:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if code == -signal.SIGXCPU:
            return EvaluationTimeoutError(
                "the program used more than its CPU time (RLIMIT_CPU); the isolated "
                "worker was stopped", limit="cpu_time",
            )
        if code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
            return EvaluationMemoryError(
                f"the isolated worker died (exit {code}), most likely out of memory",
                limit="max_memory",
            )
        return EvaluationError(f"the isolated worker exited unexpectedly (exit {code})")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Kill the worker's process group and reap it; never raises."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        # SIGKILL cannot be ignored: the wait only returns the exit status (no zombie).
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.close_pipes()

    def close(self) -> None:
        """Ask an idle worker to exit (end of input), then make sure it did."""
        self.close_pipes()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()

    def close_pipes(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class _Pool:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []

    def acquire(self) -> _Worker:
        with self.lock:
            while self.idle:
                worker = self.idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        return _Worker()

    def release(self, worker: _Worker) -> None:
        with self.lock:
            if os.getpid() == self.pid and len(self.idle) < _MAX_IDLE and worker.alive():
                self.idle.append(worker)
                return
        worker.close()

    def shutdown(self) -> None:
        with self.lock:
            workers, self.idle = self.idle, []
        for worker in workers:
            worker.close()


_pool: _Pool | None = None
_pool_lock = threading.Lock()
#: Pools inherited across fork: kept referenced (never used) so that no finaliser in
#: the child ever waits on or kills the parent's workers.
_inherited: list[_Pool] = []


def _current_pool() -> _Pool:
    global _pool  # noqa: PLW0603 - the documented per-process pool
    with _pool_lock:
        if _pool is not None and _pool.pid != os.getpid():
            _forget_inherited_pool()
        if _pool is None:
            _pool = _Pool()
        return _pool


def _forget_inherited_pool() -> None:
    """In a forked child: drop the parent's workers without touching the processes."""
    global _pool, _pool_lock  # noqa: PLW0603 - reset in a forked child
    if _pool is not None:
        for worker in _pool.idle:
            worker.close_pipes()  # our copies of the fds only; the parent keeps its own
        _inherited.append(_pool)
        _pool = None
    _pool_lock = threading.Lock()


def shutdown() -> None:
    """Stop this process's idle workers (also run at interpreter exit)."""
    with _pool_lock:
        pool = _pool if _pool is not None and _pool.pid == os.getpid() else None
    if pool is not None:
        pool.shutdown()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_pool)
atexit.register(shutdown)


def _request(source: str, names: dict[str, Any], limits: ExecLimits, worker: _Worker) -> bytes:
    # The limits travel only when they differ from the worker's previous request.
    wire = None if worker.last_limits == limits else limits.to_wire()
    try:
        request = encode({"source": source, "names": names, "limits": wire})
    except TransportError as error:
        raise UnsafeExpressionError(
            f"names cannot be carried to the isolated worker: {error}"
        ) from None
    if len(request) > MAX_REQUEST_BYTES:
        raise UnsafeExpressionError(
            f"source and names encode to {len(request)} bytes, more than the worker "
            f"accepts ({MAX_REQUEST_BYTES}); pass less data", limit="request_bytes",
        )
    worker.last_limits = limits
    return request


def run_isolated(source: str, names: dict[str, Any], limits: ExecLimits) -> dict[str, Any]:
    """Run *source* in a worker; return its variables or raise the worker's error."""
    pool = _current_pool()
    for attempt in range(2):
        worker = pool.acquire()
        try:
            request = _request(source, names, limits, worker)
        except UnsafeExpressionError:
            pool.release(worker)
            raise
        try:
            response = worker.call(request, limits)
        except EvaluationError as error:
            # A worker that had died while idle (e.g. killed from outside) fails on its
            # first write or read: retry once with a fresh one.
            if attempt == 0 and type(error) is EvaluationError:
                continue
            raise
        except BrokenPipeError:
            if attempt == 0:
                continue
            raise EvaluationError("the isolated worker could not be reached") from None
        if isinstance(response, dict) and response.get("recycle") is True:
            worker.close()  # it exits after this answer: reap it now
        else:
            pool.release(worker)
        return _unpack(response)
    raise EvaluationError("the isolated worker could not be reached")  # pragma: no cover


def _unpack(response: Any) -> dict[str, Any]:
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        raise EvaluationError("malformed response from the isolated worker")
    if response["ok"]:
        variables = response.get("variables")
        if not isinstance(variables, dict):
            raise EvaluationError("malformed response from the isolated worker")
        return variables
    kind = str(response.get("error"))
    message = str(response.get("message"))
    limit = response.get("limit")
    context = {"limit": limit} if isinstance(limit, str) else {}
    if kind == "EvaluatedCodeError":
        raise EvaluatedCodeError(
            message, error_type=str(response.get("error_type")),
            error_message=str(response.get("error_message")),
        )
    if kind == "ConfigurationError":
        raise ConfigurationError(message)
    raise _ERRORS.get(kind, EvaluationError)(message, **context)

"""The isolated ``safe_exec`` worker: ``python -m safeops.evaluate._worker``.

Started and owned by :mod:`safeops.evaluate._isolation`. It reads length-prefixed
requests on its stdin and writes length-prefixed responses on its stdout (both encoded
by :mod:`safeops.evaluate._exec_transport`, never pickle), one at a time, and exits on
end of input. Per request it lowers its own ``RLIMIT_AS`` to ``max_memory`` and sets
``RLIMIT_CPU`` so that C-level work the tracer cannot interrupt is killed by the kernel
(SIGXCPU) once the request's CPU budget plus a grace second is spent; the host also
kills it when the wall-clock deadline passes. It ignores SIGINT: a Ctrl-C is the
host's to handle (the host then kills the worker).

Everything the program could break is in this process: after a MemoryError or any
protocol error it exits and the host starts a fresh one.
"""

from __future__ import annotations

import math
import os
import signal
import struct
import sys
from typing import Any

_HEADER = struct.Struct(">I")


def read_exact(fd: int, size: int) -> bytes | None:
    """Read exactly *size* bytes from *fd*; ``None`` at end of input."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def write_frame(fd: int, payload: bytes) -> None:
    """Write one length-prefixed frame."""
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        written = os.write(fd, data)
        data = data[written:]


class _ProcessLimits:
    """This process's RLIMIT_AS / RLIMIT_CPU: lowered per request, restored after."""

    def __init__(self) -> None:
        import resource

        self.resource = resource
        self.original_as = resource.getrlimit(resource.RLIMIT_AS)
        self.original_cpu = resource.getrlimit(resource.RLIMIT_CPU)

    def apply(self, limits: Any) -> None:
        resource = self.resource
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # RLIMIT_CPU counts the whole life of this warm process: the budget of this
        # request starts from what it has used so far.
        cpu_soft = math.ceil(usage.ru_utime + usage.ru_stime) + math.ceil(limits.cpu_time) + 1
        memory = limits.max_memory
        cpu_hard, as_hard = self.original_cpu[1], self.original_as[1]
        if cpu_hard != resource.RLIM_INFINITY:
            cpu_soft = min(cpu_soft, cpu_hard)
        if as_hard != resource.RLIM_INFINITY:
            memory = min(memory, as_hard)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_hard))
        resource.setrlimit(resource.RLIMIT_AS, (memory, as_hard))

    def restore(self) -> None:
        self.resource.setrlimit(self.resource.RLIMIT_AS, self.original_as)
        self.resource.setrlimit(self.resource.RLIMIT_CPU, self.original_cpu)


_process_limits: _ProcessLimits | None = None
#: The limits of the previous request: the host omits them when they are unchanged.
_last_limits: Any = None


def handle(request: Any) -> tuple[dict[str, Any], bool]:
    """Run one request; return the response and whether this worker must exit after."""
    global _process_limits, _last_limits  # noqa: PLW0603 - per worker process
    from safeops.errors import EvaluatedCodeError, SafeOpsError
    from safeops.evaluate._exec_transport import can_carry
    from safeops.evaluate._sandbox import compile_program, run_program

    try:
        if not isinstance(request, dict):
            raise TypeError("request must be a map")
        wire = request.get("limits")
        limits = _last_limits if wire is None and _last_limits is not None else _limits(wire)
        source = request.get("source")
        names = request.get("names")
        if not isinstance(names, dict):
            raise TypeError("names must be a map")
    except (SafeOpsError, TypeError, ValueError) as error:
        return _error("EvaluationError", f"malformed request: {error}"), True
    _last_limits = limits
    if _process_limits is None:
        _process_limits = _ProcessLimits()
    _process_limits.apply(limits)
    try:
        program = compile_program(source, limits)
        variables = run_program(program, names, limits, _carryable(limits, can_carry))
    except EvaluatedCodeError as error:
        response = _error(type(error).__name__, error.message)
        response["error_type"] = error.error_type
        response["error_message"] = error.error_message
        return response, False
    except SafeOpsError as error:
        return _error(type(error).__name__, error.message, error.context.get("limit")), (
            type(error).__name__ == "EvaluationMemoryError")
    except MemoryError:
        return _error("EvaluationMemoryError", "the program ran out of memory",
                      "max_memory"), True
    finally:
        _process_limits.restore()
    return {"ok": True, "variables": variables}, False


_limits_cache: dict[tuple[tuple[str, object], ...], Any] = {}


def _limits(wire: object) -> Any:
    """ExecLimits from the request, validated once per distinct value (a small cache)."""
    from safeops.evaluate._exec_limits import ExecLimits

    if not isinstance(wire, dict):
        return ExecLimits.from_wire(wire)  # raises ConfigurationError
    key = tuple(sorted(wire.items()))
    limits = _limits_cache.get(key)
    if limits is None:
        limits = ExecLimits.from_wire(wire)
        if len(_limits_cache) < 64:
            _limits_cache[key] = limits
    return limits


def _result_limit() -> int:
    from safeops.evaluate._exec_limits import DEFAULT_EXEC_LIMITS

    if _last_limits is None:
        return DEFAULT_EXEC_LIMITS.max_result_bytes
    return int(_last_limits.max_result_bytes)


def _carryable(limits: Any, can_carry: Any) -> Any:
    from safeops.evaluate._sandbox_iter import expanded_size

    def carryable(value: object) -> bool:
        # serialize writes shared references out as copies: bound the expansion first.
        if expanded_size(value, limits.max_size) > limits.max_size:
            return False
        return bool(can_carry(value))

    return carryable


def _error(kind: str, message: str, limit: object = None) -> dict[str, Any]:
    return {"ok": False, "error": kind, "message": message,
            "limit": limit if isinstance(limit, str) else None}


def main() -> int:
    """Serve requests until end of input."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol owns the original stdin/stdout; fds 0 and 1 point at /dev/null so
    # that nothing else in this process can write into the response stream.
    request_fd, response_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))

    from safeops.evaluate._exec_limits import DEFAULT_EXEC_LIMITS
    from safeops.evaluate._exec_transport import (
        MAX_REQUEST_BYTES,
        TransportError,
        decode,
        encode,
    )
    from safeops.evaluate._sandbox import compile_program

    compile_program("warm = 1", DEFAULT_EXEC_LIMITS)  # import RestrictedPython now
    write_frame(response_fd, encode({"ready": True, "pid": os.getpid()}))
    while True:
        header = read_exact(request_fd, _HEADER.size)
        if header is None:
            return 0
        (length,) = _HEADER.unpack(header)
        if length > MAX_REQUEST_BYTES:
            return 2
        payload = read_exact(request_fd, length)
        if payload is None:
            return 0
        try:
            request = decode(payload, max_bytes=MAX_REQUEST_BYTES, max_int_bits=10**8)
        except TransportError:
            return 2
        response, must_exit = handle(request)
        try:
            data = encode(response)
        except TransportError as error:
            data = encode(_error("EvaluationError", f"result cannot be returned: {error}"))
        limit = _result_limit()
        if len(data) > limit:
            data = encode(_error(
                "EvaluationLimitError",
                f"the variables the program defined encode to {len(data)} bytes, more "
                f"than max_result_bytes={limit}", "max_result_bytes",
            ))
        if must_exit:
            # Tell the host first, so it reaps this process instead of reusing it.
            data = encode({**decode(data, max_bytes=len(data)), "recycle": True})
        write_frame(response_fd, data)
        if must_exit:
            return 0


if __name__ == "__main__":
    sys.exit(main())

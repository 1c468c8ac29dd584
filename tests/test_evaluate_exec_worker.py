"""The isolated worker: warm reuse, kills without zombies, fork and thread safety, Ctrl-C."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

import pytest

from safeops import _permits
from safeops.errors import EvaluationMemoryError, EvaluationTimeoutError
from safeops.evaluate import ExecLimits, _isolation, safe_exec

#: C-level work with the int guard lifted: only the process limits can stop it.
C_LEVEL = "x = 3 ** (10 ** 8)"
C_LEVEL_LIMITS = ExecLimits(cpu_time=0.2, wall_time=0.6, max_int_bits=10**10)


@pytest.fixture(autouse=True)
def _fresh_pool() -> Iterator[None]:
    _isolation.shutdown()
    yield
    _isolation.shutdown()


def _idle_pids() -> list[int]:
    return [worker.process.pid for worker in _isolation._current_pool().idle]


def _reaped(pid: int) -> bool:
    """True when *pid* is no child of ours any more (exited and waited for)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_worker_is_reused_between_calls() -> None:
    """Two calls in a row are served by the same warm worker."""
    safe_exec("x = 1")
    first = _idle_pids()
    safe_exec("x = 2")
    assert first and _idle_pids() == first


def test_worker_runs_as_a_module_not_dash_c() -> None:
    """The worker command line is `python -m safeops.evaluate._worker`."""
    safe_exec("x = 1")
    (pid,) = _idle_pids()
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        argv = handle.read().split(b"\0")[:3]
    assert argv == [sys.executable.encode(), b"-m", b"safeops.evaluate._worker"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_wall_clock_kill_reaps_the_worker() -> None:
    """C-level work past wall_time kills the worker and leaves no zombie."""
    safe_exec("x = 1")
    (pid,) = _idle_pids()
    with pytest.raises(EvaluationTimeoutError):
        safe_exec(C_LEVEL, limits=C_LEVEL_LIMITS)
    assert _reaped(pid)
    assert not os.path.exists(f"/proc/{pid}")


def test_a_fresh_worker_serves_the_call_after_a_kill() -> None:
    """After a kill the next call starts a new worker and succeeds."""
    with pytest.raises(EvaluationTimeoutError):
        safe_exec(C_LEVEL, limits=C_LEVEL_LIMITS)
    assert safe_exec("y = 3") == {"y": 3}


def test_memory_limit_recycles_the_worker() -> None:
    """A MemoryError under RLIMIT_AS is reported and the worker is replaced."""
    safe_exec("x = 1")
    (pid,) = _idle_pids()
    with pytest.raises(EvaluationMemoryError):
        safe_exec("x = bytearray(10 ** 10)", limits=ExecLimits(max_size=10**11))
    assert _reaped(pid)
    assert safe_exec("y = 1") == {"y": 1}


def test_worker_killed_while_idle_is_replaced() -> None:
    """A worker that died while idle is noticed; the call runs on a new one."""
    safe_exec("x = 1")
    (pid,) = _idle_pids()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}/status") and time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as handle:
            if "zombie" in handle.read():
                break
        time.sleep(0.01)
    assert safe_exec("y = 2") == {"y": 2}
    assert _reaped(pid)


def test_worker_ignores_sigint() -> None:
    """A Ctrl-C sent to the worker's group does not kill it: the host decides."""
    safe_exec("x = 1")
    (pid,) = _idle_pids()
    os.kill(pid, signal.SIGINT)
    assert safe_exec("y = 5") == {"y": 5}
    assert _idle_pids() == [pid]


def test_shutdown_stops_idle_workers() -> None:
    """shutdown() ends idle workers and reaps them."""
    safe_exec("x = 1")
    (pid,) = _idle_pids()
    _isolation.shutdown()
    assert _reaped(pid)


def test_concurrent_calls_from_threads() -> None:
    """Calls from many threads each get the right answer; few workers stay idle."""

    def call(value: int) -> object:
        return safe_exec("y = x * 2", {"x": value})["y"]

    with ThreadPoolExecutor(max_workers=6) as executor:
        results = list(executor.map(call, range(60)))
    assert results == [value * 2 for value in range(60)]
    assert len(_idle_pids()) <= 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_never_uses_the_parents_worker() -> None:
    """After fork the child starts its own worker; the parent's keeps working."""
    safe_exec("x = 1")
    (parent_pid,) = _idle_pids()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            inherited = list(_isolation._current_pool().idle)
            ok = safe_exec("y = 7") == {"y": 7} and not inherited
            os.write(write_end, struct.pack(">qB", _idle_pids()[0], ok))
            _isolation.shutdown()
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    data = os.read(read_end, 9)
    os.close(read_end)
    _, status = os.waitpid(child, 0)
    child_worker, ok = struct.unpack(">qB", data)
    assert os.waitstatus_to_exitcode(status) == 0 and ok
    assert child_worker != parent_pid
    assert safe_exec("z = 1") == {"z": 1} and _idle_pids() == [parent_pid]


def _interrupt_after(seconds: float) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals need the main thread")
def test_ctrl_c_while_waiting_interrupts_the_host_and_kills_the_worker() -> None:
    """A KeyboardInterrupt in the host while waiting propagates; the worker is reaped."""
    safe_exec("x = 1")
    (pid,) = _idle_pids()
    previous = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    try:
        _interrupt_after(0.3)
        with pytest.raises(KeyboardInterrupt):
            safe_exec("while True:\n    pass", limits=ExecLimits(cpu_time=20, wall_time=30))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 20
    assert _reaped(pid)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals need the main thread")
def test_ctrl_c_in_process_is_not_wrapped() -> None:
    """In-process, a real Ctrl-C reaches the host as KeyboardInterrupt."""
    previous = signal.getsignal(signal.SIGALRM)
    try:
        _interrupt_after(0.3)
        with pytest.raises(KeyboardInterrupt):
            safe_exec("while True:\n    pass", limits=ExecLimits(cpu_time=20, wall_time=30),
                      isolated=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _PermitWatch:
    armed = False
    seen: list[tuple[str, str | None]] = []  # noqa: RUF012 - one record for the module

    @classmethod
    def hook(cls, event: str, args: tuple[object, ...]) -> None:
        if cls.armed and event in ("subprocess.Popen", "compile", "exec"):
            category = {"subprocess.Popen": "process"}.get(event, "dynamic_code")
            permit = _permits.active(category)
            cls.seen.append((event, permit.origin if permit else None))


sys.addaudithook(_PermitWatch.hook)


def test_worker_start_and_compilation_hold_permits() -> None:
    """Starting the worker and compiling/executing the program happen under permits."""
    safe_exec("warm = 1", isolated=False)
    _PermitWatch.seen.clear()
    _PermitWatch.armed = True
    try:
        safe_exec("a = 1")
        safe_exec("b = [i for i in range(3)]", isolated=False)
    finally:
        _PermitWatch.armed = False
    events = {event for event, _ in _PermitWatch.seen}
    assert {"subprocess.Popen", "compile", "exec"} <= events
    assert [seen for seen in _PermitWatch.seen if seen[1] != "safeops"] == []


def _raw_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "safeops.evaluate._worker"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "payload", [struct.pack(">I", 2**31), struct.pack(">I", 3) + b"\xc1\xc1\xc1"]
)
def test_worker_exits_on_a_malformed_request(payload: bytes) -> None:
    """An oversized or undecodable frame makes the worker exit instead of guessing."""
    process = _raw_worker()
    assert process.stdin is not None and process.stdout is not None
    (length,) = struct.unpack(">I", process.stdout.read(4))
    process.stdout.read(length)  # the ready frame
    process.stdin.write(payload)
    process.stdin.flush()
    try:
        assert process.wait(timeout=30) == 2
    finally:
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()

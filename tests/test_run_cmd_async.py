"""arun_cmd: the asyncio twin of run_cmd."""

from __future__ import annotations

import asyncio
import os
import pathlib
import subprocess
import sys
import time

import pytest

from safeops import Program, arun_cmd
from safeops.errors import (
    CommandFailedError,
    CommandTimeoutError,
    OutputLimitError,
    UnsafeCommandError,
)

SH = Program("sh", unsafe_allow_code=True)


def test_runs_and_returns_output() -> None:
    """arun_cmd returns the same CommandResult as run_cmd."""
    result = asyncio.run(arun_cmd(["echo", "hi"]))
    assert (result.returncode, result.stdout) == (0, "hi\n")


def test_refuses_like_run_cmd() -> None:
    """The same vetting refuses the same commands."""
    with pytest.raises(UnsafeCommandError):
        asyncio.run(arun_cmd(["sh", "-c", "x"]))


def test_input_is_fed() -> None:
    """input= reaches stdin."""
    assert asyncio.run(arun_cmd(["cat"], input="abc")).stdout == "abc"


def test_failure_raises() -> None:
    """check=True raises CommandFailedError."""
    with pytest.raises(CommandFailedError):
        asyncio.run(arun_cmd(["false"]))


def test_timeout_kills_with_partial_output() -> None:
    """A timeout kills the group; the error carries the output so far."""
    with pytest.raises(CommandTimeoutError) as caught:
        asyncio.run(arun_cmd(["sh", "-c", "echo a; exec sleep 30"], allow=[SH], timeout=0.5))
    assert caught.value.output == b"a\n"


def test_output_cap_holds_against_yes() -> None:
    """yes is killed at max_output."""
    with pytest.raises(OutputLimitError) as caught:
        asyncio.run(arun_cmd(["yes"], max_output=50_000, timeout=20))
    assert len(caught.value.output) == 50_000


def test_cancelling_the_task_kills_the_process_group(tmp_path: pathlib.Path) -> None:
    """Cancelling the awaiting task kills the command and its grandchildren."""
    pidfile = tmp_path / "pid"

    async def main() -> None:
        task = asyncio.ensure_future(
            arun_cmd(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"], allow=[SH])
        )
        for _ in range(200):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    if not os.path.isdir("/proc/self"):  # macOS: no /proc; a zombie counts as alive here
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_import_safeops_does_not_import_asyncio() -> None:
    """asyncio is imported on first use of arun_cmd only."""
    probe = "import sys, safeops; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"

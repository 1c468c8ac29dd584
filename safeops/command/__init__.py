"""run_cmd: start programs without a shell, with per-program rules and a clean environment.

See docs/run_cmd.md. ``arun_cmd`` is the asyncio twin (asyncio is imported on first use).
"""

from safeops.command._async import arun_cmd
from safeops.command._policy import CommandPolicy, CommandResult, Program
from safeops.command._runner import run_cmd

__all__ = ["CommandPolicy", "CommandResult", "Program", "arun_cmd", "run_cmd"]

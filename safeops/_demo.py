"""``safeops demo``: a short tour of the attacks safeops stops.

Each scene feeds one hostile input first to the dangerous original and then to its
safeops replacement, and reports what happened. Every attack is harmless by
construction: all it tries to do is create a marker file inside a temporary directory
that the demo makes and removes, so "the attack ran" is observed, not assumed. Nothing
touches the network or any file outside that directory. A replacement that is not
installed in this version of safeops is reported as missing, never simulated.
"""

from __future__ import annotations

import argparse
import pickle
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from safeops import _permits
from safeops.errors import SafeOpsError

__all__ = ["add_arguments", "run"]

_WIDTH = 78


@dataclass
class _Tally:
    """What the tour observed, for the closing summary."""

    original_ran: list[str] = field(default_factory=list)
    safeops_stopped: list[str] = field(default_factory=list)
    safeops_ran: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


class _Scene:
    """One comparison: the marker file, the printer and the tally it reports to."""

    def __init__(self, workdir: Path, tally: _Tally, title: str) -> None:
        self.workdir = workdir
        self.tally = tally
        self.title = title
        self._count = 0
        self.marker = self.fresh_marker()

    def fresh_marker(self) -> Path:
        """A new marker path for the next attack, so one attack's success cannot be
        mistaken for another's."""
        self._count += 1
        self.marker = self.workdir / f"{self.title}-{self._count}.marker"
        return self.marker

    def marker_created(self) -> bool:
        return self.marker.exists()

    def say(self, label: str, text: str) -> None:
        prefix = f"    {label:<9} "
        body = textwrap.fill(
            text, width=_WIDTH, initial_indent=prefix, subsequent_indent=" " * len(prefix)
        )
        print(body)

    def original(self, name: str, attack: Callable[[], object]) -> None:
        """Run *attack* against the dangerous original and report whether it ran."""
        try:
            attack()
            outcome = ""
        except Exception as error:  # the original may fail *after* running the payload
            outcome = f" (then raised {type(error).__name__})"
        if self.marker_created():
            self.tally.original_ran.append(f"{self.title}: {name}")
            self.say("UNSAFE", f"{name}: the attacker's command ran{outcome}.")
        else:
            self.say("original", f"{name}: the attack did not run here{outcome}.")

    def replacement(self, name: str, attempt: Callable[[], object]) -> None:
        """Feed the same input to the safeops replacement; it must refuse it."""
        try:
            attempt()
        except SafeOpsError as error:
            if self.marker_created():  # refused, but too late: never hide that
                self.tally.safeops_ran.append(f"{self.title}: {name}")
                self.say("FAILED", f"{name} raised, but the command had already run.")
                return
            self.tally.safeops_stopped.append(f"{self.title}: {name}")
            self.say("safeops", f"{name}: refused. {type(error).__name__}: {_first_line(error)}")
            return
        if self.marker_created():
            self.tally.safeops_ran.append(f"{self.title}: {name}")
            self.say("FAILED", f"{name}: the attacker's command ran.")
        else:
            self.tally.safeops_ran.append(f"{self.title}: {name} (accepted)")
            self.say("FAILED", f"{name}: accepted the hostile input without an error.")

    def neutralised(self, name: str, attempt: Callable[[], object], how: str) -> None:
        """The replacement ran the command but the hostile input had no effect."""
        result = attempt()
        if self.marker_created():
            self.tally.safeops_ran.append(f"{self.title}: {name}")
            self.say("FAILED", f"{name}: the attacker's command ran.")
            return
        self.tally.safeops_stopped.append(f"{self.title}: {name}")
        self.say("safeops", f"{name}: neutralised: {how} (exit status {result}).")

    def ok(self, text: str) -> None:
        self.say("ok", text)

    def missing(self, feature: str) -> None:
        self.tally.missing.append(feature)
        self.say("missing", f"{feature} is not part of this version of safeops yet.")


def _first_line(error: BaseException, limit: int = 160) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return text if len(text) <= limit else text[:limit] + "..."


def _heading(number: int, title: str) -> None:
    print()
    print(f"[{number}] {title}")


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="safeops-demo-") as name:
        yield Path(name)


def _touch_command(marker: Path) -> str:
    return f"touch {shlex.quote(str(marker))}"


def _malicious_pickle(command: str) -> bytes:
    """A protocol-0 pickle that calls ``os.system(command)`` when loaded.

    Assembled from opcodes, the way an attacker writes one: GLOBAL 'os system',
    MARK, UNICODE argument, TUPLE, REDUCE, STOP.
    """
    argument = command.encode("raw_unicode_escape")
    return b"cos\nsystem\n(V" + argument + b"\ntR."


# --- scenes ----------------------------------------------------------------------------


def _scene_pickle(workdir: Path, tally: _Tally) -> None:
    _heading(1, "pickle.loads versus safeops.serialize")
    scene = _Scene(workdir, tally, "pickle")
    payload = _malicious_pickle(_touch_command(scene.fresh_marker()))
    scene.say("input", f"a {len(payload)}-byte pickle that calls os.system() when loaded")

    def load_with_pickle() -> object:
        with _permits.granted("pickle", reason="demo: show the original", origin="application"):
            return pickle.loads(payload)  # noqa: S301 - the demo shows this danger

    scene.original("pickle.loads", load_with_pickle)
    scene.fresh_marker()
    payload = _malicious_pickle(_touch_command(scene.marker))
    try:
        from safeops import serialize
    except ImportError:
        scene.missing("safeops.serialize")
        return
    tagged = b'{"$obj:os.system":["' + _touch_command(scene.marker).encode() + b'"]}'
    scene.say("input", f"the same attack aimed at safeops' own format: {tagged[:60]!r}...")
    scene.replacement("serialize.loads", lambda: serialize.loads(tagged))
    try:
        from safeops.serialize import legacy
    except ImportError:
        scene.missing("safeops.serialize.legacy")
    else:
        scene.replacement("legacy.loads (reading old pickles)", lambda: legacy.loads(payload))
        report = legacy.inspect(payload)
        flagged = sorted(
            {f.target for f in report.findings if f.verdict == "dangerous" and f.kind == "global"}
        )
        scene.ok(f"legacy.inspect flags it without running it: dangerous {', '.join(flagged)}")
    import datetime
    import uuid
    from decimal import Decimal

    record = {
        "id": uuid.UUID(int=7),
        "when": datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc),
        "price": Decimal("19.99"),
        "tags": {"new", "sale"},
        "size": (3, 4),
    }
    for format_name in ("json", "msgpack"):
        blob = serialize.dumps(record, format=format_name)
        same = serialize.loads(blob, format=format_name) == record
        scene.ok(
            f"serialize {format_name}: a record with a UUID, an aware datetime, a Decimal, "
            f"a set and a tuple round-trips {'exactly' if same else 'WITH DIFFERENCES'} "
            f"({len(blob)} bytes)."
        )


def _scene_eval(workdir: Path, tally: _Tally) -> None:
    _heading(2, "eval versus safe_eval")
    scene = _Scene(workdir, tally, "eval")
    marker = scene.fresh_marker()
    # The classic escape from eval(text, {"__builtins__": {}}): walk from a tuple to
    # object's subclasses, find one whose function globals hold the real builtins.
    escape = (
        "[c for c in ().__class__.__base__.__subclasses__() "
        "if c.__name__ == 'catch_warnings'][0]()._module.__builtins__['open']"
        f"({str(marker)!r}, 'w')"
    )
    scene.say("input", f"a formula with an escape: {escape[:70]}...")

    def run_eval() -> object:
        with _permits.granted(
            "dynamic_code", reason="demo: show the original", origin="application"
        ):
            return eval(escape, {"__builtins__": {}}, {})  # noqa: S307 - the demo shows this danger

    scene.original('eval(text, {"__builtins__": {}})', run_eval)
    scene.fresh_marker()
    try:
        from safeops import compile_expr, safe_eval
    except ImportError:
        scene.missing("safe_eval / compile_expr")
        return
    attack = escape.replace(repr(str(marker)), repr(str(scene.marker)))
    scene.replacement("safe_eval", lambda: safe_eval(attack))
    scene.replacement("safe_eval", lambda: safe_eval("'x' * 10**10"))
    price = compile_expr(
        "unit * qty * (1 - discount) if qty > 10 else unit * qty", names=["unit", "qty", "discount"]
    )
    scene.ok(f"compile_expr of a real formula: {price(unit=2.5, qty=12, discount=0.1):.2f}")
    literal = safe_eval("{'a': [1, 2, (3, 4)]}", mode="literal")
    scene.ok(f"safe_eval(mode='literal'): {literal!r}")


def _scene_command(workdir: Path, tally: _Tally) -> None:
    _heading(3, "subprocess with an untrusted file name versus run_cmd")
    scene = _Scene(workdir, tally, "command")
    tar = shutil.which("tar")
    if tar is None:
        scene.say("skipped", "tar is not installed on this machine; nothing to compare.")
        return
    (workdir / "report.txt").write_text("quarterly numbers\n")
    archive = str(workdir / "backup.tar")

    def hostile_names() -> list[str]:
        return ["--checkpoint=1", f"--checkpoint-action=exec={_touch_command(scene.marker)}"]

    scene.fresh_marker()
    scene.say("input", f"file names chosen by a user: {hostile_names()}")

    def run_raw() -> object:
        argv = [tar, "-cf", archive, "-C", str(workdir), "report.txt", *hostile_names()]
        with _permits.granted("process", reason="demo: show the original", origin="application"):
            return subprocess.run(argv, capture_output=True, check=False, timeout=30)

    scene.original("subprocess.run([tar, ..., *names]) (no shell!)", run_raw)
    scene.fresh_marker()
    try:
        from safeops import run_cmd
    except ImportError:
        scene.missing("run_cmd")
        return
    scene.neutralised(
        "run_cmd(['tar', ...], args=names)",
        lambda: (
            run_cmd(
                ["tar", "-cf", archive, "-C", str(workdir)], args=hostile_names(), check=False
            ).returncode
        ),
        "tar received the names after '--', as file names, and found no such files",
    )
    scene.replacement(
        "run_cmd(argv) with the option written into argv",
        lambda: run_cmd(["tar", "-cf", archive, "-C", str(workdir), *hostile_names()]),
    )
    result = run_cmd(["tar", "-cf", archive, "-C", str(workdir)], args=["report.txt"])
    scene.ok(f"run_cmd with a real file name: exit status {result.returncode}")


_CHILD_TEMPLATE = """
import os, pickle, sys
import safeops
safeops.enforce()
for name, action in [
    ("os.system", lambda: os.system({command!r})),
    ("pickle.loads", lambda: pickle.loads({payload!r})),
]:
    try:
        action()
        print(name, "ALLOWED")
    except PermissionError as error:
        print(name, "BLOCKED", str(error).splitlines()[0].split(" Detail:")[0][:200])
"""


def _scene_enforce(workdir: Path, tally: _Tally) -> None:
    _heading(4, "safeops.enforce() in a child process")
    scene = _Scene(workdir, tally, "enforce")
    try:
        from safeops import enforce  # noqa: F401 - only checks that enforcement exists
    except ImportError:
        scene.missing("safeops.enforce")
        return
    marker = scene.fresh_marker()
    code = _CHILD_TEMPLATE.format(
        command=_touch_command(marker), payload=_malicious_pickle(_touch_command(marker))
    )
    scene.say("input", "legacy code calling os.system() and pickle.loads() on hostile bytes")
    with _permits.granted("process", reason="demo: child interpreter", subject=sys.executable):
        child = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=workdir,
        )
    lines = [line for line in child.stdout.splitlines() if line.strip()]
    for line in lines:
        name, verdict, *rest = line.split(" ", 2)
        if verdict == "BLOCKED" and not scene.marker_created():
            tally.safeops_stopped.append(f"enforce: {name}")
            scene.say("safeops", f"{name}: blocked. {rest[0] if rest else ''}")
        else:
            tally.safeops_ran.append(f"enforce: {name}")
            scene.say("FAILED", f"{name}: {verdict.lower()}")
    if not lines:
        tally.safeops_ran.append("enforce: child failed")
        scene.say("FAILED", f"the child process failed: {child.stderr.strip()[-300:]}")


# --- the command -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``safeops demo`` takes no arguments."""


def run(args: argparse.Namespace) -> int:
    """Run the tour; exit status 0 when every attack was stopped by safeops."""
    print("safeops demo: hostile inputs against the dangerous originals and their replacements.")
    print("Every attack only tries to create a marker file in a temporary directory.")
    tally = _Tally()
    with _workdir() as workdir:
        for scene in (_scene_pickle, _scene_eval, _scene_command, _scene_enforce):
            scene(workdir, tally)
    print()
    print("Summary")
    print(f"    attacks that ran through the dangerous originals: {len(tally.original_ran)}")
    print(f"    attacks stopped by safeops:                       {len(tally.safeops_stopped)}")
    print(f"    attacks that got through safeops:                 {len(tally.safeops_ran)}")
    if tally.missing:
        print(f"    not built yet: {', '.join(tally.missing)}")
    for item in tally.safeops_ran:
        print(f"    FAILED: {item}")
    return 1 if tally.safeops_ran else 0

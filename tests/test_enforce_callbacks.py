"""Callbacks and data-chosen callables under enforce (attack review 2026-11-28, E6-E10).

A trusted frame that calls ``eval``/``exec``/``compile`` without naming it, or calls a
text runner (``timeit``) it holds as a value, did not choose the source: the attacks are
in tests/vectors/enforce/attacks-callbacks.json. These tests show what keeps working
(legitimate callbacks, code generators called by name) and pin the helpers' safety: the
hook reads callbacks without running any user code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

from safeops.enforce import _holders

LEGITIMATE = """\
import json, sys, typing
import safeops
HANDLE = safeops.enforce("block")
results = {}

def note(name, function):
    try:
        function()
    except BaseException as error:
        results[name] = f"{type(error).__name__}: {error}"[:500]
    else:
        results[name] = "ok"

def sched_callbacks():
    import sched
    seen = []
    s = sched.scheduler()
    s.enter(0, 1, seen.append, ("ran",))
    s.run()
    assert seen == ["ran"]

def pools_run_functions_that_generate_code():
    import collections, concurrent.futures, multiprocessing.pool
    def make(name):
        return collections.namedtuple(name, "a b")(1, 2).b
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        assert list(pool.map(make, ["P", "Q"])) == [2, 2]
    with multiprocessing.pool.ThreadPool(1) as pool:
        assert pool.apply(make, ("R",)) == 2

def asyncio_callbacks_and_to_thread():
    import asyncio, dataclasses
    def build():
        return dataclasses.make_dataclass("Row", [("x", int)])(3).x
    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.call_soon(lambda: done.set_result(build()))
        return await done + await asyncio.to_thread(build)
    assert asyncio.run(main()) == 6

def exit_stack_and_finalize_callbacks():
    import contextlib, weakref
    hints = []
    class Model:
        x: "typing.Optional[int]"
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: hints.append(typing.get_type_hints(Model)))
    class Owner:
        pass
    owner = Owner()
    weakref.finalize(owner, hints.append, "finalized")
    del owner
    assert hints[0] == {"x": typing.Optional[int]} and hints[1] == "finalized"

def timeit_called_by_name_from_a_callback():
    import sched, timeit
    def measure():
        return timeit.timeit("1 + 1", number=1)
    s = sched.scheduler()
    s.enter(0, 1, measure)
    s.run()

def dict_config_with_a_factory():
    import logging, logging.config
    config = {"version": 1, "handlers": {"h": {"()": "logging.NullHandler"}},
              "root": {"handlers": ["h"]}}
    logging.config.dictConfig(config)

for name in list(globals()):
    if name[0] != "_" and callable(globals()[name]) and name not in ("note",):
        if globals()[name].__module__ == "__main__":
            note(name, globals()[name])
results["__report__"] = HANDLE.records()
print("RESULTS " + json.dumps(results, default=str))
"""


def _run(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "script.py"
    path.write_text(script, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def test_legitimate_callbacks_keep_working_under_block_mode(tmp_path: Path) -> None:
    """Callbacks that are ordinary functions (which may generate code by name) still run,
    and nothing is even recorded."""
    result = _run(LEGITIMATE, tmp_path)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, result.stderr
    results: dict[str, Any] = json.loads(lines[-1][len("RESULTS ") :])
    report = results.pop("__report__")
    assert results == dict.fromkeys(results, "ok")
    assert len(results) == 6
    assert report == []


def test_exec_registered_with_atexit_is_blocked_at_shutdown(tmp_path: Path) -> None:
    """exec run by atexit at shutdown (no Python caller at all) is refused with a
    BlockedOperation, and the payload never runs."""
    canary = tmp_path / "canary"
    script = textwrap.dedent(
        """\
        import atexit, sys
        import safeops
        safeops.enforce("block")
        atexit.register(exec, sys.argv[1], {})
        """
    )
    result = _run(script, tmp_path, f"open({str(canary)!r}, 'w').write('x')")
    assert "BlockedOperation" in result.stderr
    assert "dynamic_code.compile" in result.stderr
    assert not canary.exists()


class _Slotted:
    __slots__ = ("callback", "empty")

    def __init__(self, callback: object) -> None:
        self.callback = callback


class _Tricky:
    """A class whose attribute hooks would run code if the hook used getattr."""

    calls: ClassVar[list[str]] = []

    def __getattr__(self, name: str) -> object:
        _Tricky.calls.append(name)
        raise AttributeError(name)

    @property
    def callback(self) -> object:
        _Tricky.calls.append("callback")
        return exec


def test_held_finds_callbacks_in_slots_tuples_partials_and_closures() -> None:
    """Slotted records, task tuples, partials and closure cells are all searched."""
    import functools

    def runner(record: object, task: tuple[object, ...], call: object) -> list[object]:
        def closure() -> object:
            return record
        _ = closure
        return _holders.held(sys._getframe())

    sentinel_a, sentinel_b, sentinel_c = object(), object(), object()
    held = runner(_Slotted(sentinel_a), (sentinel_b,), functools.partial(print, sentinel_c))
    assert any(item is sentinel_a for item in held)
    assert any(item is sentinel_b for item in held)
    assert any(item is sentinel_c for item in held)
    assert any(item is print for item in held)


def test_held_runs_no_user_attribute_code() -> None:
    """Reading a local's state never calls __getattr__ or a property."""
    _Tricky.calls.clear()

    def runner(value: object) -> list[object]:
        return _holders.held(sys._getframe())

    runner(_Tricky())
    assert _Tricky.calls == []


class _Base:
    def __init__(self) -> None:
        self.ready = True


class _Child(_Base):
    pass


def _builds_through_the_base() -> object:
    return _Base()


def _calls_a_value(factory: Any) -> object:
    return factory()


def test_calls_by_name_recognises_constructors_through_a_base_class_name() -> None:
    """Code naming a base class calls a subclass instance's __init__ by name; code that
    calls a value it was handed does not."""
    init_code = _Base.__init__.__code__
    assert _holders.calls_by_name(_builds_through_the_base.__code__, init_code, [_Child()])
    assert not _holders.calls_by_name(_calls_a_value.__code__, init_code, [_Child()])


def test_calls_by_name_counts_closure_names() -> None:
    """A function defined in an enclosing scope and called from a closure is named."""

    def local_runner() -> None:
        return None

    def caller() -> None:
        local_runner()

    assert _holders.calls_by_name(caller.__code__, local_runner.__code__, [])


IMPORTS = """\
import json, sys
import safeops
HANDLE = safeops.enforce("block")
import hypothesis, jinja2, pydantic, pytest, yaml
jinja2.Environment().from_string("{{ 1 + 1 }}")
print("RESULT " + json.dumps(HANDLE.records(), default=str))
"""


def test_installed_packages_import_under_block_mode(tmp_path: Path) -> None:
    """Libraries whose module code builds typing constructs with string forward
    references (jinja2's TypeVar bound, hypothesis' Optional["..."]) import cleanly:
    module-level code holds definitions, not callbacks (attack review 2, F3; 3.12+)."""
    result = _run(IMPORTS, tmp_path)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stderr
    assert json.loads(lines[-1][len("RESULT ") :]) == []


PDB = """\
import safeops
safeops.enforce("block")

def inspect_me():
    x = 41
    breakpoint()
    return x

inspect_me()
"""


def test_pdb_print_commands_work_under_block_mode(tmp_path: Path) -> None:
    """pdb evaluates what its user types (p, pp, whatis) through its own do_* methods:
    the debugger dispatching to itself is not a callback (attack review 2, P1)."""
    path = tmp_path / "debugged.py"
    path.write_text(PDB, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(path)],
        input="p x + 1\npp [x]\nwhatis x\nc\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**__import__("os").environ, "PYTHONBREAKPOINT": "pdb.set_trace"},
    )
    assert "42" in result.stdout
    assert "[41]" in result.stdout
    assert "<class 'int'>" in result.stdout
    assert "BlockedOperation" not in result.stdout + result.stderr


HOST_CALLBACK = """\
import sys
import safeops
from safeops.errors import BlockedOperation, EvaluatedCodeError
safeops.enforce("block")
def run_code(text):
    # A host function handed to an in-process safe_exec program: it compiles outside
    # and runs its code object inside the evaluator's own permit.
    with safeops.permit("dynamic_code", reason="test: compile only"):
        code = compile(text, "<host>", "exec")
    exec(code, {})

try:
    safeops.safe_exec("run(payload)", {"run": run_code, "payload": sys.argv[1]}, isolated=False)
except EvaluatedCodeError as error:  # what the program raised, as its cause
    cause = error.__cause__
    if isinstance(cause, BlockedOperation):
        print("BLOCKED", cause.context["rule"])
"""


def test_safe_exec_permit_does_not_cover_a_host_callbacks_exec(tmp_path: Path) -> None:
    """Inside an in-process safe_exec run, only the program's own code object is covered
    by safeops' permit: a host function exec'ing another code object is judged
    (attack review 2026-11-28, E12)."""
    canary = tmp_path / "canary"
    result = _run(HOST_CALLBACK, tmp_path, f"open({str(canary)!r}, 'w').write('x')")
    assert "BLOCKED dynamic_code.exec" in result.stdout, result.stdout + result.stderr
    assert not canary.exists()


class _DictProperty:
    """An object whose __dict__ is a property: reading it through getattr runs code."""

    reads: ClassVar[list[str]] = []

    @property
    def __dict__(self) -> dict[str, object]:  # type: ignore[override]
        _DictProperty.reads.append("__dict__")
        return {}


def test_process_argument_search_runs_no_dict_property() -> None:
    """The process rules' search of a frame's arguments reads instance dicts through
    CPython's own descriptor: a __dict__ property never runs inside the hook."""
    from safeops.enforce import _processes

    _DictProperty.reads.clear()
    list(_processes._reachable([_DictProperty()]))
    assert _DictProperty.reads == []


class _LoudRepr:
    """An object whose repr, str and __class__ record that they ran."""

    calls: ClassVar[list[str]] = []

    def __repr__(self) -> str:
        _LoudRepr.calls.append("__repr__")
        return "loud"

    def __str__(self) -> str:
        _LoudRepr.calls.append("__str__")
        return "loud"

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # type: ignore[override]
        _LoudRepr.calls.append("__class__")
        return str


class _LoudText(str):
    def __str__(self) -> str:
        _LoudRepr.calls.append("str.__str__")
        return "other"

    def __repr__(self) -> str:
        _LoudRepr.calls.append("str.__repr__")
        return "other"


class _LoudTuple(tuple):  # type: ignore[type-arg]
    def __iter__(self):  # type: ignore[no-untyped-def]
        _LoudRepr.calls.append("tuple.__iter__")
        return iter(())


def test_finding_details_run_no_method_of_the_detail() -> None:
    """A finding's detail is built inside the hook, whose own events are not judged: the
    repr of a compile source (an ast.AST subclass, say) or of ctypes arguments must not
    run (enforce de-duplication review, 2026-11-28)."""
    from safeops.enforce._findings import rule_finding

    _LoudRepr.calls.clear()
    details = [
        rule_finding("dynamic_code.compile", "compile", "block", where=None, why="", detail=value)
        .detail
        for value in (_LoudRepr(), _LoudText("text"), (1, _LoudRepr(), b"x"), ["list"])
    ]
    assert _LoudRepr.calls == []
    assert details[0] == "<_LoudRepr object>"
    assert details[1] == "text"  # the characters, read by str's own method
    assert details[2] == "(1, <_LoudRepr object>, b'x')"
    assert details[3] == "<list object>"


def test_caller_arguments_run_no_method_of_a_rebound_star_args() -> None:
    """A function that rebinds its *args to a tuple subclass: the attribution's argument
    reading uses tuple's own iterator, never the subclass's."""
    import sys

    from safeops.enforce._holders import arguments

    def spy(*args: object) -> list[object]:
        args = _LoudTuple(("a", "b"))  # noqa: F841 (read from the frame below)
        return arguments(sys._getframe(), spread=True)

    _LoudRepr.calls.clear()
    assert spy(1) == ["a", "b"]
    assert _LoudRepr.calls == []


class _LoudMeta(type):
    def __hash__(cls) -> int:
        _LoudRepr.calls.append("metaclass.__hash__")
        return 1

    def __eq__(cls, other: object) -> bool:
        _LoudRepr.calls.append("metaclass.__eq__")
        return cls is other


class _LoudTyped(metaclass=_LoudMeta):
    """An object whose type hashes loudly (a set lookup of the type would run it)."""


def test_finding_details_do_not_hash_the_detail_type() -> None:
    """Review of 2026-11-28 (session 3), E1: the plain-type check compares by identity."""
    from safeops.enforce._findings import rule_finding

    _LoudRepr.calls.clear()
    finding = rule_finding(
        "native.ctypes", "ctypes.call_function", "warn", where=None, why="", detail=_LoudTyped()
    )
    assert _LoudRepr.calls == []
    assert finding.detail == "<_LoudTyped object>"


def test_a_methodcallers_name_is_read_without_its_arguments_repr() -> None:
    """Review of 2026-11-28 (session 3), E3: the held-callable search reads a
    methodcaller's name through its C __reduce__, never through its repr."""
    import operator

    from safeops.enforce._holders import _methodcaller_name

    _LoudRepr.calls.clear()
    assert _methodcaller_name(operator.methodcaller("upper", _LoudRepr())) == "upper"
    assert _methodcaller_name(operator.methodcaller("lower", _LoudRepr(), k=_LoudRepr())) == (
        "lower"
    )
    assert _LoudRepr.calls == []


FIND_CLASS_LIAR = """
import io, pickle
from safeops.enforce import _hook

def inside_hook():
    return getattr(_hook._busy, "active", False)

class Liar(str):
    # os/system, but inside the hook it hashes and compares like builtins/set.
    def __new__(cls, real, fake):
        text = super().__new__(cls, real)
        text.fake = fake
        return text
    def __hash__(self):
        return hash(self.fake) if inside_hook() else str.__hash__(self)
    def __eq__(self, other):
        return other == self.fake if inside_hook() else str.__eq__(self, other)

try:
    pickle.Unpickler(io.BytesIO(b".")).find_class(Liar("os", "builtins"), Liar("system", "set"))
except Exception as error:
    print("REFUSED", type(error).__name__)
else:
    print("RESOLVED")
"""


def test_find_class_with_str_subclass_names_is_judged_by_their_characters(
    tmp_path: Path,
) -> None:
    """Review of 2026-11-28 (session 3), E4: a str subclass lying about its hash and
    equality inside the hook resolved os.system through find_class."""
    script = tmp_path / "liar.py"
    script.write_text(FIND_CLASS_LIAR, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "safeops", "run", "--mode", "block", "--", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "REFUSED BlockedOperation" in result.stdout, result.stdout + result.stderr

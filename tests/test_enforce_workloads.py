"""Legitimate workloads keep working under ``enforce(mode="block")`` with the default policy.

Each batch runs in one fresh interpreter (hooks cannot be removed): enforce, then every
workload of the batch, each reporting ``ok`` or its error; finally the enforcement
report must be empty (nothing was even warned about). Workloads are batched because
they do not interfere with one another; attacks get one interpreter each
(tests/test_enforce_attacks.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

PRELUDE = """\
import json, sys, traceback
import safeops
HANDLE = safeops.enforce("block")
RESULTS = {}

def workload(function):
    try:
        function()
    except BaseException as error:
        RESULTS[function.__name__] = f"{type(error).__name__}: {error}"[:2000]
    else:
        RESULTS[function.__name__] = "ok"
    return function
"""

EPILOGUE = """
RESULTS["__report__"] = HANDLE.records()
print("RESULTS " + json.dumps(RESULTS, default=str))
"""

GENERAL = """
import typing

@workload
def dataclasses_namedtuple_enum():
    import collections, dataclasses, enum
    @dataclasses.dataclass(frozen=True, order=True)
    class Point:
        x: int
        y: "list[int] | None" = None
    Pair = collections.namedtuple("Pair", "left, right", defaults=(0,))
    Color = enum.Enum("Color", "RED GREEN")
    class Flag(enum.IntFlag):
        A = 1
        B = 2
    assert Point(1) < Point(2) and Pair(1).right == 0 and Color.RED.value == 1
    assert (Flag.A | Flag.B) == 3
    assert typing.NamedTuple("Row", [("a", int)])(1).a == 1

class Annotated:
    value: "dict[str, typing.Optional[int]]"
    other: "Annotated | None"

@workload
def get_type_hints_on_string_annotations():
    hints = typing.get_type_hints(Annotated)
    assert hints["value"] == dict[str, typing.Optional[int]]

@workload
def string_forward_references_in_generics():
    alias = typing.Optional["int | str"]
    assert "int | str" in repr(alias)

@workload
def inspect_get_annotations_eval_str():
    import inspect
    def f(a: "int | None") -> "list[str]": ...
    assert inspect.get_annotations(f, eval_str=True)["return"] == list[str]

@workload
def logging_dict_config():
    import logging.config
    logging.config.dictConfig({
        "version": 1,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {"null": {"class": "logging.NullHandler", "formatter": "plain"}},
        "root": {"handlers": ["null"], "level": "INFO"},
    })
    logging.getLogger("x").info("configured")

@workload
def ast_literal_eval():
    import ast
    assert ast.literal_eval(sys.argv[1]) == {"a": [1, 2.5, None]}

@workload
def json_csv_sqlite3():
    import csv, io, json as js, sqlite3
    assert js.loads(js.dumps({"a": [1]})) == {"a": [1]}
    rows = list(csv.reader(io.StringIO("a,b\\n1,2\\n")))
    assert rows[1] == ["1", "2"]
    db = sqlite3.connect(":memory:")
    db.execute("create table t (x)")
    db.execute("insert into t values (?)", (1,))
    assert db.execute("select x from t").fetchall() == [(1,)]

@workload
def pickle_of_allow_listed_types():
    import collections, datetime, decimal, pickle, uuid
    value = {"a": [1, 2.5, "s", b"b", None, True], "t": (1, 2), "s": {1}, "f": frozenset({2}),
             "d": datetime.datetime(2024, 1, 2, 3, 4, 5), "dec": decimal.Decimal("1.5"),
             "od": collections.OrderedDict(a=1), "u": uuid.UUID(int=5), "c": 1 + 2j}
    # Protocols 0-1 name copyreg._reconstructor, refused by the shared allow-list.
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(value, protocol)) == value

@workload
def pydantic_models():
    import pydantic
    class Item(pydantic.BaseModel):
        name: str
        tags: "list[str]" = []
        parent: "Item | None" = None
    item = Item.model_validate({"name": "a", "parent": {"name": "b"}})
    assert item.parent is not None and item.parent.name == "b"
    assert pydantic.TypeAdapter(list[int]).validate_python(["1"]) == [1]

@workload
def list_form_subprocess_run():
    import subprocess
    out = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True)
    assert out.stdout.strip() == "42"
    assert subprocess.run(["true"]).returncode == 0

@workload
def timeit_of_program_written_text():
    import timeit
    assert timeit.timeit("1 + 1", number=10) >= 0

@workload
def threads_and_asyncio():
    import asyncio, threading
    async def main():
        proc = await asyncio.create_subprocess_exec("true")
        return await proc.wait()
    assert asyncio.run(main()) == 0
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()

@workload
def permit_allows_a_reviewed_eval():
    with safeops.permit("dynamic_code", reason="differential test against eval"):
        assert eval(sys.argv[2]) == 3
"""

MULTIPROCESSING = """
import concurrent.futures, multiprocessing

def square(x):
    return x * x

def pools(method):
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        assert pool.map(square, [1, 2, 3]) == [1, 4, 9]
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as executor:
        assert list(executor.map(square, [4, 5])) == [16, 25]

if __name__ == "__main__":
    @workload
    def pool_and_executor_fork():
        pools("fork")

    @workload
    def pool_and_executor_spawn():
        pools("spawn")

    @workload
    def pool_and_executor_forkserver():
        pools("forkserver")
"""

SAFEOPS_OWN = """
@workload
def run_cmd_list_form():
    result = safeops.run_cmd(["echo", "hello"])
    assert result.stdout.strip() == "hello"

@workload
def serialize_round_trip():
    from safeops import serialize
    assert serialize.loads(serialize.dumps({"a": [1, 2]})) == {"a": [1, 2]}

@workload
def safe_eval_expression():
    assert safeops.safe_eval("a + b * 2", {"a": 1, "b": 2}) == 5

@workload
def safe_exec_isolated():
    assert safeops.safe_exec("x = 6 * 7", isolated=True)["x"] == 42
"""

#: Modules skipped by the import-everything workload: they open a display or a browser,
#: print on import, or are the IDLE application.
SKIPPED_STDLIB = ["antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo",
                  "__hello__", "__phello__", "_tkinter"]  # fmt: skip

STDLIB = f"""
import importlib, warnings
warnings.simplefilter("ignore")

@workload
def import_every_stdlib_module():
    failures = []
    for name in sorted(sys.stdlib_module_names):
        if name in {SKIPPED_STDLIB!r}:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # not built on this platform (winreg, msvcrt, ...)
        except safeops.errors.BlockedOperation as error:
            failures.append(f"{{name}}: {{error}}")
    assert not failures, failures
"""


def run_batch(body: str, tmp_path: Path) -> dict[str, Any]:
    """Run *body* under the prelude in a fresh interpreter; returns its results."""
    script = tmp_path / "workloads.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + EPILOGUE, encoding="utf-8")
    literal = json.dumps({"a": [1, 2.5, None]}).replace("null", "None")
    result = subprocess.run(
        [sys.executable, str(script), literal, "1 + 2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    results: dict[str, Any] = json.loads(lines[-1][len("RESULTS ") :])
    return results


def _names(body: str) -> list[str]:
    lines = body.splitlines()
    return [
        lines[i + 1].strip()[len("def ") :].split("(")[0]
        for i, line in enumerate(lines)
        if line.strip() == "@workload"
    ]


@pytest.fixture(scope="module")
def general(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_batch(GENERAL, tmp_path_factory.mktemp("general"))


@pytest.fixture(scope="module")
def multiprocessing_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_batch(MULTIPROCESSING, tmp_path_factory.mktemp("mp"))


@pytest.mark.parametrize("name", _names(GENERAL))
def test_general_workload_runs_under_block_mode(general: dict[str, Any], name: str) -> None:
    """Each everyday workload (dataclasses, typing, pickle of safe types...) keeps working."""
    assert general[name] == "ok"


def test_general_workloads_leave_an_empty_report(general: dict[str, Any]) -> None:
    """Nothing in the everyday workloads is refused, warned about or logged, except the
    one scoped permit, which is recorded with its reason."""
    decisions = sorted(
        (r["rule"], r["decision"], r["permit"]["reason"]) for r in general["__report__"]
    )
    assert decisions == [
        ("dynamic_code.compile", "permitted", "differential test against eval"),
        ("dynamic_code.exec", "permitted", "differential test against eval"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", _names(MULTIPROCESSING))
def test_process_pools_work_under_block_mode(
    multiprocessing_results: dict[str, Any], name: str
) -> None:
    """multiprocessing.Pool and ProcessPoolExecutor work with fork, spawn and forkserver."""
    assert multiprocessing_results[name] == "ok"
    assert multiprocessing_results["__report__"] == []


@pytest.mark.slow
def test_every_stdlib_module_imports_under_block_mode(tmp_path: Path) -> None:
    """Importing every importable stdlib module triggers no enforcement at all."""
    results = run_batch(STDLIB, tmp_path)
    assert results["import_every_stdlib_module"] == "ok"
    assert results["__report__"] == []


@pytest.mark.parametrize("name", _names(SAFEOPS_OWN))
def test_safeops_own_replacements_work_under_block_mode(name: str, tmp_path: Path) -> None:
    """run_cmd, serialize, safe_eval and isolated safe_exec pass their own permits."""
    body = SAFEOPS_OWN.split("@workload")[_names(SAFEOPS_OWN).index(name) + 1]
    results = run_batch("@workload" + body, tmp_path)
    assert results[name] == "ok"
    assert results["__report__"] == []

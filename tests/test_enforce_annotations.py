"""Annotation strings evaluated out of objects (attack review 2026-11-28, E3).

The attacks (a pydantic model, TypedDict, dataclass or signature built from a user
schema whose "type" is code) are in tests/vectors/enforce/attacks-annotations.json.
These tests pin what counts as a type expression, that any text gets a verdict without
raising, and that real annotation styles keep working under block mode.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeops.enforce._annotations import refusal

#: Annotations built at run time (a schema, make_dataclass, create_model with strings):
#: plain type expressions evaluate.
RUNTIME_TYPES = [
    "int",
    "Optional[int]",
    "list[dict[str, int]] | None",
    "typing.Optional['Node']",
    "Literal['a', 'b']",
    "Callable[[int], str]",
    "tuple[int, ...]",
    pytest.param(
        "tuple[*Ts]",
        marks=pytest.mark.skipif(sys.version_info < (3, 11), reason="3.11 syntax (PEP 646)"),
    ),
    "collections.abc.Mapping[str, int]",
    "'quoted.Forward'",
]

#: Built at run time, these are code, not types (attack reviews E3, F4, G1, G4).
RUNTIME_CODE = [
    "open('/tmp/x', 'w')",
    "__import__('os').system('id')",
    "os.system('id')",
    "Annotated[int, Field(gt=0)]",  # any call: run-time annotations only name types
    "Annotated[int, max(['p'], key=lambda p, o=open: o(p, 'w'))]",
    "Annotated[str, AfterValidator(lambda v, G=globals: G())]",
    "Annotated[int, sympy.Poly('x + 0*bool(open(1))')]",
    "x and int",
    "int if x else str",
    "[c for c in 'ab']",
    "f'{x}'",
    "(x := 1)",
    "int.__subclasses__()",
    "int.__class__",
    "Literal[-1]",
    "1 + 2",
    "9 ** 9 ** 9",
    "import os",
    "",
]

#: Written in a module's source (PEP 563 stores them as text): evaluated as written,
#: whatever they call (review 3, P1/P2).
SOURCE = """\
from __future__ import annotations
import dataclasses, datetime, time, typing, uuid
from decimal import Decimal
from typing import Annotated, ClassVar, List, Optional

class User:
    friend: Optional["User"]
    addresses: List["Address"]
    kind: ClassVar["str"]
    created: Annotated[int, Field(default_factory=lambda: int(time.time()))]
    token: Annotated[str, Field(default_factory=lambda: uuid.uuid4().hex)]
    price: Annotated[Decimal, Field(default=Decimal("0.00"))]
    ttl: Annotated[datetime.timedelta, Field(default=datetime.timedelta(seconds=30))]
    limit: Annotated[int, Field(le=2**31 - 1)]

TD = typing.TypedDict("TD", {"a": "int", "b": "Optional[User]"})
"""

WRITTEN = [
    "Optional['User']",
    'Optional["User"]',
    "User",
    "List['Address']",
    "Address",
    "ClassVar['str']",
    "Annotated[int, Field(default_factory=lambda: int(time.time()))]",
    "Annotated[str, Field(default_factory=lambda : uuid.uuid4().hex)]",  # other spacing
    'Annotated[Decimal, Field(default=Decimal("0.00"))]',
    "Annotated[datetime.timedelta, Field(default=datetime.timedelta(seconds=30))]",
    "Annotated[int, Field(le=2 ** 31 - 1)]",
    "Optional[User]",
]


@pytest.fixture
def module_globals(tmp_path: Path) -> dict[str, Any]:
    """The globals of a module whose source declares the annotations above."""
    path = tmp_path / "models.py"
    path.write_text(SOURCE, encoding="utf-8")
    return {"__name__": "models", "__file__": str(path)}


@pytest.mark.parametrize("text", RUNTIME_TYPES)
def test_type_expressions_built_at_run_time_are_not_refused(text: str) -> None:
    """Plain type expressions from data (create_model with string types) evaluate."""
    assert refusal(text, (None, {"__name__": "dynamic"})) is None


@pytest.mark.parametrize("text", RUNTIME_CODE)
def test_code_built_at_run_time_is_refused(text: str) -> None:
    """Calls, lambdas, operators, dunders and other code from data are refused."""
    reason = refusal(text, (None, {"__name__": "dynamic"}))
    assert isinstance(reason, str) and reason


@pytest.mark.parametrize("text", WRITTEN)
def test_annotations_written_in_the_module_source_are_not_refused(
    text: str, module_globals: dict[str, Any]
) -> None:
    """What the module's source declares evaluates as written, compared in normal form."""
    assert refusal(text, (None, module_globals)) is None


def test_code_not_in_the_source_is_refused_even_with_a_source_file(
    module_globals: dict[str, Any],
) -> None:
    """A module with a source file does not vouch for text its source does not hold."""
    text = "Annotated[int, Field(default_factory=lambda: open('x', 'w'))]"
    assert refusal(text, (None, module_globals)) is not None


def test_long_text_is_refused() -> None:
    """Annotation text is short; a long one is refused without parsing it."""
    assert refusal("int | " * 1000 + "int", (None, {})) is not None


@given(st.text(max_size=200))
def test_any_text_gets_a_verdict(text: str) -> None:
    """Any text gives None or a reason, never an exception."""
    verdict = refusal(text, (None, {"__file__": __file__}))
    assert verdict is None or isinstance(verdict, str)


WORKLOAD = '''\
from __future__ import annotations
import dataclasses, inspect, json, sys, typing
from typing import Annotated, Literal, Optional
import pydantic
from pydantic import BaseModel, Field
import safeops
HANDLE = safeops.enforce("block")

class Item(BaseModel):
    sku: Annotated[str, Field(min_length=1)]
    qty: Annotated[int, Field(gt=0)] = 1
    tags: list[str] = Field(default_factory=lambda: [])
    kind: Literal["a", "b"] = "a"
    parent: Optional[Item] = None

Item.model_rebuild()
assert Item(sku="x", qty=2).qty == 2

Dynamic = pydantic.create_model("Dynamic", name=("str", ...), age=("Optional[int]", None))
assert Dynamic(name="n").age is None

@dataclasses.dataclass
class Point:
    x: int
    y: "list[int] | None" = None

assert typing.get_type_hints(Point)["x"] is int
TD = typing.TypedDict("TD", {"a": "int", "b": "Optional[str]"})
assert typing.get_type_hints(TD)["a"] is int

def handler(q: Annotated[str, Field(max_length=5)], n: int = 1) -> dict[str, int]:
    return {}

assert inspect.signature(handler, eval_str=True).parameters["n"].annotation is int
print("RESULT " + json.dumps(HANDLE.records(), default=str))
'''


def test_real_annotation_styles_work_under_block_mode(tmp_path: Path) -> None:
    """pydantic models (future annotations, Annotated/Field, create_model with string
    types), dataclasses, TypedDict and eval_str signatures keep working; nothing is
    recorded."""
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stderr
    assert json.loads(lines[-1][len("RESULT ") :]) == []

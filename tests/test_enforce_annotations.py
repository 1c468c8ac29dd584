"""Annotation strings evaluated out of objects (attack review 2026-11-28, E3).

The attacks (a pydantic model, TypedDict, dataclass or signature built from a user
schema whose "type" is code) are in tests/vectors/enforce/attacks-annotations.json.
These tests pin what counts as a type expression, that any text gets a verdict without
raising, and that real annotation styles keep working under block mode.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeops.enforce._annotations import refusal

NAMESPACE: dict[str, Any] = {
    "Field": pydantic.Field,  # a function of an installed package
    "BaseModel": pydantic.BaseModel,  # a class of an installed package
    "pydantic": pydantic,
    "os": os,
    "collections": collections,
    "get_db": lambda: None,
}


def app_factory(size: int) -> int:
    """A function of the application (this test module) used in an annotation."""
    return size


NAMESPACE["app_factory"] = app_factory


def _is_application(filename: str) -> bool:
    return filename == __file__

ANNOTATIONS = [
    "int",
    "Optional[int]",
    "list[dict[str, int]] | None",
    "typing.Optional['Node']",
    "Literal['a', 'b', -1]",
    "Callable[[int], str]",
    "tuple[int, ...]",
    pytest.param(
        "tuple[*Ts]",
        marks=pytest.mark.skipif(sys.version_info < (3, 11), reason="3.11 syntax (PEP 646)"),
    ),
    "Annotated[int, Field(gt=0)]",
    "Annotated[int, pydantic.Field(gt=0, description='x')]",
    "Annotated[list[int], Field(default_factory=lambda: [])]",
    "Annotated[str, Depends(get_db)]",
    "Annotated[str, MyValidator(3)]",  # a name the namespaces do not hold
    "Annotated[int, Field(le=2**31 - 1)]",
    "Annotated[int, Field(max_length=1024 * 1024)]",
    "Annotated[str | None, BeforeValidator(lambda v: v or None)]",
    "Annotated[int, Field(le=int(1e9))]",
    "Annotated[int, app_factory(3)]",  # a function of the application
    "Literal[1] if True else int",
    "collections.abc.Mapping[str, int]",
    "'quoted.Forward'",
]

NOT_TYPES = [
    "open('/tmp/x', 'w')",
    "__import__('os').system('id')",
    "os.system('id')",
    "collections.Counter('x')",  # a standard library callable
    "9 ** 9 ** 9",
    "1 << 10 ** 9",
    "jinja2_template('x').module",
    "pydantic.create_model('M')",  # an installed function that is no annotation factory
    "[c for c in 'ab']",
    "f'{x}'",
    "(x := 1)",
    "int.__subclasses__()",
    "int.__class__",
    "print(1)",
    "getattr(int, 'x')",
    "Field(default_factory=lambda: open('x'))",
    "BaseModel.model_validate({})",  # a method, not a constructor by name
    "Field()()",
    "import os",
    "",
]


@pytest.mark.parametrize("text", ANNOTATIONS)
def test_type_expressions_are_not_refused(text: str) -> None:
    """Annotations real code writes (pydantic, FastAPI, typing) evaluate."""
    assert refusal(text, (None, NAMESPACE), _is_application) is None


@pytest.mark.parametrize("text", NOT_TYPES)
def test_code_in_an_annotation_is_refused(text: str) -> None:
    """Calls of builtins or stdlib, operators, dunders and other code are refused."""
    reason = refusal(text, (None, NAMESPACE), _is_application)
    assert isinstance(reason, str) and reason


def test_a_stdlib_callable_shadowed_by_the_namespace_is_judged_by_what_it_is() -> None:
    """A namespace entry decides what a name calls: a local class named ``open`` is not
    the builtin."""

    class Open:
        pass

    Open.__module__ = "myapp.models"
    assert refusal("open(1)", ({"open": Open}, NAMESPACE)) is None


def test_long_text_is_refused() -> None:
    """Annotation text is short; a long one is refused without parsing it."""
    assert refusal("int | " * 1000 + "int", (None, NAMESPACE)) is not None


@given(st.text(max_size=200))
def test_any_text_gets_a_verdict(text: str) -> None:
    """Any text gives None or a reason, never an exception."""
    assert refusal(text, (None, NAMESPACE)) is None or isinstance(
        refusal(text, (None, NAMESPACE)), str
    )


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

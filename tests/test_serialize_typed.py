"""safeops.serialize typed decoding through pydantic's TypeAdapter."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from uuid import UUID

import pydantic
import pytest
from typing_extensions import TypedDict

from safeops import serialize
from safeops.errors import DecodeError, DecodeLimitError, DecodeValidationError


class Item(pydantic.BaseModel):
    id: int
    name: str
    when: datetime
    uid: UUID


class Movie(TypedDict):
    title: str
    year: int


@dataclasses.dataclass
class Box:
    width: int
    height: int


def test_plain_json_from_any_producer_validates_into_models() -> None:
    """Plain JSON written by the stdlib decodes into a list of models."""
    body = json.dumps(
        [{"id": 1, "name": "a", "when": "2024-01-01T00:00:00Z", "uid": str(UUID(int=1))}]
    ).encode()
    (item,) = serialize.loads(body, type=list[Item])
    assert item == Item(
        id=1, name="a", when=datetime(2024, 1, 1, tzinfo=timezone.utc), uid=UUID(int=1)
    )


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_safeops_encoded_data_validates(fmt: str) -> None:
    """Data written by serialize.dumps (with tags) validates as the requested type."""
    value = {
        "id": 2,
        "name": "b",
        "when": datetime(2024, 1, 1, tzinfo=timezone.utc),
        "uid": UUID(int=2),
    }
    data = serialize.dumps(value, format=fmt)
    assert serialize.loads(data, format=fmt, type=Item) == Item(**value)


@pytest.mark.parametrize(
    ("target", "body", "expected"),
    [
        (Movie, b'{"title": "x", "year": 1999}', {"title": "x", "year": 1999}),
        (Box, b'{"width": 1, "height": 2}', Box(1, 2)),
        (dict[str, list[int]], b'{"a": [1, 2]}', {"a": [1, 2]}),
    ],
    ids=["typeddict", "dataclass", "generic"],
)
def test_any_type_adapter_target_works(target: object, body: bytes, expected: object) -> None:
    """TypedDict, dataclass and generic targets validate."""
    assert serialize.loads(body, type=target) == expected


def test_validation_error_carries_every_bad_path() -> None:
    """Each bad field is listed with its path from the document root."""
    body = b'[{"id": "x", "name": "a", "when": "2024-01-01T00:00:00", "uid": "bad"}, {"id": 1}]'
    with pytest.raises(DecodeValidationError) as caught:
        serialize.loads(body, type=list[Item])
    paths = {path for path, _ in caught.value.errors}
    assert {(0, "id"), (0, "uid"), (1, "name"), (1, "when"), (1, "uid")} <= paths


def test_validation_error_is_a_decode_error() -> None:
    """except DecodeError catches validation failures."""
    with pytest.raises(DecodeError):
        serialize.loads(b'{"title": 1}', type=Movie)


def test_invalid_json_with_type_is_a_decode_error() -> None:
    """Malformed JSON with type= is refused as a DecodeError."""
    with pytest.raises(DecodeError):
        serialize.loads(b'{"title": ', type=Movie)


def test_limits_apply_before_typed_decoding() -> None:
    """A deep document is refused by the limits before pydantic parses it."""
    with pytest.raises(DecodeLimitError):
        serialize.loads(b"[" * 500 + b"]" * 500, type=list[object])

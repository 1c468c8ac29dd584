"""Golden files pin the wire format: a change to the bytes written cannot go unnoticed.

If a format change is intended, bump the format version in docs/serialize-format.md,
keep decoding the old files, and regenerate with SAFEOPS_REGENERATE_GOLDEN=1.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from safeops import serialize
from safeops.serialize import _envelope

GOLDEN = Path(__file__).parent / "golden" / "serialize"
KEY = bytes(range(32))
SIGNED_AT = 1_700_000_000


class Suit(enum.Enum):
    HEARTS = "h"


@dataclasses.dataclass
class Card:
    suit: Suit
    rank: int


class Hand(NamedTuple):
    cards: tuple[Card, ...]
    owner: str = ""


def universe() -> list[Any]:
    """One value of every supported kind, in a deterministic order (no str sets)."""
    return [
        None, True, False, 0, -1, 2**64 - 1, -(2**63), 2**100, -(2**100),
        1.5, float("inf"), float("-inf"), -0.0, "text \u00e9\U0001f600", "\ud800",
        b"\x00\xff", bytearray(b"ba"), [1, [2]], (1, (2,)), (),
        {"a": 1}, {1: "one", (2, 3): "pair", b"k": "bytes", None: "none"},
        {"$uuid": "a dict that looks like a tag"}, {3, 1, 2}, frozenset({7}),
        datetime(2024, 5, 6, 7, 8, 9, 123456),
        datetime(2024, 5, 6, tzinfo=timezone.utc),
        datetime(2024, 5, 6, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2024, 5, 6, tzinfo=timezone(timedelta(hours=-3), "BRT")),
        datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
        date(2024, 2, 29), time(23, 59, 59, 1), time(1, tzinfo=ZoneInfo("Asia/Tokyo")),
        timedelta(days=-3, seconds=5, microseconds=7),
        UUID("12345678-1234-5678-1234-567812345678"),
        Decimal("1.50E+3"), Decimal("-0"), Decimal("NaN"), complex(1.5, -2),
        Hand((Card(Suit.HEARTS, 10),), "ada"),
    ]  # fmt: skip


@pytest.fixture(autouse=True)
def _registered() -> Any:
    names = {Suit: "golden.Suit", Card: "golden.Card", Hand: "golden.Hand"}
    for cls, name in names.items():
        serialize.register(cls, name=name)
    yield
    for cls in names:
        serialize.unregister(cls)


def _documents() -> dict[str, bytes]:
    value = universe()
    json_doc = serialize.dumps(value)
    msgpack_doc = serialize.dumps(value, format="msgpack")
    return {
        "universe.json": json_doc,
        "universe.msgpack": msgpack_doc,
        "signed.json.bin": _envelope.seal(json_doc, b"j", KEY, "golden", now=SIGNED_AT),
        "signed.msgpack.bin": _envelope.seal(msgpack_doc, b"m", KEY, "golden", now=SIGNED_AT),
    }


if os.environ.get("SAFEOPS_REGENERATE_GOLDEN") == "1":  # pragma: no cover - maintenance
    serialize.register(Suit, name="golden.Suit")
    serialize.register(Card, name="golden.Card")
    serialize.register(Hand, name="golden.Hand")
    for _name, _data in _documents().items():
        (GOLDEN / _name).write_bytes(_data)
    for _cls in (Suit, Card, Hand):
        serialize.unregister(_cls)


@pytest.mark.parametrize("name", ["universe.json", "universe.msgpack"])
def test_encoding_matches_the_golden_file(name: str) -> None:
    """dumps writes exactly the pinned bytes."""
    assert _documents()[name] == (GOLDEN / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "fmt"), [("universe.json", "json"), ("universe.msgpack", "msgpack")]
)
def test_golden_file_decodes_to_the_universe(name: str, fmt: str) -> None:
    """The pinned bytes decode to the same values."""
    decoded = serialize.loads((GOLDEN / name).read_bytes(), format=fmt)
    assert repr(decoded) == repr(universe())


@pytest.mark.parametrize(
    ("name", "fmt"), [("signed.json.bin", "json"), ("signed.msgpack.bin", "msgpack")]
)
def test_signed_golden_file_verifies_and_decodes(name: str, fmt: str) -> None:
    """A pinned signed envelope still verifies with its key and purpose."""
    data = (GOLDEN / name).read_bytes()
    assert data == _documents()[name]
    assert repr(serialize.loads(data, format=fmt, key=KEY, purpose="golden")) == repr(universe())

"""Decoder bombs and tag confusion from tests/vectors/serialize: refused cleanly, memory bounded."""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import msgpack
import pytest

from safeops import errors, serialize

VECTORS = [
    vector
    for name in ("bombs.json", "attack-2026-11-28.json")
    for vector in json.loads(
        (Path(__file__).parent / "vectors" / "serialize" / name).read_text("utf-8")
    )["vectors"]
]
MERSENNE_61 = 2**61 - 1  # ints that are multiples of it all hash to 0


def _colliding_ints(count: int) -> list[int]:
    return [k * MERSENNE_61 for k in range(1, count + 1)]


def _json_int(value: int) -> str:
    return str(value) if value < 2**63 else f'{{"$int":"{value}"}}'


def _generate(name: str, count: int) -> bytes:
    ints = _colliding_ints(count)
    if name == "json_int_collisions":
        return ('{"$set":[' + ",".join(map(_json_int, ints)) + "]}").encode()
    if name == "json_int_collision_map":
        return ('{"$map":[' + ",".join(f"{_json_int(v)},0" for v in ints) + "]}").encode()
    if name == "msgpack_int_collisions":
        items: list[Any] = [msgpack.ExtType(2, b"")]
        for value in ints:
            if value < 2**63:
                items.append(value)
            else:
                items.append(msgpack.ExtType(16, value.to_bytes(16, "big", signed=True)))
        return msgpack.packb(items)
    raise AssertionError(f"unknown generator {name}")


def _part(part: dict[str, Any]) -> bytes:
    if "text" in part:
        return part["text"].encode("utf-8")
    if "hex" in part:
        return bytes.fromhex(part["hex"])
    if "repeat" in part:
        return _part(part["repeat"]) * part["count"]
    return _generate(part["generate"], part["count"])


def build(vector: dict[str, Any]) -> bytes:
    """The bytes of a vector, from its recipe."""
    return b"".join(_part(part) for part in vector["parts"])


def _expected(vector: dict[str, Any]) -> type[BaseException]:
    return getattr(errors, vector["expect"])


REFUSED = [v for v in VECTORS if v["expect"] != "value"]


@pytest.mark.parametrize("vector", REFUSED, ids=[v["name"] for v in REFUSED])
def test_vector_is_refused_with_the_expected_error(vector: dict[str, Any]) -> None:
    """Each hostile input raises its DecodeError subclass and nothing else."""
    with pytest.raises(_expected(vector)):
        serialize.loads(build(vector), format=vector["format"])


DEEP = [v for v in VECTORS if "deep" in v["name"]]


@pytest.mark.parametrize("vector", DEEP, ids=[v["name"] for v in DEEP])
def test_deep_vector_is_refused_after_raising_the_recursion_limit(vector: dict[str, Any]) -> None:
    """Depth refusal does not depend on sys.getrecursionlimit()."""
    data = build(vector)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10**6)
    try:
        with pytest.raises(errors.DecodeLimitError):
            serialize.loads(data, format=vector["format"])
    finally:
        sys.setrecursionlimit(old)


BIG = [v for v in VECTORS if v["big"]]


@pytest.mark.parametrize("vector", BIG, ids=[v["name"] for v in BIG])
def test_big_vector_is_refused_with_bounded_memory(vector: dict[str, Any]) -> None:
    """Peak memory while refusing a multi-megabyte bomb stays under 10x its size."""
    data = build(vector)
    tracemalloc.start()
    try:
        with pytest.raises(errors.DecodeError):
            serialize.loads(data, format=vector["format"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * len(data)


def test_tag_naming_a_module_does_not_import_it() -> None:
    """A tag naming an unimported module leaves it unimported."""
    sys.modules.pop("antigravity", None)
    for name in ("json_tag_names_unimported_module", "msgpack_object_names_unimported_module"):
        vector = next(v for v in VECTORS if v["name"] == name)
        with pytest.raises(errors.DecodeError, match="antigravity"):
            serialize.loads(build(vector), format=vector["format"])
    assert "antigravity" not in sys.modules


def test_foreign_msgpack_timestamp_decodes_to_an_aware_datetime() -> None:
    """msgpack's own timestamp ext becomes a UTC datetime, no foreign object."""
    from datetime import datetime, timezone

    vector = next(v for v in VECTORS if v["expect"] == "value")
    value = serialize.loads(build(vector), format="msgpack")
    assert value == datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc)


def test_every_vector_names_its_source() -> None:
    """Each vector in the corpus says where it comes from."""
    assert all(v["source"] for v in VECTORS)

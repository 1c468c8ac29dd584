"""safeops.serialize: exact round trips, registration, limits, framing and errors."""

from __future__ import annotations

import dataclasses
import enum
import io
import math
import sys
import threading
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest

from safeops import serialize
from safeops.errors import (
    ConfigurationError,
    DecodeError,
    DecodeLimitError,
    EncodeError,
    EncodeLimitError,
)

FORMATS = ["json", "msgpack"]


def same(left: Any, right: Any) -> bool:
    """Exact equality: same types all the way down, NaN equal to NaN, -0.0 kept."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        return (math.isnan(left) and math.isnan(right)) or (
            left == right and math.copysign(1, left) == math.copysign(1, right)
        )
    if isinstance(left, complex):
        return same(left.real, right.real) and same(left.imag, right.imag)
    if isinstance(left, Decimal):
        return str(left) == str(right)
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return len(left) == len(right) and all(
            any(same(k, k2) and same(v, right[k2]) for k2 in right if k2 == k)
            for k, v in left.items()
        )
    if isinstance(left, (datetime, time)):
        return left == right and left.fold == right.fold and repr(left) == repr(right)
    return bool(left == right)


SAMPLES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**64 - 1,
    -(2**63),
    2**64,
    -(2**200),
    1.5,
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    "",
    "text with \u00e9 and \U0001f600",
    "\ud800 lone surrogate",
    b"",
    b"\x00\xff",
    bytearray(b"abc"),
    [1, [2, [3]]],
    (1, (2, "x")),
    (),
    {"a": 1, "b": [1, 2]},
    {1: "int key", (1, 2): "tuple key", b"k": "bytes key", None: 0, 1.5: "float"},
    {"$tuple": [1, 2]},
    {"$": 1},
    {datetime(2024, 1, 1): "datetime key"},
    {1, 2, 3},
    frozenset({"a", (1, 2)}),
    set(),
    datetime(2024, 5, 6, 7, 8, 9, 123456),
    datetime(2024, 5, 6, tzinfo=timezone.utc),
    datetime(2024, 5, 6, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2024, 5, 6, tzinfo=timezone(timedelta(hours=-3), "BRT")),
    datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
    datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris")),
    datetime(2024, 1, 1, fold=1),
    date(1, 1, 1),
    time(23, 59, 59, 999999),
    time(1, 2, tzinfo=timezone.utc),
    time(1, 2, tzinfo=ZoneInfo("Asia/Tokyo")),
    timedelta(days=-3, seconds=5, microseconds=7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Decimal("1.50E+3"),
    Decimal("-0"),
    Decimal("NaN"),
    Decimal("-Infinity"),
    Decimal("3.141592653589793238462643383279502884197"),
    complex(1.5, -2),
    complex(float("nan"), float("inf")),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_sample_round_trips_exactly(fmt: str, value: Any) -> None:
    """Every value of the supported universe comes back with the same type and value."""
    assert same(serialize.loads(serialize.dumps(value, format=fmt), format=fmt), value)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_sample_round_trips_exactly_when_signed(fmt: str, value: Any) -> None:
    """The same universe round-trips through a signed envelope."""
    key = b"sample-signing-key-of-32-bytes!!"
    data = serialize.dumps(value, format=fmt, key=key)
    assert same(serialize.loads(data, format=fmt, key=key), value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_all_samples_round_trip_in_one_document(fmt: str) -> None:
    """The samples nested in one list round-trip together."""
    assert same(serialize.loads(serialize.dumps(SAMPLES, format=fmt), format=fmt), SAMPLES)


def test_json_output_is_plain_json() -> None:
    """The JSON format is valid JSON any parser reads."""
    import json

    parsed = json.loads(serialize.dumps(SAMPLES))
    assert isinstance(parsed, list)


def test_user_dict_shaped_like_a_tag_stays_a_dict() -> None:
    """A one-key dict whose key starts with $ round-trips as a dict."""
    value = {"$uuid": "12345678-1234-5678-1234-567812345678"}
    assert serialize.loads(serialize.dumps(value)) == value


@pytest.mark.parametrize("fmt", FORMATS)
def test_shared_references_come_back_as_equal_copies(fmt: str) -> None:
    """Two references to one list decode as two equal, distinct lists."""
    shared = [1, 2]
    first, second = serialize.loads(serialize.dumps([shared, shared], format=fmt), format=fmt)
    assert first == second == shared
    assert first is not second


@pytest.mark.parametrize("fmt", FORMATS)
def test_cycle_is_an_encode_error_that_says_so(fmt: str) -> None:
    """A self-containing list is refused with a message naming the cycle."""
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    with pytest.raises(EncodeError, match="cycle"):
        serialize.dumps(cyclic, format=fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_too_deep_value_is_an_encode_limit_error(fmt: str) -> None:
    """Nesting beyond max_depth is refused at encode time."""
    value: Any = []
    for _ in range(10):
        value = [value]
    with pytest.raises(EncodeLimitError):
        serialize.dumps(value, format=fmt, limits=serialize.Limits(max_depth=5))


@pytest.mark.parametrize("fmt", FORMATS)
def test_nesting_up_to_the_ceiling_round_trips(fmt: str) -> None:
    """Tuples nested MAX_DEPTH_CEILING deep round-trip with that max_depth."""
    limits = serialize.Limits(max_depth=serialize.MAX_DEPTH_CEILING)
    value: Any = datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))
    for _ in range(serialize.MAX_DEPTH_CEILING):
        value = (value,)
    data = serialize.dumps(value, format=fmt, limits=limits)
    assert serialize.loads(data, format=fmt, limits=limits) == value


@pytest.mark.parametrize("fmt", FORMATS)
def test_unsupported_type_is_an_encode_error(fmt: str) -> None:
    """An unregistered class is refused, naming the class."""

    class Unknown:
        pass

    with pytest.raises(EncodeError, match="Unknown"):
        serialize.dumps(Unknown(), format=fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_subclass_of_builtin_is_refused(fmt: str) -> None:
    """A list subclass is not silently written as a list."""

    class MyList(list[int]):
        pass

    with pytest.raises(EncodeError):
        serialize.dumps(MyList([1]), format=fmt)


def test_encode_error_is_a_type_error() -> None:
    """EncodeError keeps existing `except TypeError` clauses working."""
    with pytest.raises(TypeError):
        serialize.dumps(object())


# --- registration -------------------------------------------------------------------


class Color(enum.Enum):
    RED = "r"
    GREEN = "g"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int = 0


class Pair(NamedTuple):
    left: Any
    right: Any = None


@pytest.fixture
def registered() -> Any:
    for cls in (Color, Level, Point, Pair):
        serialize.register(cls)
    yield
    for cls in (Color, Level, Point, Pair):
        serialize.unregister(cls)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "value",
    [Color.RED, Level.HIGH, Point(1, 2), Pair(Point(3), (Color.GREEN,)), {Level.LOW: Point(0)}],
    ids=["enum", "intenum", "dataclass", "namedtuple", "enum-key"],
)
def test_registered_types_round_trip(fmt: str, value: Any, registered: None) -> None:
    """Registered Enum, IntEnum, dataclass and NamedTuple values come back exactly."""
    assert same(serialize.loads(serialize.dumps(value, format=fmt), format=fmt), value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_pydantic_model_round_trips(fmt: str) -> None:
    """A registered pydantic model round-trips."""
    import pydantic

    class User(pydantic.BaseModel):
        name: str
        tags: tuple[str, ...] = ()

    serialize.register(User, name="tests.User")
    try:
        value = User(name="ada", tags=("a",))
        assert serialize.loads(serialize.dumps(value, format=fmt), format=fmt) == value
    finally:
        serialize.unregister(User)


@pytest.mark.parametrize("fmt", FORMATS)
def test_custom_hooks_round_trip(fmt: str) -> None:
    """A class registered with encode/decode hooks round-trips through them."""

    class Celsius:
        def __init__(self, degrees: float) -> None:
            self.degrees = degrees

    serialize.register(Celsius, name="t.Celsius", encode=lambda c: c.degrees, decode=Celsius)
    try:
        back = serialize.loads(serialize.dumps(Celsius(21.5), format=fmt), format=fmt)
        assert isinstance(back, Celsius) and back.degrees == 21.5
    finally:
        serialize.unregister(Celsius)


@pytest.mark.parametrize("fmt", FORMATS)
def test_unregistered_name_is_a_decode_error_naming_it(fmt: str) -> None:
    """Data naming a type that is no longer registered is refused with its name."""
    serialize.register(Point, name="tests.Gone")
    data = serialize.dumps(Point(1), format=fmt)
    serialize.unregister(Point)
    with pytest.raises(DecodeError, match=r"tests\.Gone"):
        serialize.loads(data, format=fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_added_field_with_default_decodes_old_data(fmt: str) -> None:
    """Old data without a newly added defaulted field still decodes."""

    @dataclasses.dataclass
    class V1:
        a: int

    @dataclasses.dataclass
    class V2:
        a: int
        b: str = "new"

    serialize.register(V1, name="t.Versioned")
    data = serialize.dumps(V1(1), format=fmt)
    serialize.unregister(V1)
    serialize.register(V2, name="t.Versioned")
    try:
        assert serialize.loads(data, format=fmt) == V2(1, "new")
    finally:
        serialize.unregister(V2)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("policy", ["error", "ignore"])
def test_removed_field_follows_the_registered_choice(fmt: str, policy: Any) -> None:
    """A field no longer on the class is an error or dropped, as registered."""

    @dataclasses.dataclass
    class Old:
        a: int
        gone: int

    @dataclasses.dataclass
    class New:
        a: int

    serialize.register(Old, name="t.Shrunk")
    data = serialize.dumps(Old(1, 2), format=fmt)
    serialize.unregister(Old)
    serialize.register(New, name="t.Shrunk", unknown_fields=policy)
    try:
        if policy == "error":
            with pytest.raises(DecodeError, match="gone"):
                serialize.loads(data, format=fmt)
        else:
            assert serialize.loads(data, format=fmt) == New(1)
    finally:
        serialize.unregister(New)


@pytest.mark.parametrize("fmt", FORMATS)
def test_failing_decode_hook_becomes_a_decode_error(fmt: str) -> None:
    """Whatever a registered decode hook raises on bad data surfaces as DecodeError."""

    class Strict:
        def __init__(self, value: int) -> None:
            self.value = value

    def refuse(data: Any) -> Strict:
        raise RuntimeError("not today")

    serialize.register(Strict, name="t.Strict", encode=lambda s: s.value, decode=refuse)
    try:
        data = serialize.dumps(Strict(1), format=fmt)
        with pytest.raises(DecodeError, match="not today"):
            serialize.loads(data, format=fmt)
    finally:
        serialize.unregister(Strict)


def test_register_refuses_a_plain_class_without_hooks() -> None:
    """A class that is not Enum/dataclass/NamedTuple/pydantic needs hooks."""
    with pytest.raises(ConfigurationError):
        serialize.register(type("Plain", (), {}))


def test_register_refuses_a_name_taken_by_another_class() -> None:
    """Two classes cannot share one registered name."""
    serialize.register(Point, name="t.Taken")
    try:
        with pytest.raises(ConfigurationError):
            serialize.register(Pair, name="t.Taken")
    finally:
        serialize.unregister(Point)


def test_registration_is_thread_safe() -> None:
    """Concurrent registrations of distinct classes all land."""
    classes = [dataclasses.make_dataclass(f"C{i}", [("v", int)]) for i in range(50)]
    threads = [
        threading.Thread(target=serialize.register, args=(cls,), kwargs={"name": f"t.C{i}"})
        for i, cls in enumerate(classes)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        for cls in classes:
            assert type(serialize.loads(serialize.dumps(cls(1)))) is cls
    finally:
        for cls in classes:
            serialize.unregister(cls)


def test_default_name_is_module_qualified() -> None:
    """Without name=, the key is the module-qualified class name."""
    serialize.register(Point)
    try:
        assert f'"$obj:{Point.__module__}.Point"'.encode() in serialize.dumps(Point(1))
    finally:
        serialize.unregister(Point)


# --- limits -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{"max_depth": 0}, {"max_depth": 1000}, {"max_bytes": -1}, {"max_elements": 1.5}],
)
def test_impossible_limits_are_refused_when_built(kwargs: dict[str, Any]) -> None:
    """Limits with values the codecs cannot honour fail at construction."""
    with pytest.raises(ConfigurationError):
        serialize.Limits(**kwargs)


def test_limits_are_frozen() -> None:
    """A Limits object cannot be changed after it is built."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        serialize.DEFAULT_LIMITS.max_depth = 5  # type: ignore[misc]


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_bytes_is_enforced(fmt: str) -> None:
    """Input longer than max_bytes is refused before decoding."""
    data = serialize.dumps("x" * 100, format=fmt)
    with pytest.raises(DecodeLimitError) as caught:
        serialize.loads(data, format=fmt, limits=serialize.Limits(max_bytes=50))
    assert caught.value.context["limit"] == "max_bytes"


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_depth_is_enforced_on_decode(fmt: str) -> None:
    """A document deeper than max_depth is refused."""
    value: Any = []
    for _ in range(9):
        value = [value]
    data = serialize.dumps(value, format=fmt)
    with pytest.raises(DecodeLimitError):
        serialize.loads(data, format=fmt, limits=serialize.Limits(max_depth=5))


def test_max_depth_is_enforced_on_tagged_json() -> None:
    """Depth counts through tags (tuples inside lists) in JSON."""
    value: Any = 1
    for _ in range(9):
        value = (value,)
    data = serialize.dumps(value)
    with pytest.raises(DecodeLimitError):
        serialize.loads(data, limits=serialize.Limits(max_depth=5))


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_elements_is_enforced(fmt: str) -> None:
    """A document with more values than max_elements is refused."""
    data = serialize.dumps(list(range(100)), format=fmt)
    with pytest.raises(DecodeLimitError):
        serialize.loads(data, format=fmt, limits=serialize.Limits(max_elements=50))


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_str_len_is_enforced(fmt: str) -> None:
    """A string longer than max_str_len is refused."""
    data = serialize.dumps(["x" * 100], format=fmt)
    with pytest.raises(DecodeLimitError):
        serialize.loads(data, format=fmt, limits=serialize.Limits(max_str_len=10))


@pytest.mark.parametrize("fmt", FORMATS)
def test_max_int_digits_is_enforced(fmt: str) -> None:
    """A big integer with more digits than max_int_digits is refused."""
    data = serialize.dumps(10**200, format=fmt)
    with pytest.raises(DecodeLimitError):
        serialize.loads(data, format=fmt, limits=serialize.Limits(max_int_digits=50))


@pytest.mark.parametrize("fmt", FORMATS)
def test_depth_does_not_depend_on_the_recursion_limit(fmt: str) -> None:
    """A deep bomb is refused the same way after sys.setrecursionlimit(10**6)."""
    data = b"[" * 100_000 + b"]" * 100_000 if fmt == "json" else b"\x91" * 100_000 + b"\x90"
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10**6)
    try:
        with pytest.raises(DecodeLimitError):
            serialize.loads(data, format=fmt)
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize("fmt", FORMATS)
def test_trailing_data_is_refused(fmt: str) -> None:
    """Bytes after the document are an error, not ignored."""
    with pytest.raises(DecodeError):
        serialize.loads(serialize.dumps([1], format=fmt) + b"\x01", format=fmt)


def test_loads_refuses_str_input() -> None:
    """loads takes bytes, like pickle.loads."""
    with pytest.raises(DecodeError):
        serialize.loads("[]")  # type: ignore[arg-type]


def test_unknown_format_is_a_configuration_error() -> None:
    """format must be json or msgpack."""
    with pytest.raises(ConfigurationError):
        serialize.dumps(1, format="pickle")  # type: ignore[arg-type]


# --- framing -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_iter_load_yields_every_dumped_record(fmt: str) -> None:
    """Consecutive dump calls read back in order with iter_load."""
    buffer = io.BytesIO()
    records = [1, (2, 3), {"a": datetime(2024, 1, 1)}]
    for record in records:
        serialize.dump(record, buffer, format=fmt)
    buffer.seek(0)
    assert list(serialize.iter_load(buffer, format=fmt)) == records


@pytest.mark.parametrize("fmt", FORMATS)
def test_load_reads_one_record_and_leaves_the_rest(fmt: str) -> None:
    """load reads exactly one record, like pickle.load."""
    buffer = io.BytesIO()
    serialize.dump("first", buffer, format=fmt)
    serialize.dump("second", buffer, format=fmt)
    buffer.seek(0)
    assert serialize.load(buffer, format=fmt) == "first"
    assert serialize.load(buffer, format=fmt) == "second"


@pytest.mark.parametrize("cut", [1, 5, 9, 12])
def test_truncated_last_record_is_reported(cut: int) -> None:
    """A record cut short raises after the complete records were yielded."""
    buffer = io.BytesIO()
    serialize.dump([1], buffer)
    serialize.dump(["a longer record"], buffer)
    data = buffer.getvalue()
    seen: list[Any] = []
    with pytest.raises(DecodeError, match="truncated"):
        seen.extend(serialize.iter_load(io.BytesIO(data[:-cut])))
    assert seen == [[1]]


def test_load_at_end_of_file_is_a_decode_error() -> None:
    """load on an empty file raises DecodeError."""
    with pytest.raises(DecodeError):
        serialize.load(io.BytesIO(b""))


def test_record_declaring_a_huge_length_is_refused_before_reading() -> None:
    """A header declaring more than max_bytes is refused without reading the body."""
    header = b"SOj\x01" + (2**32 - 1).to_bytes(4, "big")
    with pytest.raises(DecodeLimitError):
        serialize.load(io.BytesIO(header + b"[]"))


def test_lazy_submodules_are_resolved_on_attribute_access() -> None:
    """serialize.<unknown> raises AttributeError; legacy is imported on first access."""
    with pytest.raises(AttributeError):
        _ = serialize.no_such_thing  # type: ignore[attr-defined]
    assert serialize.legacy.__name__ == "safeops.serialize.legacy"

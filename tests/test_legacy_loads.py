"""serialize.legacy.loads / load: benign pickles load, the allow-list and budgets hold."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import io
import math
import pickle
import uuid
from typing import Any

import pytest

from safeops import _permits
from safeops.errors import ConfigurationError, DecodeError, DecodeLimitError
from safeops.serialize import Limits, legacy

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)

DEFAULT_TYPE_SAMPLES: list[Any] = [
    None, True, False, 0, -1, 2**200, -(2**70), 1.5, float("inf"), 1j, "text", "ünïcode",
    b"", b"\x00\xffbytes", bytearray(b"ba"), (), (1, (2, "x")), [], [1, [2, [3]]], {},
    {"a": {"b": [1]}}, {1, 2}, frozenset({"f"}), slice(1, 5, 2), Ellipsis, NotImplemented,
    datetime.date(2024, 2, 29), datetime.time(23, 59, 1, 5),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 6), datetime.timedelta(days=-1, seconds=5),
    datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=-3), "X")),
    datetime.timezone.utc, decimal.Decimal("-1.25E+7"), decimal.Decimal("NaN"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"), collections.OrderedDict(b=1, a=2),
    collections.deque([1, 2], maxlen=4), collections.defaultdict(list, {"k": [1]}),
    collections.Counter("abracadabra"), collections.ChainMap({"a": 1}, {"b": 2}), int, dict,
]  # fmt: skip


class Point:
    """An application class, allowed by name in the tests."""

    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


class Slotted:
    """An application class with __slots__ (pickled with slot state)."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and math.isnan(left):
        return isinstance(right, float) and math.isnan(right)
    if isinstance(left, decimal.Decimal) and left.is_nan():
        return isinstance(right, decimal.Decimal) and right.is_nan()
    return bool(type(left) is type(right) and left == right)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_default_types_round_trip_on_every_protocol(protocol: int) -> None:
    """Every default-allowed type loads back equal and of the same type."""
    for sample in DEFAULT_TYPE_SAMPLES:
        loaded = legacy.loads(pickle.dumps(sample, protocol))
        assert _same(sample, loaded), (protocol, sample, loaded)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_defaultdict_keeps_its_real_factory(protocol: int) -> None:
    """A defaultdict's default_factory is the real allowed type, not a wrapper."""
    loaded = legacy.loads(pickle.dumps(collections.defaultdict(list), protocol))
    assert loaded.default_factory is list


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_allowed_application_class_loads_on_every_protocol(protocol: int) -> None:
    """A class named in allow= loads, including protocol 0/1 copyreg._reconstructor."""
    data = pickle.dumps([Point(1, 2), Point(3, 4)], protocol)
    assert legacy.loads(data, allow={f"{__name__}.Point"}) == [Point(1, 2), Point(3, 4)]


@pytest.mark.parametrize("entry", [Point, (__name__, "Point"), f"{__name__}.Point"])
def test_allow_accepts_a_class_a_pair_or_a_dotted_name(entry: Any) -> None:
    """allow= takes the class itself, a (module, qualname) pair or 'module.Name'."""
    assert legacy.loads(pickle.dumps(Point(5, 6)), allow={entry}) == Point(5, 6)


def test_slot_state_of_an_allowed_class_is_restored() -> None:
    """BUILD with slot state on an allowed instance restores the slots."""
    loaded = legacy.loads(pickle.dumps(Slotted(7), 2), allow={Slotted})
    assert isinstance(loaded, Slotted)
    assert loaded.value == 7


def test_unallowed_application_class_is_refused_with_advice() -> None:
    """The error names the global and says how to allow it."""
    with pytest.raises(DecodeError) as caught:
        legacy.loads(pickle.dumps(Point(1, 2)))
    message = str(caught.value)
    assert f"{__name__}.Point" in message
    assert f"allow={{'{__name__}.Point'}}" in message
    assert caught.value.context["rule"] == "global-not-allowed"


def test_a_function_cannot_be_allowed() -> None:
    """Only classes can be allowed: a function in allow= is a configuration error."""
    with pytest.raises(ConfigurationError, match="only classes"):
        legacy.loads(pickle.dumps(1), allow={f"{__name__}.plain_function"})


def plain_function() -> None:
    """A module-level function (the target of the test above)."""


@pytest.mark.parametrize(
    "entry", ["subprocess.Popen", "functools.partial", "operator.attrgetter", "builtins.type"]
)
def test_known_gadget_classes_cannot_be_allowed(entry: str) -> None:
    """Classes that are gadgets themselves are refused even when the caller names them."""
    with pytest.raises(ConfigurationError, match="cannot be allowed"):
        legacy.loads(pickle.dumps(1), allow={entry})


def test_a_malformed_allow_entry_is_a_configuration_error() -> None:
    """An entry without a module is refused when the call is made."""
    with pytest.raises(ConfigurationError):
        legacy.loads(pickle.dumps(1), allow={"Point"})


def test_fractions_need_an_explicit_allow() -> None:
    """A stdlib class outside the default set is refused until allowed."""
    data = pickle.dumps(fractions.Fraction(1, 3))
    with pytest.raises(DecodeError, match=r"fractions\.Fraction"):
        legacy.loads(data)
    assert legacy.loads(data, allow={fractions.Fraction}) == fractions.Fraction(1, 3)


def test_reference_cycles_are_refused() -> None:
    """A list containing itself is refused (budgets could not be trusted)."""
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(DecodeError, match="cycle"):
        legacy.loads(pickle.dumps(cycle))


def test_shared_acyclic_values_are_accepted() -> None:
    """The same dict referenced twice loads, and stays shared."""
    shared = {"a": 1}
    loaded = legacy.loads(pickle.dumps([shared, shared]))
    assert loaded == [shared, shared]
    assert loaded[0] is loaded[1]


def test_input_larger_than_max_bytes_is_refused_before_parsing() -> None:
    """max_bytes is checked on the raw input."""
    with pytest.raises(DecodeLimitError) as caught:
        legacy.loads(pickle.dumps("x" * 200), limits=Limits(max_bytes=100))
    assert caught.value.context["limit"] == "max_bytes"


def test_element_budget_counts_shared_references() -> None:
    """A value referenced many times counts once per reference."""
    inner = list(range(100))
    data = pickle.dumps([inner] * 100)
    with pytest.raises(DecodeLimitError) as caught:
        legacy.loads(data, limits=Limits(max_elements=5000))
    assert caught.value.context["limit"] == "max_elements"
    assert legacy.loads(data, limits=Limits(max_elements=20000)) == [inner] * 100


def test_depth_budget_is_enforced() -> None:
    """Nesting deeper than max_depth is refused."""
    value: Any = 1
    for _ in range(20):
        value = [value]
    with pytest.raises(DecodeLimitError) as caught:
        legacy.loads(pickle.dumps(value), limits=Limits(max_depth=10))
    assert caught.value.context["limit"] == "max_depth"


def test_string_length_budget_is_enforced() -> None:
    """A string longer than max_str_len is refused."""
    with pytest.raises(DecodeLimitError):
        legacy.loads(pickle.dumps("y" * 1000), limits=Limits(max_str_len=100))


def test_integer_digit_budget_is_enforced() -> None:
    """A huge integer is refused before conversion."""
    with pytest.raises(DecodeLimitError):
        legacy.loads(pickle.dumps(10**5000), limits=Limits(max_int_digits=100))


@pytest.mark.parametrize("protocol", [0, 2, 5])
@pytest.mark.parametrize("text", ["1e999999999", "1e-999999999", "9" * 30 + "e4290"])
def test_decimal_exponent_beyond_the_digit_budget_is_refused(text: str, protocol: int) -> None:
    """A short text with a huge exponent: int() or quantize() of it would take minutes."""
    data = pickle.dumps(decimal.Decimal(text), protocol=protocol)
    with pytest.raises(DecodeLimitError) as caught:
        legacy.loads(data)
    assert caught.value.context["limit"] == "max_int_digits"


@pytest.mark.parametrize("text", ["1.25", "-0", "NaN", "sNaN", "-Infinity", "1e4299", "1e-4300"])
def test_decimals_within_the_digit_budget_load(text: str) -> None:
    value = legacy.loads(pickle.dumps(decimal.Decimal(text), protocol=5))
    assert type(value) is decimal.Decimal
    assert str(value) == str(decimal.Decimal(text))


def test_decimal_digit_budget_follows_the_limits() -> None:
    data = pickle.dumps(decimal.Decimal("1e30"))
    assert legacy.loads(data) == decimal.Decimal("1e30")
    with pytest.raises(DecodeLimitError):
        legacy.loads(data, limits=Limits(max_int_digits=20))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_the_decimal_class_itself_loads_as_the_class(protocol: int) -> None:
    """A pickled reference to Decimal (a defaultdict factory, a value) is the real class
    (review of 2026-11-28, session 3: a checking wrapper had replaced it)."""
    value = legacy.loads(
        pickle.dumps([collections.defaultdict(decimal.Decimal), {"t": decimal.Decimal}], protocol)
    )
    assert value[0].default_factory is decimal.Decimal
    assert value[1]["t"] is decimal.Decimal


def test_a_long_decimal_within_the_digit_budget_loads() -> None:
    """4,299 digits before the point and 4,300 after: within max_int_digits both ways."""
    number = decimal.Decimal("1" * 4299 + "." + "1" * 4300)
    assert legacy.loads(pickle.dumps(number)) == number


class BigDecimal(decimal.Decimal):
    """A caller's Decimal subclass (allowed by name)."""


def test_an_allowed_decimal_subclass_is_vetted_too() -> None:
    data = pickle.dumps(BigDecimal("1e999999999"))
    with pytest.raises(DecodeLimitError):
        legacy.loads(data, allow={f"{__name__}.BigDecimal"})
    ok = legacy.loads(pickle.dumps(BigDecimal("2.5")), allow={f"{__name__}.BigDecimal"})
    assert type(ok) is BigDecimal
    assert ok == decimal.Decimal("2.5")


def test_decimal_from_a_tuple_is_refused() -> None:
    """Pickle writes Decimal(text); the tuple form would carry an unchecked exponent."""
    data = (
        b"\x80\x04\x8c\x07decimal\x8c\x07Decimal\x93"
        b"K\x00K\x01\x85J\x00\xca\x9a;\x87\x85R."
    )
    with pytest.raises(DecodeError):
        legacy.loads(data)


def test_truncated_pickle_is_a_decode_error() -> None:
    """Cutting a pickle short gives DecodeError, never EOFError or UnpicklingError."""
    data = pickle.dumps({"a": [1, 2, 3]})
    for end in range(len(data) - 1):
        with pytest.raises(DecodeError):
            legacy.loads(data[:end])


def test_non_bytes_input_is_a_decode_error() -> None:
    """A str is refused with a clear message."""
    with pytest.raises(DecodeError, match="needs bytes"):
        legacy.loads("not bytes")  # type: ignore[arg-type]


def test_load_leaves_the_file_after_the_pickle() -> None:
    """Consecutive pickles in one file are read one call at a time, like pickle.load."""
    buffer = io.BytesIO(pickle.dumps(1) + pickle.dumps([2]) + pickle.dumps("three", 0))
    assert legacy.load(buffer) == 1
    assert legacy.load(buffer) == [2]
    assert legacy.load(buffer) == "three"


def test_python2_strings_decode_with_the_given_encoding() -> None:
    """encoding= decodes Python 2 str values, as pickle.loads does."""
    py2_pickle = b"U\x04caf\xe9q\x00."
    assert legacy.loads(py2_pickle, encoding="latin1") == "café"
    with pytest.raises(DecodeError):
        legacy.loads(py2_pickle)


def test_codecs_encode_only_for_latin1_text() -> None:
    """_codecs.encode with another codec is refused (codec lookups are not free)."""
    rot13 = b"c_codecs\nencode\n(Vabc\nVrot13\ntR."
    with pytest.raises(DecodeError, match=r"_codecs\.encode"):
        legacy.loads(rot13)


def test_str_of_a_container_is_refused() -> None:
    """str() of a shared structure is exponential output: only constants are accepted."""
    data = b"\x80\x02c__builtin__\nstr\n]\x85R."
    with pytest.raises(DecodeError, match="only constants"):
        legacy.loads(data)


def test_loads_holds_a_pickle_permit_naming_the_allowed_globals() -> None:
    """The C load runs inside a 'pickle' permit whose subject lists the allowed pairs."""
    seen: list[Any] = []

    class Recorder(Point):
        def __setstate__(self, state: dict[str, int]) -> None:
            seen.append(_permits.active("pickle"))
            self.__dict__.update(state)

    Recorder.__qualname__ = "Recorder"
    globals()["Recorder"] = Recorder
    try:
        legacy.loads(pickle.dumps(Recorder(1, 2)), allow={f"{__name__}.Recorder"})
    finally:
        del globals()["Recorder"]
    permit = seen[0]
    assert permit is not None and permit.origin == "safeops"
    assert (__name__, "Recorder") in permit.subject
    assert ("builtins", "dict") in permit.subject
    assert _permits.active("pickle") is None


@pytest.mark.parametrize("encoding", ["utf-16", "rot13", "no-such-codec"])
def test_encodings_that_do_not_decode_ascii_as_ascii_are_refused(encoding: str) -> None:
    """encoding= must be ASCII-compatible (or 'bytes'): the pre-scan relies on it."""
    with pytest.raises(ConfigurationError):
        legacy.loads(pickle.dumps(1), encoding=encoding)


def test_stack_global_with_python2_byte_names_is_refused() -> None:
    """STACK_GLOBAL fed non-ASCII Python 2 strings is refused as a computed name."""
    data = b"\x80\x04U\x02\xe9sU\x06system\x93."
    with pytest.raises(DecodeError, match="computed"):
        legacy.loads(data, encoding="latin1")

"""Decoding budgets: :class:`Limits` and the defaults every call uses."""

from __future__ import annotations

from dataclasses import dataclass

from safeops.errors import ConfigurationError

__all__ = ["DEFAULT_LIMITS", "MAX_DEPTH_CEILING", "Limits"]

#: The deepest nesting (in Python containers) both codecs can honour for every value in
#: the supported universe. orjson refuses to write more than 254 nested JSON levels, and
#: a tagged container costs two JSON levels (the tag object and its payload), so 126
#: Python levels plus a tagged leaf is the most a JSON document can carry. msgpack's own
#: unpacker stops at 1024 levels, far above this.
MAX_DEPTH_CEILING = 126


@dataclass(frozen=True)
class Limits:
    """Budgets that bound what one ``loads`` call may cost.

    Every field is a positive integer; build a new object (or use
    :func:`dataclasses.replace`) to change one. Impossible values raise
    :class:`~safeops.errors.ConfigurationError` here, when the object is built, not on the
    first request.

    - ``max_bytes``: the size of the encoded input (after the signature envelope, if any).
    - ``max_depth``: nesting of containers in the decoded value (a list inside a dict inside
      a list is depth 3). At most :data:`MAX_DEPTH_CEILING`. Enforced by counting, never by
      relying on ``sys.getrecursionlimit()``.
    - ``max_elements``: the number of values in the document, where every container, every
      scalar and every map key counts as one. Checked on the raw bytes *before* the decoder
      builds anything, so a document of millions of empty containers is refused without
      allocating them.
    - ``max_str_len``: characters of one string, bytes of one ``bytes``/``bytearray``.
    - ``max_int_digits``: decimal digits of one integer beyond 64 bits (CPython's own
      default guard against quadratic int parsing is 4300). It also bounds a Decimal:
      at most this many digits before the point (``adjusted() < max_int_digits``) and
      after it (``exponent >= -max_int_digits``), so ``Decimal("1e30000000")`` never
      reaches ``int()``.
    - ``max_expansion``: the estimated memory of the decoded value, 8 bytes per value
      plus 64 per container (list, dict, or the tag object of a tagged container), may
      not exceed ``max_expansion`` times the input size plus 64 KiB. This is what stops a
      valid document of millions of small containers, which every plain decoder expands
      30-70x, while it is still bytes. Checked on the raw bytes (JSON) or as the C
      unpacker completes each container (msgpack). The estimate does not count the
      payload of strings and big numbers, so a document of very short strings can still
      cost about 20x its size (see docs/serialize.md).
    """

    max_bytes: int = 16 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 1_000_000
    max_str_len: int = 16 * 1024 * 1024
    max_int_digits: int = 4300
    max_expansion: int = 10

    def __post_init__(self) -> None:
        for name in (
            "max_bytes",
            "max_depth",
            "max_elements",
            "max_str_len",
            "max_int_digits",
            "max_expansion",
        ):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigurationError(
                    f"Limits.{name} must be a positive int, got {value!r}; "
                    "use a larger finite budget instead",
                    limit=name,
                    value=value,
                )
        if self.max_depth > MAX_DEPTH_CEILING:
            raise ConfigurationError(
                f"Limits.max_depth={self.max_depth} is deeper than the codecs can honour "
                f"(at most {MAX_DEPTH_CEILING}): orjson writes at most 254 nested JSON levels "
                "and a tagged container needs two",
                limit="max_depth",
                value=self.max_depth,
                maximum=MAX_DEPTH_CEILING,
            )


#: The limits used when a call passes ``limits=None``.
DEFAULT_LIMITS = Limits()

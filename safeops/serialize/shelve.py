"""A drop-in ``shelve`` whose values are stored with ``safeops.serialize``, not pickle.

``shelve`` pickles every value, so whoever can write the database file can run code in
every process that reads it. This module keeps the shape of :func:`shelve.open` (a
persistent dict on the stdlib :mod:`dbm`, a context manager with ``sync`` and
``close``, optional ``writeback``) and stores values as JSON or MessagePack documents,
optionally signed. Moving code over is one line::

    import shelve                                      # before
    from safeops.serialize import shelve               # after

    with shelve.open("state") as db:
        db["last_run"] = datetime.datetime.now(datetime.timezone.utc)

Values are the ones ``safeops.serialize`` supports (application classes need
``serialize.register``). With *key*, each value is signed for its shelf and its own
database key: the signing purpose is a length-prefixed encoding of the shelf's purpose
and the key name (so no two (purpose, name) pairs share one), and :func:`open` derives
the shelf's purpose from the file's base name unless *purpose* is given. A value
therefore cannot be moved to another key, or to a shelf with another name or purpose,
without the signature failing. Give shelves that share a file name (in different
directories) and a key distinct purposes, and pass the same *purpose* after renaming a
file. Existing shelve files hold pickles: move
them once with :func:`migrate`, which reads them with ``serialize.legacy``.

Like :mod:`shelve`, a shelf is not safe for concurrent writers (that is a property of
``dbm``) and is not thread-safe.
"""

from __future__ import annotations

import contextlib
import dbm
import os
from collections.abc import Iterable, Iterator, MutableMapping
from types import TracebackType
from typing import Any, Literal

from safeops.errors import ConfigurationError, DecodeError, quote
from safeops.serialize import Limits, dumps, loads

__all__ = ["DEFAULT_PURPOSE", "Shelf", "migrate", "open"]

#: The prefix of the purpose :func:`open` derives from the file name for a signed shelf.
DEFAULT_PURPOSE = "safeops.shelve"
_builtin_open = open


class Shelf(MutableMapping[str, Any]):
    """A persistent dict over a ``dbm`` database; values stored with ``safeops.serialize``.

    Keys are ``str`` (stored as UTF-8). With ``writeback=True`` every value read or
    written is cached and written back on :meth:`sync` / :meth:`close`, so in-place
    changes (``db["list"].append(1)``) persist, at the cost of memory and a slower close,
    exactly as in :class:`shelve.Shelf`.
    """

    def __init__(
        self,
        database: Any,
        *,
        format: Literal["json", "msgpack"] = "msgpack",
        key: bytes | list[bytes] | None = None,
        purpose: str | None = None,
        writeback: bool = False,
        limits: Limits | None = None,
    ) -> None:
        if format not in ("json", "msgpack"):
            raise ConfigurationError(f"format must be 'json' or 'msgpack', got {format!r}")
        if key is not None and not purpose:
            # Without a purpose naming this shelf, values signed for one shelf would
            # verify in every other shelf signed with the same key.
            raise ConfigurationError(
                "a signed Shelf needs purpose= naming this shelf (shelve.open derives one "
                "from the file name)"
            )
        self._db: Any = database
        self._format: Literal["json", "msgpack"] = format
        self._key = key
        self._purpose = purpose or DEFAULT_PURPOSE
        self._limits = limits
        self.writeback = writeback
        self.cache: dict[str, Any] = {}

    # -- the mapping -----------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        if self.writeback and name in self.cache:
            return self.cache[name]
        value = self._decode(name, self._database[_encode_key(name)])
        if self.writeback:
            self.cache[name] = value
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        encoded = self._encode(name, value)  # encode first: a bad value changes nothing
        if self.writeback:
            self.cache[name] = value
        self._database[_encode_key(name)] = encoded

    def __delitem__(self, name: str) -> None:
        del self._database[_encode_key(name)]
        self.cache.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _encode_key(name) in self._database

    def __iter__(self) -> Iterator[str]:
        # keys(), not iteration: dbm.gnu objects are not iterable.
        for raw in self._database.keys():  # noqa: SIM118
            yield _decode_key(raw)

    def __len__(self) -> int:
        return len(self._database)

    # -- lifecycle -------------------------------------------------------------------

    def sync(self) -> None:
        """Write cached values back (writeback mode) and flush the database to disk."""
        if self.writeback and self.cache:
            self.writeback = False
            try:
                for name, value in self.cache.items():
                    self[name] = value
            finally:
                self.writeback = True
            self.cache = {}
        database = self._database
        if hasattr(database, "sync"):
            database.sync()

    def close(self) -> None:
        """Sync and close the database. Closing twice is harmless."""
        if self._db is None:
            return
        try:
            self.sync()
        finally:
            try:
                self._db.close()
            finally:
                self._db = None

    def __enter__(self) -> Shelf:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # shelve closes on garbage collection too; never raise from a finalizer.
        if getattr(self, "_db", None) is not None:
            with contextlib.suppress(Exception):
                self.close()

    # -- internals -------------------------------------------------------------------

    @property
    def _database(self) -> Any:
        if self._db is None:
            raise ValueError("invalid operation on a closed shelf")
        return self._db

    def _encode(self, name: str, value: Any) -> bytes:
        return dumps(value, format=self._format, key=self._key, purpose=self._bound(name))

    def _decode(self, name: str, data: bytes) -> Any:
        return loads(
            data,
            format=self._format,
            key=self._key,
            purpose=self._bound(name),
            limits=self._limits,
        )

    def _bound(self, name: str) -> str:
        if self._key is None:
            return self._purpose
        # Length-prefixed: purpose "app" + key "x:y" and purpose "app:x" + key "y" differ.
        return f"safeops.shelve/2[{len(self._purpose)}]{self._purpose}[{len(name)}]{name}"


def open(  # mirrors shelve.open, as defusedxml mirrors the modules it replaces
    filename: str,
    flag: Literal["r", "w", "c", "n"] = "c",
    *,
    format: Literal["json", "msgpack"] = "msgpack",
    key: bytes | list[bytes] | None = None,
    purpose: str | None = None,
    writeback: bool = False,
    limits: Limits | None = None,
    mode: int = 0o666,
) -> Shelf:
    """Open a persistent dict at *filename*; the same shape as :func:`shelve.open`.

    *flag* is dbm's: ``"r"`` read-only, ``"w"`` read-write, ``"c"`` create if missing
    (default), ``"n"`` always start empty. *format* chooses the value encoding
    (MessagePack by default: compact); *key* signs every value (see the module
    docstring); *limits* bounds decoding each value. ``protocol=`` from shelve has no
    meaning here and is not accepted. With *key* and no *purpose*, the purpose is
    ``"safeops.shelve:<base name of filename>"``, binding the values to this shelf.
    """
    if purpose is None:
        purpose = f"{DEFAULT_PURPOSE}:{os.path.basename(os.fspath(filename))}"
    return Shelf(
        dbm.open(filename, flag, mode),
        format=format,
        key=key,
        purpose=purpose,
        writeback=writeback,
        limits=limits,
    )


def migrate(
    old_filename: str,
    new_filename: str,
    *,
    allow: Iterable[Any] = frozenset(),
    format: Literal["json", "msgpack"] = "msgpack",
    key: bytes | list[bytes] | None = None,
    purpose: str | None = None,
) -> int:
    """Copy a stdlib ``shelve`` file into a new safeops shelf; returns the value count.

    Each pickled value is read with ``serialize.legacy.loads`` (only allow-listed
    globals, plus *allow*); a refused value raises
    :class:`~safeops.errors.DecodeError` naming the global, and the new shelf is left
    incomplete, so migrate into a new file and switch over once it succeeds.
    """
    from safeops.serialize.legacy import loads as legacy_loads

    count = 0
    with (
        dbm.open(old_filename, "r") as old,
        open(new_filename, "n", format=format, key=key, purpose=purpose) as new,
    ):
        for raw_key in old.keys():  # noqa: SIM118 (dbm.gnu objects are not iterable)
            name = _decode_key(raw_key)
            new[name] = legacy_loads(old[raw_key], allow=allow)
            count += 1
    return count


def _decode_key(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(f"a shelf key is not UTF-8: {quote(raw, 40)}") from None


def _encode_key(name: str) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"shelf keys are str, got {type(name).__name__}")
    return name.encode("utf-8")

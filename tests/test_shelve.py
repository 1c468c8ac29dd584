"""safeops.serialize.shelve: the shelve shape, values stored without pickle."""

from __future__ import annotations

import datetime
import dbm
import os
import pickle
import shelve as stdlib_shelve
import uuid
from pathlib import Path

import pytest

from safeops.errors import ConfigurationError, DecodeError, EncodeError, SignatureError
from safeops.serialize import shelve


def test_values_round_trip_across_reopen(tmp_path: Path) -> None:
    """Values written in one session are read back equal in the next."""
    path = str(tmp_path / "db")
    value = {"when": datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
             "id": uuid.UUID(int=7), "tags": {"a", "b"}, "raw": b"\x00\x01"}  # fmt: skip
    with shelve.open(path) as db:
        db["state"] = value
        db["count"] = 3
    with shelve.open(path, "r") as db:
        assert db["state"] == value
        assert sorted(db) == ["count", "state"]
        assert len(db) == 2
        assert "count" in db and "missing" not in db


def test_stored_bytes_are_not_a_pickle(tmp_path: Path) -> None:
    """The database holds serialize documents, never pickles."""
    path = str(tmp_path / "db")
    with shelve.open(path, format="json") as db:
        db["k"] = [1, 2]
    with dbm.open(path, "r") as raw:
        stored = raw[b"k"]
    assert stored == b"[1,2]"


def test_a_pickle_planted_in_the_database_is_refused(tmp_path: Path) -> None:
    """An attacker who writes a pickle into the file gets a DecodeError, not execution."""
    path = str(tmp_path / "db")
    with shelve.open(path) as db:
        db["k"] = 1
    with dbm.open(path, "w") as raw:
        raw[b"k"] = b"cos\nsystem\n(S'touch safeops-pwned-marker'\ntR."
    with shelve.open(path) as db, pytest.raises(DecodeError):
        db["k"]


def test_delete_and_missing_keys_behave_like_a_dict(tmp_path: Path) -> None:
    """del removes; a missing key raises KeyError; get() returns the default."""
    with shelve.open(str(tmp_path / "db")) as db:
        db["a"] = 1
        del db["a"]
        with pytest.raises(KeyError):
            db["a"]
        assert db.get("a", "default") == "default"


def test_unencodable_value_changes_nothing(tmp_path: Path) -> None:
    """A value serialize cannot store raises EncodeError and leaves the old value."""
    with shelve.open(str(tmp_path / "db")) as db:
        db["k"] = "old"
        with pytest.raises(EncodeError):
            db["k"] = object()
        assert db["k"] == "old"


def test_without_writeback_in_place_changes_are_not_saved(tmp_path: Path) -> None:
    """As in shelve: mutating a fetched value does not write it back."""
    path = str(tmp_path / "db")
    with shelve.open(path) as db:
        db["list"] = [1]
        db["list"].append(2)
    with shelve.open(path) as db:
        assert db["list"] == [1]


def test_writeback_saves_in_place_changes_on_close(tmp_path: Path) -> None:
    """With writeback=True, mutations of fetched values persist at sync/close."""
    path = str(tmp_path / "db")
    with shelve.open(path, writeback=True) as db:
        db["list"] = [1]
        db["list"].append(2)
    with shelve.open(path) as db:
        assert db["list"] == [1, 2]


def test_sync_writes_back_and_empties_the_cache(tmp_path: Path) -> None:
    """sync() persists cached values and clears the cache, as shelve does."""
    path = str(tmp_path / "db")
    db = shelve.open(path, writeback=True)
    db["d"] = {"n": 1}
    db["d"]["n"] = 2
    db.sync()
    assert db.cache == {}
    with shelve.open(path, "r") as other:
        assert other["d"] == {"n": 2}
    db.close()


def test_operations_after_close_raise_value_error(tmp_path: Path) -> None:
    """A closed shelf refuses use; closing again is harmless."""
    db = shelve.open(str(tmp_path / "db"))
    db.close()
    db.close()
    with pytest.raises(ValueError, match="closed shelf"):
        db["k"] = 1


def test_flag_n_starts_empty_and_r_is_read_only(tmp_path: Path) -> None:
    """dbm flags keep their meaning."""
    path = str(tmp_path / "db")
    with shelve.open(path) as db:
        db["k"] = 1
    with shelve.open(path, "n") as db:
        assert len(db) == 0
        db["k"] = 2
    with shelve.open(path, "r") as db, pytest.raises(dbm.error):
        db["k"] = 3


def test_signed_values_verify_and_cannot_move_between_keys(tmp_path: Path) -> None:
    """With key=, a tampered or relocated value raises SignatureError."""
    secret = os.urandom(32)
    path = str(tmp_path / "db")
    with shelve.open(path, key=secret) as db:
        db["admin"] = False
        db["user"] = True
    with dbm.open(path, "w") as raw:
        raw[b"admin"] = raw[b"user"]
    with shelve.open(path, key=secret) as db:
        assert db["user"] is True
        with pytest.raises(SignatureError):
            db["admin"]


def test_non_str_keys_are_refused(tmp_path: Path) -> None:
    """Keys are str, as in shelve."""
    with shelve.open(str(tmp_path / "db")) as db, pytest.raises(TypeError):
        db[1] = "x"  # type: ignore[index]


def test_migrate_copies_a_stdlib_shelf(tmp_path: Path) -> None:
    """migrate() reads pickled values with serialize.legacy and writes a safe shelf."""
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    with stdlib_shelve.open(old) as db:
        db["a"] = {"x": [1, 2]}
        db["b"] = datetime.date(2020, 5, 17)
    assert shelve.migrate(old, new) == 2
    with shelve.open(new, "r") as db:
        assert db["a"] == {"x": [1, 2]} and db["b"] == datetime.date(2020, 5, 17)


def test_migrate_refuses_a_malicious_value(tmp_path: Path) -> None:
    """A pickle gadget in the old shelf stops the migration with a DecodeError."""
    old = str(tmp_path / "old")
    with dbm.open(old, "c") as raw:
        raw[b"evil"] = pickle.dumps(42)[:2] + b"cos\nsystem\n(S'true'\ntR."
    with pytest.raises(DecodeError, match=r"os\.system"):
        shelve.migrate(old, str(tmp_path / "new"))


def test_signed_values_cannot_move_between_shelves(tmp_path: Path) -> None:
    """A value signed in one shelf fails in another shelf with the same key (review S8)."""
    secret = os.urandom(32)
    users, other = str(tmp_path / "users"), str(tmp_path / "other")
    with shelve.open(users, key=secret) as db:
        db["role"] = "admin"
    with shelve.open(other, key=secret) as db:
        db["role"] = "guest"
    with dbm.open(users, "r") as source, dbm.open(other, "w") as target:
        target[b"role"] = source[b"role"]
    with shelve.open(other, key=secret) as db, pytest.raises(SignatureError):
        db["role"]


def test_purpose_and_key_name_are_bound_unambiguously(tmp_path: Path) -> None:
    """purpose 'app' + key 'x:y' does not verify as purpose 'app:x' + key 'y' (review S8)."""
    secret = os.urandom(32)
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    with shelve.open(first, key=secret, purpose="app") as db:
        db["x:y"] = "admin"
    with shelve.open(second, key=secret, purpose="app:x") as db:
        db["y"] = "guest"
    with dbm.open(first, "r") as source, dbm.open(second, "w") as target:
        target[b"y"] = source[b"x:y"]
    with shelve.open(second, key=secret, purpose="app:x") as db, pytest.raises(SignatureError):
        db["y"]


def test_a_signed_shelf_object_needs_a_purpose(tmp_path: Path) -> None:
    """Shelf(database, key=...) without purpose= is a configuration error."""
    with dbm.open(str(tmp_path / "db"), "c") as raw, pytest.raises(ConfigurationError):
        shelve.Shelf(raw, key=os.urandom(32))


def test_a_non_utf8_key_is_a_decode_error(tmp_path: Path) -> None:
    """Iterating a shelf whose dbm file holds a non-UTF-8 key raises DecodeError."""
    path = str(tmp_path / "db")
    with dbm.open(path, "c") as raw:
        raw[b"\xff\xfe"] = b"x"
    with shelve.open(path, "r") as db, pytest.raises(DecodeError):
        list(db)

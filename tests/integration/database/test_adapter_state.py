"""The adapters' key-value area (`CacheDatabase.adapter_state`) on both backends (a real
SQLite file, a real redis-server), and the FIX sequence number store over it."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from livenode.adapters.fix.seqnums import DatabaseSeqNumStore, SeqNums, seqnums_key
from livenode.cache.database import CacheDatabase, DatabaseError

from .conftest import BackendFactory


class Numbers(msgspec.Struct, frozen=True):
    a: int
    b: str


def test_a_put_is_durable_when_it_returns_without_waiting_for_the_writer(
    make_backend: BackendFactory,
) -> None:
    db = CacheDatabase(make_backend())
    db.open()
    try:
        state = db.adapter_state("fix")
        assert state.get("k") is None
        state.put("k", b"\x00raw")
        state.put_struct("s", Numbers(a=7, b="x"))
        # Another connection sees both at once: nothing waits in the writer's queue.
        other = make_backend()
        other.open()
        try:
            assert other.read_kv("fix", "k") == b"\x00raw"
            assert other.read_kv("other", "k") is None
        finally:
            other.close()
        assert state.get_struct("s", Numbers) == Numbers(a=7, b="x")
        state.delete("k")
        assert state.get("k") is None
        # Another namespace is another area.
        assert db.adapter_state("sim").get("s") is None
        with pytest.raises(DatabaseError, match=r"adapter state fix/s: not a SeqNums"):
            state.get_struct("s", SeqNums)
    finally:
        assert db.close()
    # Loaded with the rest of the state by the next open.
    again = CacheDatabase(make_backend())
    try:
        assert again.open().kv == {("fix", "s"): msgspec.msgpack.encode(Numbers(a=7, b="x"))}
    finally:
        again.close()
    with pytest.raises(DatabaseError, match="closed"):
        state.get("s")


def test_a_bad_namespace_is_refused(make_backend: BackendFactory) -> None:
    db = CacheDatabase(make_backend())
    with pytest.raises(ValueError, match="namespace 'a\\\\x00b'"):
        db.adapter_state("a\0b")
    with pytest.raises(ValueError, match="namespace ''"):
        db.adapter_state("")


def test_the_seqnum_store_adopts_the_file_of_a_run_without_a_database_once(
    make_backend: BackendFactory, tmp_path: Path,
) -> None:
    path = tmp_path / "fix-NODE-VENUE.seqnums"
    path.write_text(json.dumps({"next_out": 17, "next_in": 23}))
    db = CacheDatabase(make_backend())
    db.open()
    try:
        key = seqnums_key("NODE", "VENUE")
        store = DatabaseSeqNumStore(db.adapter_state("fix"), key, adopt_file=path)
        assert (store.next_out, store.next_in) == (17, 23)
        assert not path.exists() and path.with_name(path.name + ".adopted").exists()
        store.next_out = 18
        store.save()
        # A file appearing later is not adopted again: the database has the numbers.
        path.write_text(json.dumps({"next_out": 2, "next_in": 2}))
        again = DatabaseSeqNumStore(db.adapter_state("fix"), key, adopt_file=path)
        assert (again.next_out, again.next_in) == (18, 23)
        assert path.exists()
        # A fresh session elsewhere starts at 1.
        other = DatabaseSeqNumStore(db.adapter_state("fix"), seqnums_key("NODE", "OTHER"))
        assert (other.next_out, other.next_in) == (1, 1)
    finally:
        db.close()


def test_a_broken_seqnum_file_is_named(make_backend: BackendFactory, tmp_path: Path) -> None:
    path = tmp_path / "fix-NODE-VENUE.seqnums"
    path.write_text('{"next_out": 3}')
    db = CacheDatabase(make_backend())
    db.open()
    try:
        with pytest.raises(ValueError, match=r"fix-NODE-VENUE.seqnums: not a FIX sequence"):
            DatabaseSeqNumStore(db.adapter_state("fix"), "k", adopt_file=path)
    finally:
        db.close()

"""The run marker on both backends (a real SQLite file, a real redis-server): every
write is applied only while the database still holds what this writer wrote, so a
database that lost it (flushed, restarted empty, taken over) refuses the write with
the reason instead of receiving a fragment of history; and a Redis server that
hangs or comes back empty is measured, not assumed: down within its timeout, and
the loss seen at the reconnect, then the rewrite lands and reads back whole."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from tests.fixtures.database.redis_server import RedisServer
from tests.unit.cache.helpers import accepted, filled, order_init, submitted

from livenode.cache.database import (
    CacheDatabase,
    DatabaseLostError,
    RedisBackend,
    RunMarker,
)

from .conftest import BackendFactory

WAIT = 30.0


def _op(n: int) -> tuple[str, str, bytes]:
    return ("order_event", f"O-{n}", f"payload-{n}".encode())


def test_the_first_write_claims_the_marker_and_every_write_advances_it(
    make_backend: BackendFactory,
) -> None:
    backend = make_backend()
    backend.open()
    try:
        backend.use_marker("exec:SIM", "instance-a")
        assert backend.read_marker("exec:SIM") is None
        backend.write([_op(1), _op(2)])
        assert backend.read_marker("exec:SIM") == RunMarker("exec:SIM", "instance-a", 2)
        backend.write([_op(3)])
        assert backend.marker_writes == 3
        # A node started again on the database takes the count over.
        again = make_backend()
        again.open()
        try:
            again.use_marker("exec:SIM", "instance-b")
            again.write([_op(4)])
            assert again.read_marker("exec:SIM") == RunMarker("exec:SIM", "instance-b", 4)
        finally:
            again.close()
        # ...and the first one, still writing, is told another instance writes now.
        with pytest.raises(DatabaseLostError) as lost:
            backend.write([_op(5)])
        assert lost.value.kind == "owner" and "instance-b" in str(lost.value)
        assert len(backend.load().order_events) == 4  # the refused batch is not there
    finally:
        backend.close()


def test_a_flushed_database_refuses_the_next_write_and_keeps_nothing_of_it(
    make_backend: BackendFactory,
) -> None:
    backend = make_backend()
    backend.open()
    other = make_backend()
    other.open()
    try:
        backend.use_marker("exec:SIM", "instance-a")
        backend.write([_op(1), _op(2), _op(3)])
        assert other.flush_trader() > 0
        with pytest.raises(DatabaseLostError) as lost:
            backend.write([_op(4)])
        assert lost.value.kind == "missing"
        assert "3 write(s) made by this writer" in str(lost.value)
        assert backend.load().order_events == []
        # Restored from an older copy: the marker is there but counts less.
        other.use_marker("exec:SIM", "instance-a")
        other.write([_op(1)])
        with pytest.raises(DatabaseLostError) as behind:
            backend.write([_op(4)])
        assert behind.value.kind == "behind" and "lost the last 2" in str(behind.value)
        # After a rewrite is decided the marker is claimed again from what is there.
        backend.reset_marker()
        backend.write([_op(2), _op(3), _op(4)])
        assert backend.read_marker("exec:SIM") == RunMarker("exec:SIM", "instance-a", 4)
    finally:
        other.close()
        backend.close()


def test_flush_on_start_removes_the_markers_of_this_trader_only(
    make_backend: BackendFactory,
) -> None:
    mine, theirs = make_backend("MINE-001"), make_backend("THEIRS-001")
    for backend in (mine, theirs):
        backend.open()
        backend.use_marker("exec:SIM", "i")
        backend.write([_op(1)])
    try:
        mine.flush_trader()
        assert mine.read_marker("exec:SIM") is None
        assert theirs.read_marker("exec:SIM") == RunMarker("exec:SIM", "i", 1)
    finally:
        mine.close()
        theirs.close()


def _history(qty: str = "1.000") -> list[object]:
    init = order_init(qty=qty)
    return [init, submitted(init), accepted(init), filled(init, "0.400")]


class Watch:
    """The writer's callbacks, with events to wait on and when they came."""

    def __init__(self) -> None:
        self.down, self.up, self.lost = threading.Event(), threading.Event(), threading.Event()
        self.down_at: float | None = None
        self.kinds: list[str] = []

    def on_health(self, ok: bool, _detail: str) -> None:
        if not ok and self.down_at is None:
            self.down_at = time.monotonic()
        (self.up if ok else self.down).set()

    def on_lost(self, _db: CacheDatabase, kind: str, _detail: str) -> None:
        self.kinds.append(kind)
        self.lost.set()


def _redis_db(server: RedisServer, watch: Watch, timeout: float = 0.5) -> CacheDatabase:
    backend = RedisBackend("TESTER-001", port=server.port, connect_timeout=timeout,
                           socket_timeout=timeout)
    db = CacheDatabase(backend, retry_interval=0.05, write_timeout=timeout,
                       on_health=watch.on_health, on_lost=watch.on_lost)
    db.use_marker("exec:SIM", "instance-a")
    return db


def test_a_hung_redis_is_down_within_its_timeout_and_loses_nothing(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        watch = Watch()
        db = _redis_db(server, watch)
        db.open()
        before = _history()
        for event in before:
            db.put_order_event(event)
        assert db.wait_written(WAIT)
        server.pause()
        paused_at = time.monotonic()
        during = _history("2.000")
        for event in during:
            db.put_order_event(event)
        assert watch.down.wait(WAIT), "a SIGSTOPped redis-server was never reported"
        assert watch.down_at is not None
        # socket_timeout 0.5 s: the write's own timeout surfaces (redis-py retries off).
        assert watch.down_at - paused_at < 0.5 + 2.0, watch.down_at - paused_at
        assert db.status().state == "down" and db.status().pending == len(during)
        server.resume()
        assert db.wait_written(WAIT) and watch.up.wait(WAIT)
        assert not watch.lost.is_set()  # the batch that timed out may land twice: no loss
        db.close()
        again = CacheDatabase(RedisBackend("TESTER-001", port=server.port))
        try:
            assert again.open().order_events == before + during
        finally:
            again.close()
    finally:
        server.stop()


def test_a_redis_restarted_empty_is_seen_at_the_reconnect_and_rewritten(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        watch = Watch()
        db = _redis_db(server, watch)
        db.open()
        before = _history()
        for event in before:
            db.put_order_event(event)
        assert db.wait_written(WAIT)
        server.shutdown_nosave()
        server.start_empty()
        during = _history("2.000")
        for event in during:
            db.put_order_event(event)
        # redis-py reconnects to the new server by itself; the marker check sees it.
        assert watch.lost.wait(WAIT), "a redis-server restarted empty went unnoticed"
        assert watch.kinds == ["missing"]
        assert db.status().state == "lost"
        assert db.backend.load().order_events == []  # nothing written into it meanwhile
        # The node answers with its whole state (here: both orders' events).
        db.rewrite(CacheDatabase.state_ops(instruments=[], accounts=[], strategies={},
                                           order_events=before + during),
                   db.writer.submitted)
        assert db.wait_written(WAIT) and watch.up.wait(WAIT)
        status = db.status()
        assert (status.state, status.losses, status.rewrites) == ("ok", 1, 1)
        db.close()
        again = CacheDatabase(RedisBackend("TESTER-001", port=server.port))
        try:
            assert again.open().order_events == before + during
        finally:
            again.close()
    finally:
        server.stop()

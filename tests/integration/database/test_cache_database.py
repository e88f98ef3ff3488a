"""The cache database on both backends (a real SQLite file, a real redis-server):
what is written comes back equal and in order, only this trader's state is
touched, a newer schema is refused, and an unavailable database loses nothing."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tests.fixtures.database.redis_server import RedisServer
from tests.unit.cache.helpers import (
    BTCUSDT_SIM,
    accepted,
    canceled,
    filled,
    order_init,
    pair,
    submitted,
)
from tests.unit.engines.helpers import account_state

from livenode.cache.cache import Cache
from livenode.cache.database import (
    SCHEMA_VERSION,
    CacheDatabase,
    RedisBackend,
    SchemaVersionError,
    SqliteBackend,
)
from livenode.cache.database.redis_backend import SCHEMA_KEY
from livenode.engines.positions import apply_fill_to_position
from livenode.engines.recovery import restore_execution_state
from livenode.model.codec import Codec
from livenode.model.enums import OrderSide
from livenode.model.events import OrderFilled, OrderInitialized
from livenode.model.orders import Order
from livenode.model.position import netting_position_id

from .conftest import BackendFactory

WAIT = 30.0  # generous: the machine is shared


def _order_history(qty: str = "1.000") -> list[Any]:
    init = order_init(qty=qty)
    return [init, submitted(init), accepted(init), filled(init, "0.400")]


def test_everything_written_comes_back_equal(make_backend: BackendFactory) -> None:
    db = CacheDatabase(make_backend())
    assert db.open().order_events == []
    instrument = pair(BTCUSDT_SIM)
    history = _order_history()
    first = account_state("100000")
    last = account_state("99000")
    db.put_instrument(instrument)
    for event in history:
        db.put_order_event(event)
    db.put_account(first, first=True)
    db.put_account(last)
    db.put_kv("FIX-VENUE", "next_seq_out", b"42")
    db.put_kv("FIX-VENUE", "gone", b"x")
    db.put_kv("FIX-VENUE", "gone", None)
    db.put_strategy_state("EMACross-001", {"fast": b"1.5", "slow": b"\x00\x01"})
    assert db.wait_written(WAIT)
    assert db.close()

    again = CacheDatabase(make_backend())
    state = again.open()
    try:
        assert state.instruments == [instrument]
        assert state.order_events == history
        assert state.accounts == {first.account_id.value: (first, last)}
        assert state.kv == {("FIX-VENUE", "next_seq_out"): b"42"}
        assert state.strategies == {"EMACross-001": {"fast": b"1.5", "slow": b"\x00\x01"}}
        assert state.undecodable == 0
    finally:
        again.close()


def test_strategies_only_reads_the_strategy_states_of_this_trader(
    make_backend: BackendFactory,
) -> None:
    """What a trader worker opens: strategy states only, its own trader id's only."""
    db = CacheDatabase(make_backend())
    db.open()
    db.put_instrument(pair(BTCUSDT_SIM))
    db.put_strategy_state("Counter-001", {"n": b"3"})
    assert db.wait_written(WAIT)
    assert db.close()
    other = CacheDatabase(make_backend(trader_id="OTHER-001"))
    other.open()
    other.put_strategy_state("Counter-001", {"n": b"99"})
    assert other.wait_written(WAIT)
    assert other.close()

    trader = CacheDatabase(make_backend())
    state = trader.open(strategies_only=True)
    try:
        assert state.strategies == {"Counter-001": {"n": b"3"}}
        assert state.instruments == [] and state.order_events == []
    finally:
        trader.close()


def test_order_events_keep_their_order_over_many_batches(make_backend: BackendFactory) -> None:
    db = CacheDatabase(make_backend(), batch_size=64)
    db.open()
    events = []
    for _ in range(300):
        init = order_init()
        events += [init, submitted(init), accepted(init), canceled(init)]
    for event in events:
        db.put_order_event(event)
    assert db.wait_written(WAIT)
    assert db.status().batches >= len(events) // 64
    db.close()
    again = CacheDatabase(make_backend())
    try:
        assert again.open().order_events == events
    finally:
        again.close()


def test_a_batch_written_twice_is_loaded_once(make_backend: BackendFactory) -> None:
    """A Redis EXEC whose reply was lost is written again on retry: the loader
    keeps each event once (by event id)."""
    backend = make_backend()
    backend.open()
    init = order_init()
    codec = Codec()
    payload = codec.encode(init)
    backend.write([("order_event", init.client_order_id.value, payload)] * 2)
    backend.close()
    db = CacheDatabase(make_backend())
    try:
        assert db.open().order_events == [init]
    finally:
        db.close()


def test_flush_on_start_touches_only_this_trader(make_backend: BackendFactory) -> None:
    ours = CacheDatabase(make_backend("OURS-001"))
    theirs = CacheDatabase(make_backend("THEIRS-001"))
    ours.open()
    theirs.open()
    for db in (ours, theirs):
        for event in _order_history():
            db.put_order_event(event)
        db.put_kv("client", "k", b"v")
        db.put_instrument(pair())
        assert db.wait_written(WAIT)
    ours.close()
    theirs.close()

    flushed = CacheDatabase(make_backend("OURS-001"))
    assert flushed.open(flush=True).order_events == []
    flushed.close()
    kept = CacheDatabase(make_backend("THEIRS-001"))
    try:
        state = kept.open()
        assert len(state.order_events) == 4
        assert state.kv == {("client", "k"): b"v"}
        assert len(state.instruments) == 1
    finally:
        kept.close()


def test_a_newer_schema_is_refused(make_backend: BackendFactory, backend_kind: str,
                                   request: pytest.FixtureRequest) -> None:
    backend = make_backend()
    backend.open()
    backend.close()
    newer = SCHEMA_VERSION + 1
    if backend_kind == "sqlite":
        assert isinstance(backend, SqliteBackend)
        with sqlite3.connect(backend.path) as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(newer),))
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.client().set(SCHEMA_KEY, str(newer))
    with pytest.raises(SchemaVersionError, match=f"schema version {newer} is newer"):
        CacheDatabase(make_backend()).open()


def test_restore_rebuilds_orders_positions_and_accounts_exactly(
    make_backend: BackendFactory,
) -> None:
    """Orders through their state machine, positions from their fills: the cache
    rebuilt from the database equals the one that wrote it."""
    instrument = pair(BTCUSDT_SIM)
    buy = order_init(qty="1.000", price="100.00")
    sell = order_init(qty="0.250", price="110.00", side=OrderSide.SELL)

    def fill(init: OrderInitialized, qty: str) -> OrderFilled:
        # As the execution engine stores it: with its netting position id.
        event = filled(init, qty)
        return msgspec.structs.replace(
            event, position_id=netting_position_id(event.instrument_id, event.strategy_id))

    events = [
        buy, submitted(buy), accepted(buy), fill(buy, "0.600"), fill(buy, "0.400"),
        sell, submitted(sell), accepted(sell), fill(sell, "0.100"),
    ]
    source = Cache()
    source.add_instrument(instrument)
    db = CacheDatabase(make_backend())
    db.open()
    db.put_instrument(instrument)
    for event in events:
        if type(event) is OrderInitialized:
            source.add_order(Order(event))
        else:
            order = source.order(event.client_order_id)
            assert order is not None
            order.apply(event)
            source.update_order(order)
            if type(event) is OrderFilled:
                apply_fill_to_position(source, event)
        db.put_order_event(event)
    db.put_account(account_state(), first=True)
    assert db.wait_written(WAIT)
    db.close()

    again = CacheDatabase(make_backend())
    state = again.open()
    again.close()
    rebuilt = Cache()
    counts = restore_execution_state(rebuilt, state)
    assert (counts.orders, counts.fills, counts.open_positions) == (2, 3, 1)
    for original in source.orders():
        copy = rebuilt.order(original.client_order_id)
        assert copy is not None
        assert (copy.status, copy.filled_qty, copy.avg_px, copy.trade_ids) == (
            original.status, original.filled_qty, original.avg_px, original.trade_ids)
    [position] = rebuilt.positions_open()
    [expected] = source.positions_open()
    assert position.snapshot_event(event_id="x", ts_init=0) == expected.snapshot_event(
        event_id="x", ts_init=0)
    assert str(position.quantity) == "0.900"
    assert len(rebuilt.accounts()) == 1


def test_sqlite_locked_degrades_keeps_writes_and_catches_up(tmp_path: Path) -> None:
    """Another process holds the SQLite file locked: the writer reports the fault,
    keeps every write, and writes them all once the lock is gone."""
    path = tmp_path / "cache.sqlite"
    health: list[tuple[bool, str]] = []
    changed = threading.Event()

    def on_health(ok: bool, detail: str) -> None:
        health.append((ok, detail))
        changed.set()

    db = CacheDatabase(SqliteBackend("TESTER-001", path, timeout=0.05),
                       retry_interval=0.05, on_health=on_health)
    db.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    history = _order_history()
    for event in history:
        db.put_order_event(event)
    assert changed.wait(WAIT), "the writer never reported the locked database"
    assert health[0][0] is False and "locked" in health[0][1]
    status = db.status()
    assert not status.healthy and status.pending == len(history) and status.failures >= 1
    changed.clear()
    blocker.execute("ROLLBACK")
    blocker.close()
    assert db.wait_written(WAIT)
    assert changed.wait(WAIT)
    assert health[-1] == (True, "")
    assert db.status().healthy and db.status().pending == 0
    db.close()
    again = CacheDatabase(SqliteBackend("TESTER-001", path))
    try:
        assert again.open().order_events == history
    finally:
        again.close()


def test_redis_stopped_mid_run_degrades_then_catches_up(
    redis_server: RedisServer,
) -> None:
    """Redis killed and started again: writes made while it was down are kept,
    retried and all land, in order, once it is back; health goes down then up."""
    health: list[bool] = []
    down, up = threading.Event(), threading.Event()

    def on_health(ok: bool, _detail: str) -> None:
        health.append(ok)
        (up if ok else down).set()

    backend = RedisBackend("TESTER-001", port=redis_server.port, connect_timeout=0.5,
                           socket_timeout=0.5)
    db = CacheDatabase(backend, retry_interval=0.05, on_health=on_health)
    db.open()
    before = _order_history()
    for event in before:
        db.put_order_event(event)
    assert db.wait_written(WAIT)
    redis_server.stop()
    during = _order_history("2.000")
    for event in during:
        db.put_order_event(event)
    assert down.wait(WAIT), "the writer never reported Redis down"
    assert db.status().pending == len(during)
    redis_server.start()
    assert db.wait_written(WAIT)
    assert up.wait(WAIT)
    assert health == [False, True]
    db.close()
    again = CacheDatabase(RedisBackend("TESTER-001", port=redis_server.port))
    try:
        assert again.open().order_events == before + during
    finally:
        again.close()

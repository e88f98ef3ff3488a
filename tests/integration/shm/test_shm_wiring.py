"""The node's shared-memory wiring: the process that owns a fact writes it, every
other process (here: a second cache attached to the same segments, as a worker
would be) reads it through its Cache, and the portfolio marks from it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal

import pytest
from tests.unit.engines.helpers import (
    IID,
    TRADER,
    RecordingExecClient,
    accepted,
    account_state,
    filled,
    make_instrument,
    order_init,
    quote,
    submit,
    submitted,
)

from livenode.bus import topics
from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.cache.shm import ShmTables, list_segments, segment_prefix
from livenode.cache.shm.writer import ShmWriter
from livenode.config import ExecEngineConfig, PortfolioConfig
from livenode.core.clock import TestClock
from livenode.engines.clients import EXEC_ENGINE_PROCESS
from livenode.engines.execution_engine import ExecutionEngine
from livenode.engines.portfolio import Portfolio
from livenode.model.enums import OrderSide

TRADER_ID = "SHMWIRE-001"


@pytest.fixture
def tables() -> Iterator[ShmTables]:
    instance = f"t{os.getpid()}"
    with ShmTables.create(TRADER_ID, instance) as owned:
        yield owned
    assert not [s for s in list_segments(TRADER_ID) if s.instance_id == instance]


def test_one_process_writes_another_reads_through_its_cache(tables: ShmTables) -> None:
    # The "data + exec" side: writes market data and execution state.
    clock = TestClock(0)
    bus = MessageBus(TRADER, clock)
    owner_cache = Cache()
    owner_cache.add_instrument(make_instrument())
    writer = ShmWriter(bus, tables, market=True, execution=True)
    engine = ExecutionEngine(bus, owner_cache, clock, ExecEngineConfig())
    engine.register_client(RecordingExecClient())
    engine.start()

    # The "risk / trader" side: its own bus and cache, attached to the same segments.
    reader_tables = ShmTables.attach(segment_prefix(TRADER_ID, tables.prefix.rsplit("-", 1)[1]))
    try:
        reader_bus = MessageBus(TRADER, clock)
        reader_cache = Cache()
        reader_cache.add_instrument(make_instrument())
        reader_cache.attach_shared(reader_tables)
        portfolio = Portfolio(reader_bus, reader_cache, clock, PortfolioConfig())

        bus.publish(topics.instrument(IID), make_instrument())
        q = quote("100.00", "100.10")
        bus.publish(topics.quotes(IID), q)
        assert reader_cache.quote_tick(IID) == q  # never published on the reader's bus

        o = order_init(side=OrderSide.BUY, qty="2.000", price="100.00")
        bus.publish(topics.exec_commands(IID.venue), submit(o))
        for event in (submitted(o), accepted(o), filled(o, "2.000", "100.00", "T-1")):
            bus.send(EXEC_ENGINE_PROCESS, event)
        bus.send(EXEC_ENGINE_PROCESS, account_state())
        (snapshot,) = [
            reader_tables.positions.read(sid, iid)
            for sid, iid in reader_tables.positions.keys()  # noqa: SIM118 - not a dict
        ]
        assert snapshot is not None and str(snapshot.quantity) == "2.000"
        assert reader_tables.accounts.balances(account_state().account_id)

        # The reader's portfolio marks at the shared bid, though its bus saw no quote.
        reader_bus.publish(
            topics.position_events(o.strategy_id), owner_cache.positions_open()[0].snapshot_event()
        )
        bus.publish(topics.quotes(IID), quote("101.00", "101.10"))
        assert portfolio.unrealized_pnl(IID).as_decimal() == Decimal("2.00")
        assert writer.errors == 0 and writer.writes >= 5
    finally:
        reader_cache.attach_shared(None)
        reader_tables.close()
        writer.close()

"""A node restarted on its cache database resumes with the venue's truth.

The venue outlives the node (as a real venue does): node 1 trades against it and
stops without cancelling or flattening (manage_stop off), the venue's market runs
on while no node is there (resting orders fill, their events reach nobody), then
node 2 starts on the same database. After its start gates (state loaded from the
database, then reconciled with the venue), its orders, fills, positions and
balances must equal the venue's, with no fill applied twice. Both backends.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tests.fixtures.database.redis_server import RedisServer

from livenode.adapters.sim.config import SimDataClientConfig
from livenode.adapters.sim.factories import SimVenues
from livenode.config import TradingNodeConfig, load_config_str
from livenode.core.clock import LiveClock
from livenode.model.enums import PositionSide
from livenode.model.events import OrderFilled
from livenode.node.node import TradingNode
from livenode.venues.sim.venue import SimVenue

ROOT = Path(__file__).resolve().parents[3]
WAIT = 60.0


def _config(database: dict[str, Any], flush: bool) -> TradingNodeConfig:
    doc = tomllib.loads((ROOT / "configs" / "sandbox.toml").read_text())
    doc["trader_id"] = "RESTART-001"
    doc["cache"] = {"shared_memory": False,
                    "database": {**database, "flush_on_start": flush}}
    for strategy in doc["strategies"]:
        strategy["config"]["manage_stop"] = False  # leave orders and positions behind
    return load_config_str(json.dumps(doc), "json")


@pytest.fixture
def database(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
             ) -> dict[str, Any]:
    if backend_kind == "sqlite":
        return {"type": "sqlite", "path": str(tmp_path / "node.sqlite")}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"type": "redis", "port": server.port}


async def _run_until(node: TradingNode, done: asyncio.Event) -> None:
    node.build()
    run = asyncio.create_task(node.run_async())
    assert await asyncio.wait_for(node.wait_started(), WAIT)
    try:
        await asyncio.wait_for(done.wait(), WAIT)
    finally:
        await asyncio.wait_for(node.stop_async("test"), WAIT)
        await asyncio.wait_for(run, WAIT)


async def test_restart_on_the_database_resumes_with_the_venues_truth(
    database: dict[str, Any],
) -> None:
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)
    first_config = _config(database, flush=True)
    sim = msgspec.convert(first_config.data_clients["SIM"].config, SimDataClientConfig)
    venue = SimVenue(sim.venue_config, loop, clock, "SIM")
    shared = [SimVenues({"SIM": venue})]

    # Node 1: trade until there are fills and a resting order, then stop as is.
    node1 = TradingNode(first_config, loop, clock=clock, shared=shared)
    traded = asyncio.Event()

    def watch(event: Any) -> None:
        cache = node1.kernel.cache
        fills = sum(1 for o in cache.orders() for e in o.events if type(e) is OrderFilled)
        if fills >= 4 and cache.orders_open() and cache.positions_open():
            traded.set()

    node1.kernel.msgbus.subscribe("events.order.*", watch)
    await _run_until(node1, traded)
    orders_before = {o.client_order_id for o in node1.kernel.cache.orders()}
    open_before = len(node1.kernel.cache.orders_open())
    node1.dispose()
    assert open_before > 0

    # No node: the market runs on; a resting order may fill, and nobody hears it.
    fills_at_venue = len(venue.fill_reports())
    venue.start()
    deadline = loop.time() + 10
    while len(venue.fill_reports()) == fills_at_venue and loop.time() < deadline:
        await asyncio.sleep(0.05)  # no event to wait on: nothing listens to the venue now
    venue.stop()

    # Node 2 on the same database: everything node 1 knew is back before it starts.
    node2 = TradingNode(_config(database, flush=False), loop, clock=clock,
                        shared=shared)
    node2.build()
    restored = {o.client_order_id for o in node2.kernel.cache.orders()}
    assert orders_before <= restored
    run = asyncio.create_task(node2.run_async())
    assert await asyncio.wait_for(node2.wait_started(), WAIT)
    await asyncio.wait_for(node2.stop_async("test"), WAIT)
    await asyncio.wait_for(run, WAIT)
    try:
        _assert_cache_equals_venue(node2, venue)
        assert node2.kernel.exec_engine is not None
        assert node2.kernel.exec_engine.duplicate_fill_count == 0
    finally:
        node2.dispose()


def _assert_cache_equals_venue(node: TradingNode, venue: SimVenue) -> None:
    cache = node.kernel.cache
    fills_by_venue_order: dict[str, set[str]] = {}
    for fill in venue.fill_reports():
        fills_by_venue_order.setdefault(fill.venue_order_id.value, set()).add(
            fill.trade_id.value)
    reports = venue.order_status_reports(open_only=False)
    assert reports
    for report in reports:
        order = cache.order(report.client_order_id) if report.client_order_id else None
        assert order is not None, f"venue order {report.venue_order_id} unknown to the node"
        assert order.status == report.order_status, order
        assert order.filled_qty == report.filled_qty, order
        trade_ids = {t.value for t in order.trade_ids}
        assert trade_ids == fills_by_venue_order.get(report.venue_order_id.value, set())
    # Every order the node holds as open is open at the venue.
    open_at_venue = {r.client_order_id for r in venue.order_status_reports()}
    assert {o.client_order_id for o in cache.orders_open()} <= open_at_venue
    # Positions: the node's net per instrument is the venue's.
    venue_net: dict[str, Decimal] = {}
    for report in venue.position_reports():
        qty = report.quantity.as_decimal()
        venue_net[report.instrument_id.value] = (
            -qty if report.position_side is PositionSide.SHORT else qty)
    node_net: dict[str, Decimal] = {}
    for position in cache.positions_open():
        qty = position.quantity.as_decimal()
        node_net[position.instrument_id.value] = node_net.get(
            position.instrument_id.value, Decimal(0)) + (-qty if position.is_short else qty)
    assert {k: v for k, v in node_net.items() if v} == {k: v for k, v in venue_net.items() if v}
    # Balances: the account the node holds is the venue's.
    venue_state = venue.account_state()
    account = cache.account(venue_state.account_id)
    assert account is not None
    assert {b.currency: b.total for b in venue_state.balances} == {
        c: b.total for c, b in account.balances().items()}


async def test_an_unreachable_database_fails_the_build_with_a_message() -> None:
    from tests.fixtures.database.redis_server import free_port

    from livenode.node.builder import BuildError

    port = free_port()  # nothing listens there
    config = _config({"type": "redis", "port": port, "connect_timeout": 0.5}, flush=False)
    node = TradingNode(config, asyncio.get_running_loop())
    try:
        with pytest.raises(BuildError, match=rf"cache database: redis://127.0.0.1:{port}/0"):
            node.build()
    finally:
        node.dispose()


def test_the_status_line_shows_the_database() -> None:
    from livenode.cli.summary import status_line

    common: dict[str, Any] = dict(seconds=3, orders=1, fills=0, open_positions={}, pnl={})
    ok = {"healthy": True, "fault": None, "pending": 0, "lag_seconds": 0.0}
    down = {"healthy": False, "fault": "x", "pending": 7, "lag_seconds": 2.5,
            "trading": "REDUCING"}
    assert status_line(**common).endswith("pnl=0")
    assert status_line(**common, database=ok).endswith(" db=ok")
    assert status_line(**common, database=down).endswith(
        " db=DOWN(REDUCING) pending=7 lag=2.5s")

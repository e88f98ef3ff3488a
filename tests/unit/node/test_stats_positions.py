"""`NodeStats`: per-instrument lifetime totals and the closed position cycles (issue 10)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from livenode.config import TradingNodeConfig
from livenode.engines.clients import EXEC_ENGINE_PROCESS
from livenode.model.enums import OrderSide
from livenode.model.orders import Order
from livenode.node.kernel import Kernel
from livenode.node.stats import NodeStats
from tests.unit.engines.helpers import (
    T0,
    accepted,
    filled,
    make_instrument,
    order_init,
    submitted,
)


async def test_a_flip_shows_lifetime_totals_and_the_closed_cycle(
    empty_config: TradingNodeConfig,
) -> None:
    kernel = Kernel(empty_config, asyncio.get_running_loop())
    stats = NodeStats(kernel)
    stats.start()
    kernel.cache.add_instrument(make_instrument())
    # SELL 2@120 (fee 0.12), BUY 3@100 (fee 0.30) flips the short into a long of 1.
    for n, (side, qty, px, fee) in enumerate(
        [(OrderSide.SELL, "2.000", "120.00", "0.12"), (OrderSide.BUY, "3.000", "100.00", "0.30")]
    ):
        init = order_init(side=side, qty=qty, price=px, coid=f"O-{n + 1}")
        kernel.cache.add_order(Order(init))
        for event in (submitted(init), accepted(init, vid=f"V-{n}"),
                      filled(init, qty, px, f"T-{n}", commission=fee, vid=f"V-{n}")):
            kernel.msgbus.send(EXEC_ENGINE_PROCESS, event)
    summary = stats.summary()
    (row,) = summary["positions"]
    assert row["net_quantity"] == "1.000"
    assert row["realized_pnl"] == "39.58000000"  # lifetime: 39.68 - 0.10
    assert row["closed_cycles"] == 1
    (closed,) = summary["closed_positions"]
    assert closed == {
        "instrument_id": "BTCUSDT.SIM",
        "strategy_id": "S-001",
        "position_id": "BTCUSDT.SIM-S-001",
        "side": "SHORT",
        "peak_qty": "2.000",
        "avg_px_open": "120.0",
        "avg_px_close": "100.0",
        "realized_pnl": "39.68000000",
        "commissions": "0.32000000",
        "currency": "USDT",
        "opening_order_id": "O-1",
        "closing_order_id": "O-2",
        "ts_opened": T0,
        "ts_closed": T0,
    }
    assert stats.pnl_totals() == {"USDT": Decimal("39.58")}  # no quote: unrealized 0
    stats.close()
    kernel.dispose()


async def _filled_kernel(config: TradingNodeConfig, roles: tuple[str, ...]) -> NodeStats:
    kernel = Kernel(config, asyncio.get_running_loop(), roles=roles)
    stats = NodeStats(kernel)
    stats.start()
    kernel.cache.add_instrument(make_instrument())
    init = order_init(side=OrderSide.BUY, qty="1.000", price="100.00", coid="O-1")
    kernel.cache.add_order(Order(init))
    for event in (submitted(init), accepted(init, vid="V-1"),
                  filled(init, "1.000", "100.00", "T-1", commission="0.10", vid="V-1")):
        kernel.msgbus.send(EXEC_ENGINE_PROCESS, event)
    return stats


async def test_the_report_holds_what_the_process_roles_own(
    empty_config: TradingNodeConfig,
) -> None:
    whole = await _filled_kernel(empty_config, ("data", "trader", "risk", "exec"))
    report = whole.report()
    assert report.counters.fills == 1 and [f.trade_id for f in report.fills] == ["T-1"]
    assert report.orders.by_status["filled"] == 1
    assert report.positions["BTCUSDT.SIM"].net_quantity == "1.000"
    assert report.pnl_by_strategy == {"S-001": {"USDT": "-0.10000000"}}
    # The heartbeat's light report: the counts, not the lists that grow with the run.
    live = whole.report(live=True)
    assert live.counters.fills == 1 and live.fills == [] and live.orders.open == []
    assert live.orders.by_status == report.orders.by_status
    # A data worker saw the same events on its bus, but orders are the traders' to
    # report: merged with a trader's report, nothing is counted twice.
    data = await _filled_kernel(empty_config, ("data",))
    data_report = data.report()
    assert data_report.counters.fills == 0 and data_report.fills == []
    assert data_report.orders.by_status == {} and data_report.positions == {}
    assert report.merge(data_report).counters.fills == 1
    for stats in (whole, data):
        stats.close()
        stats._kernel.dispose()


async def test_a_fill_heard_twice_is_counted_once(empty_config: TradingNodeConfig) -> None:
    # A worker restart can bring a fill again (resent, or rebuilt by reconciliation under
    # a new event id and the same trade id): the run's counts and fills take it once.
    import msgspec

    from livenode.bus import topics

    kernel = Kernel(empty_config, asyncio.get_running_loop())
    stats = NodeStats(kernel)
    stats.start()
    kernel.cache.add_instrument(make_instrument())
    init = order_init(side=OrderSide.BUY, qty="1.000", price="100.00", coid="O-1")
    kernel.cache.add_order(Order(init))
    fill = filled(init, "1.000", "100.00", "T-1", vid="V-1")
    for event in (submitted(init), accepted(init, vid="V-1"), fill):
        kernel.msgbus.send(EXEC_ENGINE_PROCESS, event)
    topic = topics.order_events(init.strategy_id)
    kernel.msgbus.publish(topic, fill)
    kernel.msgbus.publish(topic, msgspec.structs.replace(fill, event_id="rebuilt"))
    assert stats.fill_count == 1 and len(stats.fills) == 1
    assert stats.summary()["counters"]["fills"] == 1


async def test_a_trader_worker_follows_every_position_and_reports_its_own(
    empty_config: TradingNodeConfig,
) -> None:
    # A trader worker's cache follows the EXTERNAL position too (its strategies' closes
    # are bounded by the account's net), but the exec worker reports that one: the
    # trader's report holds its own strategies' positions only, so the supervisor's
    # merge counts each position once.
    import msgspec

    from livenode.bus import topics
    from livenode.config.structs import ImportableStrategyConfig
    from livenode.engines.venue_recovery import EXTERNAL_STRATEGY_ID
    from livenode.model.events import PositionOpened
    from livenode.model.position import Position

    idle = ImportableStrategyConfig(
        path="tests.fixtures.multiprocess.strategies:Idle",
        config_path="tests.fixtures.multiprocess.strategies:IdleConfig",
        config={"strategy_id": "S-001"},
    )
    config = msgspec.structs.replace(empty_config, strategies=[idle])
    kernel = Kernel(config, asyncio.get_running_loop(), roles=("trader",))
    stats = NodeStats(kernel)
    stats.start()
    instrument = make_instrument()
    kernel.cache.add_instrument(instrument)
    own = order_init(side=OrderSide.BUY, qty="1.000", price="100.00", coid="O-1")
    kernel.cache.add_order(Order(own))  # submitted by its strategy
    fill = msgspec.structs.replace(filled(own, "1.000", "100.00", "T-1", vid="V-1"),
                                   position_id=None)
    outside = msgspec.structs.replace(
        filled(order_init(side=OrderSide.SELL, qty="0.600", price="100.00", coid="EXT-1",
                          strategy_id=EXTERNAL_STRATEGY_ID), "0.600", "100.00", "T-2"),
        position_id=None)
    # What the exec worker publishes: the own order's events, every position's snapshot.
    for event in (submitted(own), accepted(own, vid="V-1"), fill):
        kernel.msgbus.publish(topics.order_events(own.strategy_id), event)
    for f in (fill, outside):
        snapshot = Position(instrument, f).snapshot_event(PositionOpened)
        kernel.msgbus.publish(topics.position_events(f.strategy_id), snapshot)
    nets = {str(p.strategy_id): p.signed_qty for p in kernel.cache.positions_open()}
    assert nets == {"S-001": 1.0, "EXTERNAL": -0.6}
    report = stats.report()
    assert report.positions["BTCUSDT.SIM"].net_quantity == "1.000"
    assert stats.open_positions() == {"BTCUSDT.SIM": Decimal("1.000")}
    stats.close()
    kernel.dispose()

"""The simulated venue on a real event loop: feed, orders, events, latency, reports."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from livenode.core.clock import LiveClock
from livenode.model.data import QuoteTick, TradeTick
from livenode.model.enums import (
    AggressorSide,
    LiquiditySide,
    OrderSide,
    OrderStatus,
    PositionSide,
)
from livenode.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
)
from livenode.model.identifiers import AccountId, InstrumentId
from livenode.model.instruments import CurrencyPair, PerpetualContract
from livenode.model.objects import Price, Quantity
from livenode.venues.sim.config import SimFeedConfig, SimVenueConfig
from livenode.venues.sim.venue import SimVenue, SimVenueError
from tests.unit.adapters.sim_helpers import (
    BTC_CFG,
    BTC_ID,
    DATA,
    ETH_ID,
    Recorder,
    cancel,
    cancel_all,
    modify,
    submit,
    venue_config,
)

# One quote per instrument: BTCUSDT 50000.00 / 50000.10 (1 / 0.5), ETH 3000.00 / 3000.05 (20 / 20)
STATIC_MARKET = """ts_event,symbol,type,bid_price,bid_size,ask_price,ask_size,price,size
1,BTCUSDT,quote,50000.00,1.0,50000.10,0.5,,
2,ETHUSDT-PERP,quote,3000.00,20,3000.05,20,,
"""


def make_venue(cfg: SimVenueConfig) -> SimVenue:
    loop = asyncio.get_running_loop()
    return SimVenue(cfg, loop, LiveClock(loop), "SIM")


async def static_venue(tmp_path: Path, **venue_kw: object) -> tuple[SimVenue, Recorder]:
    """A venue whose market is one replayed quote per instrument, with an account listener."""
    path = tmp_path / "market.csv"
    path.write_text(STATIC_MARKET)
    cfg = venue_config(mode="replay", replay_path=str(path), replay_speed=0.0, **venue_kw)
    venue = make_venue(cfg)
    venue.start()
    await asyncio.wait_for(venue.wait_feed_done(), 5)
    events = Recorder()
    assert venue.attach_account(events) == AccountId("SIM-001")
    return venue, events


# -- market -------------------------------------------------------------------------------


async def test_subscribe_market_delivers_instruments_at_once():
    venue = make_venue(venue_config())
    got = Recorder()
    venue.subscribe_market(got)
    btc, eth = got.items
    assert isinstance(btc, CurrencyPair) and btc.id == BTC_ID
    assert btc.price_increment == Price.from_str("0.01")
    assert btc.size_increment == Quantity.from_str("0.00001")
    assert btc.taker_fee == BTC_CFG.taker_fee
    assert isinstance(eth, PerpetualContract) and eth.id == ETH_ID
    assert str(eth.settlement_currency) == "USDT"


async def test_fixed_count_feed_delivers_exact_count():
    venue = make_venue(venue_config(rate_per_second=5000.0, max_ticks=300, seed=3))
    got = Recorder()
    venue.subscribe_market(got)
    venue.start()
    await asyncio.wait_for(venue.wait_feed_done(), 10)
    quotes = got.of(QuoteTick)
    trades = got.of(TradeTick)
    assert len([q for q in quotes if q.instrument_id == BTC_ID]) == 300
    assert len([q for q in quotes if q.instrument_id == ETH_ID]) == 300
    assert len(trades) == venue.trades_emitted > 0
    for q in quotes:
        assert q.ask_price > q.bid_price
        assert q.ts_init >= q.ts_event
    ts = [q.ts_event for q in quotes if q.instrument_id == BTC_ID]
    assert ts == sorted(ts)
    assert {t.aggressor_side for t in trades} <= {AggressorSide.BUYER, AggressorSide.SELLER}


async def test_feed_rate_20k_per_second_accounts_for_every_tick():
    # Speed is a benchmark question; what a test can check on a noisy machine is the
    # feed's accounting: it never runs ahead of its rate, and every tick due by the
    # last batch was either delivered or counted as dropped for lag (none lost).
    rate = 20_000.0
    cfg = SimVenueConfig(instruments=[BTC_CFG], feed=SimFeedConfig(rate_per_second=rate))
    venue = make_venue(cfg)
    count = 0
    last_quote_at = 0.0
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_market(msg: object) -> None:
        nonlocal count, last_quote_at
        if type(msg) is QuoteTick:
            count += 1
            last_quote_at = loop.time()

    venue.subscribe_market(on_market)
    t0 = loop.time()
    venue.start()
    loop.call_later(0.5, done.set)
    await done.wait()
    venue.stop()
    elapsed = loop.time() - t0
    accounted = count + venue.feed.lag_dropped
    assert count > 0
    assert count <= rate * elapsed + 100, "the feed ran ahead of its configured rate"
    # Due by the last batch (which began at or before its last quote): within the
    # feed's own catch-up window (50 ms of ticks) of rate x time.
    assert accounted >= rate * (last_quote_at - t0) - rate * 0.05, (count, venue.feed.lag_dropped)


async def test_replay_as_fast_as_possible_exact_count_and_recorded_timestamps():
    cfg = venue_config(
        mode="replay",
        replay_path=[str(DATA / "generic_quotes_trades.csv")],
        replay_speed=0.0,
        replay_timestamps="recorded",
        replay_batch_size=2,  # several wake-ups: batching must not lose records
    )
    venue = make_venue(cfg)
    got = Recorder()
    venue.subscribe_market(got)
    venue.start()
    await asyncio.wait_for(venue.wait_feed_done(), 5)
    ticks = got.of(QuoteTick) + got.of(TradeTick)
    assert len(got.of(QuoteTick)) == 3 and len(got.of(TradeTick)) == 3
    assert sorted(t.ts_event for t in ticks)[0] == 1704067200000000000
    assert venue.feed.error is None


async def test_replay_binance_files_at_recorded_speed():
    cfg = SimVenueConfig(
        instruments=[BTC_CFG],
        feed=SimFeedConfig(
            mode="replay",
            replay_path=[str(DATA / "BTCUSDT-bookTicker-2024-01-01.csv"),
                         str(DATA / "BTCUSDT-trades-2024-01-01.csv")],
            replay_format="auto",
            replay_speed=1.0,
            batch_interval_ms=1.0,
        ),
    )
    venue = make_venue(cfg)
    got = Recorder()
    venue.subscribe_market(got)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    wall0 = venue._clock.timestamp_ns()
    venue.start()
    await asyncio.wait_for(venue.wait_feed_done(), 5)
    elapsed = loop.time() - t0
    assert len(got.of(QuoteTick)) == 4 and len(got.of(TradeTick)) == 3
    # records span 38 ms (3 ms .. 41 ms); at recorded speed the replay takes that long
    assert elapsed >= 0.030
    # venue timestamps: stamped when emitted, so they are recent, not from 2024
    assert got.of(QuoteTick)[0].ts_event >= wall0


async def test_replay_loops():
    cfg = venue_config(mode="replay", replay_path=str(DATA / "generic_quotes_trades.csv"),
                       replay_speed=0.0, loop_replay=True)
    venue = make_venue(cfg)
    got = Recorder()
    venue.subscribe_market(got)
    venue.start()
    await got.wait_type(QuoteTick, count=9)  # three passes over the file's 3 quotes
    venue.stop()


async def test_replay_error_stops_feed_with_the_error():
    cfg = venue_config(mode="replay", replay_path=str(DATA / "generic_malformed.csv"),
                       replay_speed=0.0)
    venue = make_venue(cfg)
    got = Recorder()
    venue.subscribe_market(got)
    venue.start()
    await asyncio.wait_for(venue.wait_feed_done(), 5)
    assert "generic_malformed.csv:3" in str(venue.feed.error)
    assert len(got.of(QuoteTick)) == 1  # the good line before it


async def test_bad_venue_configs_name_the_problem():
    with pytest.raises(SimVenueError, match="expected '<amount> <CURRENCY>'"):
        make_venue(venue_config(starting_balances=["lots"]))
    with pytest.raises(SimVenueError, match=r"needs feed.replay_path"):
        make_venue(venue_config(mode="replay"))
    with pytest.raises(SimVenueError, match="differs from venue"):
        make_venue(SimVenueConfig(venue="OTHER"))
    bad_inst = msgspec.structs.replace(BTC_CFG, price_increment="0.0x")
    with pytest.raises(SimVenueError, match=r"instrument BTCUSDT: '0.0x' is not a decimal"):
        make_venue(SimVenueConfig(instruments=[bad_inst]))
    off_grid = msgspec.structs.replace(BTC_CFG, price_increment="0.001")
    with pytest.raises(SimVenueError, match="instrument BTCUSDT"):
        make_venue(SimVenueConfig(instruments=[off_grid]))


# -- orders -------------------------------------------------------------------------------


async def test_attach_delivers_account_state(tmp_path):
    _venue, events = await static_venue(tmp_path)
    state = events.items[0]
    assert isinstance(state, AccountState)
    balances = {str(b.currency): b for b in state.balances}
    assert balances["USDT"].total.as_double() == 1_000_000
    assert balances["BTC"].free.as_double() == 10


async def test_market_order_partially_fills_against_top_of_book(tmp_path):
    venue, events = await static_venue(tmp_path)
    cmd = submit("BUY", "MARKET", qty="0.8", tif="IOC")
    venue.submit(cmd)
    assert events.items[1:] == []  # handled in a later callback, never inside submit
    await events.wait_type(OrderCanceled)
    kinds = [type(e).__name__ for e in events.items[1:]]
    assert kinds == ["OrderAccepted", "OrderFilled", "OrderCanceled", "AccountState"]
    fill = events.of(OrderFilled)[0]
    assert fill.last_qty == Quantity.from_str("0.5") and fill.last_px == Price.from_str("50000.10")
    assert fill.liquidity_side is LiquiditySide.TAKER and fill.order_side is OrderSide.BUY
    assert fill.client_order_id == cmd.order.client_order_id
    assert fill.strategy_id == cmd.strategy_id and fill.account_id == AccountId("SIM-001")
    # 0.5 * 50000.10 * 0.0005 taker fee
    assert fill.commission.as_double() == pytest.approx(12.500025)
    state = events.of(AccountState)[-1]
    btc = {str(b.currency): b for b in state.balances}["BTC"]
    assert btc.total.as_double() == pytest.approx(10.5)


async def test_rejections_name_why(tmp_path):
    venue, events = await static_venue(tmp_path)
    bad = [
        (submit(instrument_id=InstrumentId("XRPUSDT.SIM")), "unknown instrument XRPUSDT.SIM"),
        (submit(qty="0.000001"), "more decimals than the precision 5 of BTCUSDT"),
        (submit("BUY", "LIMIT", qty="0.1", price="49000.001"), "price 49000.001 has more"),
        (submit("BUY", "LIMIT", qty="100", price="49000"), "insufficient balance"),
        (submit("SELL", "LIMIT", qty="0.1", price="49000", post_only=True),
         "post-only order would cross"),
        (submit("BUY", "LIMIT", qty="0.00001", price="100"), "below the minimum notional"),
    ]
    for cmd, _ in bad:
        venue.submit(cmd)
    rejected = await events.wait_type(OrderRejected, count=len(bad))
    for (cmd, why), event in zip(bad, rejected, strict=True):
        assert event.client_order_id == cmd.order.client_order_id
        assert why in event.reason, (why, event.reason)


async def test_limit_rests_modify_cancel_and_reports(tmp_path):
    venue, events = await static_venue(tmp_path)
    cmd = submit("BUY", "LIMIT", qty="0.2", price="49000.00")
    venue.submit(cmd)
    accepted = (await events.wait_type(OrderAccepted))[0]
    [report] = venue.order_status_reports()
    assert report.client_order_id == cmd.order.client_order_id
    assert report.venue_order_id == accepted.venue_order_id
    assert report.order_status is OrderStatus.ACCEPTED
    assert report.price == Price.from_str("49000.00") and report.filled_qty.raw == 0
    locked = {str(b.currency): b for b in events.of(AccountState)[-1].balances}["USDT"].locked
    assert locked.as_double() == pytest.approx(0.2 * 49000 * 1.0005)

    venue.modify(modify(cmd, qty="0.3", price="49500.00"))
    updated = (await events.wait_type(OrderUpdated))[0]
    assert updated.quantity == Quantity.from_str("0.30000")
    assert updated.price == Price.from_str("49500.00")
    venue.modify(modify(cmd, price="50000.10"))  # now crosses: re-matched as taker
    fill = (await events.wait_type(OrderFilled))[0]
    assert fill.last_qty == Quantity.from_str("0.3")
    assert fill.liquidity_side is LiquiditySide.TAKER
    assert not venue.order_status_reports()
    [freport] = venue.fill_reports()
    assert freport.trade_id == fill.trade_id and freport.last_px == fill.last_px
    [preport] = venue.position_reports()
    assert preport.instrument_id == BTC_ID and preport.position_side is PositionSide.LONG
    assert preport.quantity.as_double() == pytest.approx(0.3)
    assert preport.avg_px_open == pytest.approx(50000.10)

    venue.cancel(cancel(cmd))
    rej = (await events.wait_type(OrderCancelRejected))[0]
    assert "already closed (FILLED)" in rej.reason
    venue.modify(modify(cmd, qty="1"))
    assert "already closed" in (await events.wait_type(OrderModifyRejected))[0].reason


async def test_cancel_unknown_and_cancel_all(tmp_path):
    venue, events = await static_venue(tmp_path)
    ghost = submit("BUY", "LIMIT", qty="0.1", price="40000")
    venue.cancel(cancel(ghost))
    rej = (await events.wait_type(OrderCancelRejected))[0]
    assert "not found" in rej.reason and rej.client_order_id == ghost.order.client_order_id
    orders = [submit("BUY", "LIMIT", qty="0.1", price=f"4000{i}") for i in range(3)]
    orders.append(submit("SELL", "LIMIT", qty="0.1", price="60000"))
    for cmd in orders:
        venue.submit(cmd)
    await events.wait_type(OrderAccepted, count=4)
    venue.cancel_all(cancel_all(side="BUY"))
    canceled = await events.wait_type(OrderCanceled, count=3)
    assert {e.client_order_id for e in canceled} == {c.order.client_order_id for c in orders[:3]}
    assert len(venue.order_status_reports()) == 1


async def test_gtd_expires_without_market_activity(tmp_path):
    venue, events = await static_venue(tmp_path)
    now = venue._clock.timestamp_ns()
    cmd = submit("BUY", "LIMIT", qty="0.1", price="40000", tif="GTD",
                 expire_time_ns=now + 30_000_000)
    venue.submit(cmd)
    expired = (await events.wait_type(OrderExpired))[0]
    assert expired.ts_event >= now + 30_000_000
    assert venue.order_status_reports() == []


async def test_perpetual_short_with_margin(tmp_path):
    venue, events = await static_venue(tmp_path, leverage=5)
    venue.submit(submit("SELL", "MARKET", qty="2", instrument_id=ETH_ID))
    fill = (await events.wait_type(OrderFilled))[0]
    assert fill.last_px == Price.from_str("3000.00") and fill.currency.code == "USDT"
    [pos] = venue.position_reports()
    assert pos.position_side is PositionSide.SHORT and pos.quantity.as_double() == 2
    usdt = {str(b.currency): b for b in events.of(AccountState)[-1].balances}["USDT"]
    assert usdt.locked.as_double() == pytest.approx(2 * 3000 / 5)


# -- latency ------------------------------------------------------------------------------


async def test_ack_and_fill_latency_honoured(tmp_path):
    venue, events = await static_venue(tmp_path, ack_latency_ms=40.0, fill_latency_ms=30.0)
    clock = venue._clock
    received: dict[str, int] = {}

    def stamp(msg: object) -> None:
        received.setdefault(type(msg).__name__, clock.timestamp_ns())
        events(msg)

    venue.attach_account(stamp)
    t0 = clock.timestamp_ns()
    venue.submit(submit("BUY", "MARKET", qty="0.1"))
    await events.wait_type(OrderFilled)
    assert received["OrderAccepted"] - t0 >= 40_000_000
    assert received["OrderFilled"] - t0 >= 70_000_000
    accepted = events.of(OrderAccepted)[0]
    assert accepted.ts_event - t0 >= 40_000_000


async def test_ids_are_unique_across_venue_instances(tmp_path):
    ids = []
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        venue, events = await static_venue(tmp_path / sub)
        venue.submit(submit("BUY", "MARKET", qty="0.1", ts=0))
        fill = (await events.wait_type(OrderFilled))[0]
        ids.append((fill.trade_id, fill.venue_order_id))
    assert ids[0][0] != ids[1][0] and ids[0][1] != ids[1][1]

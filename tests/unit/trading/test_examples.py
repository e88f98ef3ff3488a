"""The example strategies against the real engines and a recording venue."""

from __future__ import annotations

import random

import msgspec
import pytest

from livenode.bus import topics
from livenode.model.commands import CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.data import Bar, BarType
from livenode.model.enums import OrderSide, OrderType
from livenode.model.objects import Price, Quantity
from livenode.trading.examples.ema_cross import EMACross, EMACrossConfig
from livenode.trading.examples.market_maker import MarketMaker, MarketMakerConfig

from .helpers import BTC, Harness


def net(h: Harness, strategy: object) -> float:
    return sum(p.signed_qty for p in h.cache.positions_open(strategy_id=strategy.id))  # type: ignore[attr-defined]


# -- EMACross -------------------------------------------------------------------------------


def ema_cross(h: Harness, **kw: object) -> EMACross:
    config = msgspec.convert(
        {
            "instrument_id": "BTCUSDT.SIM",
            "trade_size": "0.1",
            "fast_period": 2,
            "slow_period": 4,
            **kw,
        },
        EMACrossConfig,
    )
    s = EMACross(config)
    h.trader.add_strategy(s)
    h.trader.start()
    return s


def feed(h: Harness, mids: list[float]) -> None:
    for m in mids:
        h.quote(f"{m - 0.05:.2f}", f"{m + 0.05:.2f}")


def test_ema_cross_config_validation() -> None:
    with pytest.raises(msgspec.ValidationError, match="fast_period"):
        msgspec.convert(
            {"instrument_id": "X.SIM", "trade_size": "1", "fast_period": 5, "slow_period": 5},
            EMACrossConfig,
        )


def test_ema_cross_goes_long_then_flips_short_on_the_crossings() -> None:
    h = Harness()
    s = ema_cross(h)
    feed(h, [100.0, 100.0, 100.0])
    assert h.client.of_type(SubmitOrder) == []  # slow EMA not initialized yet
    feed(h, [101.0, 102.0, 103.0])  # fast above slow
    [buy] = h.client.of_type(SubmitOrder)
    assert buy.order.side is OrderSide.BUY and buy.order.order_type is OrderType.MARKET
    assert buy.order.quantity == Quantity.from_str("0.100")  # instrument's size precision
    assert net(h, s) == pytest.approx(0.1)
    feed(h, [103.0, 103.0])  # still above: no new order
    assert len(h.client.of_type(SubmitOrder)) == 1
    feed(h, [99.0, 97.0, 95.0])  # crosses below: one order flips long to short
    [_, sell] = h.client.of_type(SubmitOrder)
    assert sell.order.side is OrderSide.SELL and sell.order.quantity == Quantity.from_str("0.200")
    assert net(h, s) == pytest.approx(-0.1)
    assert s.signals == 2


def test_ema_cross_on_bars_subscribes_bars_and_trades_on_closes() -> None:
    h = Harness()
    bar_type = BarType.from_str("BTCUSDT.SIM-1-SECOND-MID")
    sent: list[object] = []
    h.msgbus.subscribe(topics.data_commands(BTC.venue), sent.append)
    s = ema_cross(h, bar_type=str(bar_type))
    assert [type(c).__name__ for c in sent] == ["SubscribeBars"]
    stamps = []
    for i, close in enumerate([100.0, 100.0, 100.0, 101.0, 102.0]):
        px = Price.from_str(f"{close:.2f}")
        ts = h.clock.timestamp_ns() + i
        stamps.append(ts)
        h.msgbus.publish(topics.bars(bar_type), Bar(
            bar_type=bar_type, open=px, high=px, low=px, close=px,
            volume=Quantity.from_str("1"), ts_event=ts, ts_init=ts,
        ))
    [buy] = h.client.of_type(SubmitOrder)
    # The slow EMA is initialized at the 4th bar, where fast > slow already.
    assert buy.order.side is OrderSide.BUY and buy.ts_trigger == stamps[3]
    assert s.fast_ema.count == 5


def test_ema_cross_long_only_goes_flat_below() -> None:
    h = Harness()
    s = ema_cross(h, allow_short=False)
    feed(h, [100.0, 100.0, 100.0, 101.0, 102.0, 103.0, 99.0, 97.0, 95.0])
    sides = [c.order.side for c in h.client.of_type(SubmitOrder)]
    assert sides == [OrderSide.BUY, OrderSide.SELL]
    assert h.client.of_type(SubmitOrder)[1].order.reduce_only and net(h, s) == 0.0


def test_ema_cross_waits_for_an_order_in_flight() -> None:
    h = Harness()
    h.client.auto_fill_market = False  # the venue is slow to fill
    ema_cross(h)
    feed(h, [100.0, 100.0, 100.0, 101.0, 102.0, 103.0, 104.0, 105.0])
    assert len(h.client.of_type(SubmitOrder)) == 1  # no stacking while it works


def test_ema_cross_does_not_retry_a_refused_order_until_the_next_crossing() -> None:
    h = Harness()
    h.client.reject_market = True
    s = ema_cross(h)
    feed(h, [100.0, 100.0, 100.0, 101.0, 102.0, 103.0, 104.0, 105.0])
    assert len(h.client.of_type(SubmitOrder)) == 1 and net(h, s) == 0.0  # refused once only
    h.client.reject_market = False
    feed(h, [99.0, 97.0, 95.0])  # next crossing: tries again
    [_, sell] = h.client.of_type(SubmitOrder)
    assert sell.order.side is OrderSide.SELL and net(h, s) == pytest.approx(-0.1)


def test_ema_cross_trades_within_seconds_on_a_random_walk_at_100_quotes_per_second() -> None:
    h = Harness()
    s = ema_cross(h, fast_period=5, slow_period=20)
    rng = random.Random(7)
    mid = 100.0
    for _ in range(300):  # 3 s of quotes, 10 ms apart
        mid = max(1.0, mid + rng.choice((-0.05, 0.05)))
        h.quote(f"{mid - 0.01:.2f}", f"{mid + 0.01:.2f}")
    assert len(h.client.of_type(SubmitOrder)) >= 1
    assert s.error_count == 0


# -- MarketMaker -----------------------------------------------------------------------------


def maker(h: Harness, **kw: object) -> MarketMaker:
    config = msgspec.convert(
        {"instrument_id": "BTCUSDT.SIM", "trade_size": "0.01", "offset_ticks": 5,
         "requote_threshold_ticks": 3, "max_position": "0.02", **kw},
        MarketMakerConfig,
    )
    s = MarketMaker(config)
    h.trader.add_strategy(s)
    h.trader.start()
    return s


def working(h: Harness, s: MarketMaker) -> dict[OrderSide, list[str]]:
    out: dict[OrderSide, list[str]] = {OrderSide.BUY: [], OrderSide.SELL: []}
    for o in h.cache.orders(strategy_id=s.id):
        if not o.is_closed:
            out[o.side].append(str(o.price))
    return out


def test_market_maker_quotes_both_sides_post_only_around_the_mid() -> None:
    h = Harness()
    s = maker(h)
    h.quote("100.00", "100.02")  # mid 100.01
    subs = h.client.of_type(SubmitOrder)
    assert sorted((c.order.side.value, str(c.order.price)) for c in subs) == [
        ("BUY", "99.96"), ("SELL", "100.06"),
    ]
    assert all(c.order.post_only and c.order.order_type is OrderType.LIMIT for c in subs)
    h.quote("100.01", "100.03")  # mid moved 1 tick < threshold: nothing
    assert len(h.client.of_type(SubmitOrder)) == 2 and h.client.of_type(CancelOrder) == []
    assert working(h, s) == {OrderSide.BUY: ["99.96"], OrderSide.SELL: ["100.06"]}


def test_market_maker_requotes_by_cancel_and_replace() -> None:
    h = Harness()
    s = maker(h)
    h.quote("100.00", "100.02")
    h.quote("100.10", "100.12")  # mid +10 ticks
    assert len(h.client.of_type(CancelOrder)) == 2
    assert working(h, s) == {OrderSide.BUY: ["100.06"], OrderSide.SELL: ["100.16"]}
    assert s.requotes == 2


def test_market_maker_replaces_only_after_the_cancel_is_confirmed() -> None:
    h = Harness()
    h.client.auto_cancel = False
    s = maker(h)
    h.quote("100.00", "100.02")
    h.quote("100.10", "100.12")
    h.quote("100.20", "100.22")  # cancel still pending: no second cancel, no new order
    assert len(h.client.of_type(CancelOrder)) == 2 and len(h.client.of_type(SubmitOrder)) == 2
    for c in h.client.of_type(CancelOrder):
        h.client.cancel(c)
    assert working(h, s) == {OrderSide.BUY: ["100.16"], OrderSide.SELL: ["100.26"]}


def test_market_maker_requotes_by_modify() -> None:
    h = Harness()
    s = maker(h, requote_mode="modify")
    h.quote("100.00", "100.02")
    h.quote("100.10", "100.12")
    mods = h.client.of_type(ModifyOrder)
    assert sorted(str(m.price) for m in mods) == ["100.06", "100.16"]
    assert h.client.of_type(CancelOrder) == [] and len(h.client.of_type(SubmitOrder)) == 2
    assert working(h, s) == {OrderSide.BUY: ["100.06"], OrderSide.SELL: ["100.16"]}


def test_market_maker_pulls_the_bid_at_max_position_and_requotes_after_fills() -> None:
    h = Harness()
    s = maker(h)
    h.quote("100.00", "100.02")
    for _ in range(2):
        bid = next(o for o in h.cache.orders_open(strategy_id=s.id) if o.side is OrderSide.BUY)
        h.client.fill(bid, bid.quantity, bid.price)
    assert net(h, s) == pytest.approx(0.02)  # at max_position
    open_sides = {o.side for o in h.cache.orders_open(strategy_id=s.id)}
    assert open_sides == {OrderSide.SELL}  # no bid any more, the ask stays
    ask = h.cache.orders_open(strategy_id=s.id)[0]
    h.client.fill(ask, ask.quantity, ask.price)
    assert net(h, s) == pytest.approx(0.01)
    assert {o.side for o in h.cache.orders_open(strategy_id=s.id)} == {
        OrderSide.BUY,
        OrderSide.SELL,
    }


def test_market_maker_handles_post_only_rejections_without_leaking() -> None:
    h = Harness()
    s = maker(h)
    h.client.reject_post_only = True  # e.g. the book moved: both quotes would cross
    h.quote("100.00", "100.02")
    assert s.rejections == 2 and working(h, s) == {OrderSide.BUY: [], OrderSide.SELL: []}
    assert s.slots == {OrderSide.BUY: None, OrderSide.SELL: None}
    h.client.reject_post_only = False
    h.quote("100.00", "100.02")  # same mid: the freed slots are quoted again
    assert working(h, s) == {OrderSide.BUY: ["99.96"], OrderSide.SELL: ["100.06"]}


def test_market_maker_random_walk_never_has_two_orders_on_a_side() -> None:
    h = Harness()
    s = maker(h, max_position="0.05")
    rng = random.Random(3)
    mid = 10_000
    for i in range(500):
        mid += rng.choice((-3, -1, 0, 1, 3))
        h.quote(f"{(mid - 1) / 100:.2f}", f"{(mid + 1) / 100:.2f}")
        if i % 7 == 0:  # now and then a resting quote gets hit
            resting = h.cache.orders_open(strategy_id=s.id)
            if resting:
                o = rng.choice(resting)
                h.client.fill(o, o.quantity, o.price)
        sides = working(h, s)
        assert len(sides[OrderSide.BUY]) <= 1 and len(sides[OrderSide.SELL]) <= 1
        assert abs(net(h, s)) <= 0.05 + 1e-9
    assert s.error_count == 0 and s.requotes > 0


async def test_market_maker_stop_leaves_nothing_working() -> None:
    h = Harness()
    s = maker(h)
    h.quote("100.00", "100.02")
    bid = next(o for o in h.cache.orders_open(strategy_id=s.id) if o.side is OrderSide.BUY)
    h.client.fill(bid, bid.quantity, bid.price)
    await h.trader.stop_async()
    assert h.cache.orders_open(strategy_id=s.id) == []
    assert h.cache.positions_open(strategy_id=s.id) == []
    assert s.is_stopped and not s.manage_stop_timed_out


def test_market_maker_backs_off_while_its_quotes_are_denied() -> None:
    """Issue 18: with trading halted the sample MarketMaker requoted on every tick:
    10-14k denials per run. It now pauses, doubling while the denials go on, says so
    once, and quotes again as soon as a quote is accepted."""
    from livenode.model.enums import TradingState

    h = Harness()
    s = maker(h)
    h.risk.bypass = False
    h.risk.set_trading_state(TradingState.HALTED, "test: venue halted")
    for _ in range(300):  # 3 seconds of quotes every 10 ms
        h.quote("100.00", "100.02", advance_ns=10_000_000)
    denied = h.risk.counters()["denied"]
    # Without the pause: two quotes per tick, 600 denials. With it: 0.5 s, 1 s, 2 s ...
    assert 2 <= denied <= 8, denied
    assert s.refusals_in_a_row == denied
    h.risk.set_trading_state(TradingState.ACTIVE, "test: venue back")
    for _ in range(3100):  # past the longest pause the streak reached
        h.quote("100.00", "100.02", advance_ns=10_000_000)
        if s.refusals_in_a_row == 0:
            break
    assert s.refusals_in_a_row == 0
    assert working(h, s) == {OrderSide.BUY: ["99.96"], OrderSide.SELL: ["100.06"]}

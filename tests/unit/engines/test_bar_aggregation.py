"""Bar aggregators: time bars on aligned TestClock timers, tick and volume bars."""

from __future__ import annotations

import pytest

from livenode.core.clock import TestClock
from livenode.engines.bar_aggregation import (
    TickBarAggregator,
    TimeBarAggregator,
    VolumeBarAggregator,
    make_aggregator,
)
from livenode.model.data import Bar, BarType, QuoteTick, TradeTick
from livenode.model.enums import AggressorSide
from livenode.model.identifiers import InstrumentId, TradeId
from livenode.model.objects import Price, Quantity

SEC = 1_000_000_000
IID = InstrumentId("BTCUSDT.SIM")


def quote(
    bid: str, ask: str, bid_size: str = "1.0", ask_size: str = "3.0", ts: int = 0
) -> QuoteTick:
    return QuoteTick(
        IID, Price.from_str(bid), Price.from_str(ask), Quantity.from_str(bid_size),
        Quantity.from_str(ask_size), ts, ts,
    )


def trade(px: str, size: str, ts: int = 0, n: int = 1) -> TradeTick:
    return TradeTick(
        IID,
        Price.from_str(px),
        Quantity.from_str(size),
        AggressorSide.BUYER,
        TradeId(f"T{n}"),
        ts,
        ts,
    )


def test_time_bar_from_trades_aligned_to_interval() -> None:
    clock = TestClock(1_000 * SEC + 300_000_000)  # subscription arrives mid-second
    bars: list[Bar] = []
    agg = TimeBarAggregator(BarType.from_str("BTCUSDT.SIM-1-SECOND-LAST"), bars.append, clock)
    agg.start()
    assert clock.next_time_ns(agg.timer_name) == 1_001 * SEC  # closes on the whole second
    for i, (px, sz) in enumerate([("100.0", "1"), ("102.5", "2"), ("99.5", "1"), ("101.0", "3")]):
        agg.handle_trade(trade(px, sz, n=i))
    clock.set_time(1_001 * SEC)
    assert len(bars) == 1
    bar = bars[0]
    assert (str(bar.open), str(bar.high), str(bar.low), str(bar.close)) == (
        "100.0", "102.5", "99.5", "101.0"
    )
    assert bar.volume == Quantity.from_str("7")
    assert bar.ts_event == 1_001 * SEC and bar.ts_init == 1_001 * SEC


def test_time_bar_mid_from_quotes_is_exact_and_minute_aligned() -> None:
    clock = TestClock(120 * SEC + 7)
    bars: list[Bar] = []
    agg = make_aggregator(BarType.from_str("BTCUSDT.SIM-1-MINUTE-MID"), bars.append, clock)
    assert isinstance(agg, TimeBarAggregator)
    agg.start()
    agg.handle_quote(quote("100.0", "100.1"))
    agg.handle_quote(quote("100.2", "100.3"))
    clock.set_time(179 * SEC)
    assert bars == []
    clock.set_time(180 * SEC)
    assert len(bars) == 1
    assert bars[0].open == Price.from_str("100.05")
    assert bars[0].close == Price.from_str("100.25")
    assert bars[0].volume == Quantity.from_str("4.0")  # (1 + 3) / 2 per quote, two quotes


def test_time_bar_bid_and_ask_price_types() -> None:
    clock = TestClock(0)
    bids: list[Bar] = []
    asks: list[Bar] = []
    b = TimeBarAggregator(BarType.from_str("BTCUSDT.SIM-1-SECOND-BID"), bids.append, clock)
    a = TimeBarAggregator(BarType.from_str("BTCUSDT.SIM-1-SECOND-ASK"), asks.append, clock)
    b.start()
    a.start()
    b.handle_quote(quote("10.0", "10.5"))
    a.handle_quote(quote("10.0", "10.5"))
    clock.set_time(SEC)
    assert bids[0].close == Price.from_str("10.0") and bids[0].volume == Quantity.from_str("1.0")
    assert asks[0].close == Price.from_str("10.5") and asks[0].volume == Quantity.from_str("3.0")


def test_empty_interval_repeats_last_close_or_is_skipped() -> None:
    clock, clock2 = TestClock(0), TestClock(0)
    flat: list[Bar] = []
    skip: list[Bar] = []
    bt = BarType.from_str("BTCUSDT.SIM-1-SECOND-LAST")
    a = TimeBarAggregator(bt, flat.append, clock, build_with_no_updates=True)
    b = TimeBarAggregator(bt, skip.append, clock2, build_with_no_updates=False)
    a.start()
    b.start()
    clock.set_time(SEC)  # nothing seen yet: no bar from either
    clock2.set_time(SEC)
    assert flat == [] and skip == []
    a.handle_trade(trade("50.0", "1"))
    b.handle_trade(trade("50.0", "1"))
    clock.set_time(3 * SEC)
    clock2.set_time(3 * SEC)
    assert [x.ts_event for x in flat] == [2 * SEC, 3 * SEC]
    assert flat[1].open == flat[1].close == Price.from_str("50.0")
    assert flat[1].volume == Quantity.from_str("0")
    assert [x.ts_event for x in skip] == [2 * SEC]


def test_timestamp_on_open_and_stop_cancels_timer() -> None:
    clock = TestClock(0)
    bars: list[Bar] = []
    agg = TimeBarAggregator(
        BarType.from_str("BTCUSDT.SIM-5-SECOND-LAST"), bars.append, clock, timestamp_on_close=False
    )
    agg.start()
    agg.handle_trade(trade("1.0", "1"))
    clock.set_time(5 * SEC)
    assert bars[0].ts_event == 0
    agg.stop()
    assert agg.timer_name not in clock.timer_names
    agg.handle_trade(trade("1.0", "1"))
    clock.set_time(20 * SEC)
    assert len(bars) == 1


def test_tick_bars() -> None:
    clock = TestClock(0)
    bars: list[Bar] = []
    agg = TickBarAggregator(BarType.from_str("BTCUSDT.SIM-3-TICK-LAST"), bars.append, clock)
    for i, px in enumerate(["1.0", "3.0", "2.0", "4.0"]):
        agg.handle_trade(trade(px, "1", ts=i, n=i))
    assert len(bars) == 1
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close) == (
        Price.from_str("1.0"), Price.from_str("3.0"), Price.from_str("1.0"), Price.from_str("2.0")
    )
    assert bars[0].ts_event == 2


def test_volume_bars() -> None:
    clock = TestClock(0)
    bars: list[Bar] = []
    agg = VolumeBarAggregator(BarType.from_str("BTCUSDT.SIM-10-VOLUME-LAST"), bars.append, clock)
    agg.handle_trade(trade("1.0", "4.5"))
    agg.handle_trade(trade("2.0", "5.0"))
    assert bars == []
    agg.handle_trade(trade("1.5", "0.5"))
    assert len(bars) == 1 and bars[0].volume == Quantity.from_str("10.0")
    agg.handle_trade(trade("1.5", "12"))
    assert len(bars) == 2 and bars[1].open == Price.from_str("1.5")


def test_wrong_aggregation_rejected() -> None:
    with pytest.raises(ValueError):
        TimeBarAggregator(BarType.from_str("BTCUSDT.SIM-3-TICK-LAST"), lambda b: None, TestClock())

"""Indicators against reference computations written out longhand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livenode.model.data import QuoteTick, TradeTick
from livenode.model.enums import AggressorSide, PriceType
from livenode.model.identifiers import InstrumentId, TradeId
from livenode.model.objects import Price, Quantity
from livenode.trading.indicators import ExponentialMovingAverage, SimpleMovingAverage

IID = InstrumentId.from_str("BTCUSDT.SIM")


def reference_ema(values: list[float], period: int) -> list[float]:
    """EMA seeded with the first value, alpha = 2 / (period + 1)."""
    alpha = 2.0 / (period + 1)
    out: list[float] = []
    for i, v in enumerate(values):
        out.append(v if i == 0 else alpha * v + (1 - alpha) * out[-1])
    return out


def quote(bid: str, ask: str, ts: int = 1) -> QuoteTick:
    return QuoteTick(
        instrument_id=IID,
        bid_price=Price.from_str(bid),
        ask_price=Price.from_str(ask),
        bid_size=Quantity.from_str("1"),
        ask_size=Quantity.from_str("1"),
        ts_event=ts,
        ts_init=ts,
    )


def test_ema_matches_reference_and_initializes_after_period() -> None:
    values = [100.0, 101.0, 103.0, 102.0, 99.5, 98.0, 100.25, 104.0]
    ema = ExponentialMovingAverage(3)
    expected = reference_ema(values, 3)
    for i, v in enumerate(values):
        ema.update_raw(v)
        assert ema.value == pytest.approx(expected[i], rel=1e-12)
        assert ema.count == i + 1
        assert ema.initialized is (i + 1 >= 3)


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=200),
    st.integers(min_value=1, max_value=50),
)
def test_ema_property_matches_reference(values: list[float], period: int) -> None:
    ema = ExponentialMovingAverage(period)
    for v in values:
        ema.update_raw(v)
    assert ema.value == pytest.approx(reference_ema(values, period)[-1], rel=1e-9, abs=1e-6)


def test_ema_from_quotes_uses_price_type() -> None:
    mid, bid, ask = (
        ExponentialMovingAverage(2, pt) for pt in (PriceType.MID, PriceType.BID, PriceType.ASK)
    )
    for ind in (mid, bid, ask):
        ind.handle_quote_tick(quote("100.0", "101.0"))
        ind.handle_quote_tick(quote("102.0", "103.0"))
    assert mid.value == pytest.approx(reference_ema([100.5, 102.5], 2)[-1])
    assert bid.value == pytest.approx(reference_ema([100.0, 102.0], 2)[-1])
    assert ask.value == pytest.approx(reference_ema([101.0, 103.0], 2)[-1])


def test_ema_from_trades() -> None:
    ema = ExponentialMovingAverage(4)
    prices = ["10.5", "11.0", "10.0"]
    for i, p in enumerate(prices):
        ema.handle_trade_tick(
            TradeTick(
                instrument_id=IID,
                price=Price.from_str(p),
                size=Quantity.from_str("1"),
                aggressor_side=AggressorSide.BUYER,
                trade_id=TradeId(f"T{i}"),
                ts_event=i,
                ts_init=i,
            )
        )
    assert ema.value == pytest.approx(reference_ema([10.5, 11.0, 10.0], 4)[-1])


def test_ema_reset_and_bad_period() -> None:
    ema = ExponentialMovingAverage(2)
    ema.update_raw(5.0)
    ema.reset()
    assert (ema.count, ema.value, ema.initialized) == (0, 0.0, False)
    ema.update_raw(7.0)
    assert ema.value == 7.0
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="period"):
            ExponentialMovingAverage(bad)  # type: ignore[arg-type]


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=300),
    st.integers(min_value=1, max_value=20),
)
def test_sma_matches_window_mean(values: list[float], period: int) -> None:
    sma = SimpleMovingAverage(period)
    for i, v in enumerate(values):
        sma.update_raw(v)
        window = values[max(0, i + 1 - period) : i + 1]
        assert sma.value == pytest.approx(math.fsum(window) / len(window), rel=1e-9, abs=1e-6)
    assert sma.initialized is (len(values) >= period)

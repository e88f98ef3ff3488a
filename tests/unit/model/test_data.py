"""Market data: quotes, trades, bar types and bars."""

from __future__ import annotations

import pytest

from livenode.model import (
    AggressorSide,
    Bar,
    BarAggregation,
    BarSpecification,
    BarType,
    InstrumentId,
    Price,
    PriceType,
    Quantity,
    QuoteTick,
    TradeId,
    TradeTick,
)

IID = InstrumentId("BTCUSDT.SIM")


def quote(bid: str = "100.00", ask: str = "100.05") -> QuoteTick:
    return QuoteTick(
        IID,
        Price.from_str(bid),
        Price.from_str(ask),
        Quantity.from_str("1.0"),
        Quantity.from_str("2.0"),
        1,
        2,
    )


def test_quote_positional_fields_and_prices() -> None:
    q = quote()
    assert q.instrument_id == IID and q.ts_event == 1 and q.ts_init == 2
    assert q.extract_price(PriceType.BID) == Price.from_str("100.00")
    assert q.extract_price(PriceType.ASK) == Price.from_str("100.05")
    mid = q.extract_price(PriceType.MID)
    assert mid == Price.from_str("100.025") and mid.precision == 3
    assert q.extract_size(PriceType.MID) == Quantity.from_str("1.5")
    with pytest.raises(ValueError, match="LAST"):
        q.extract_price(PriceType.LAST)


def test_trade_tick_fields() -> None:
    t = TradeTick(
        IID, Price.from_str("1.5"), Quantity(3, 0), AggressorSide.BUYER, TradeId("T1"), 5, 6
    )
    assert t.aggressor_side is AggressorSide.BUYER and t.trade_id == TradeId("T1")


def test_bar_type_str_and_parse() -> None:
    bt = BarType(IID, BarSpecification(1, BarAggregation.SECOND, PriceType.MID))
    assert str(bt) == "BTCUSDT.SIM-1-SECOND-MID"
    assert BarType.from_str("BTCUSDT.SIM-1-SECOND-MID") == bt
    perp = BarType.from_str("BTC-PERP.SIM-100-TICK-LAST")
    assert perp.instrument_id == InstrumentId("BTC-PERP.SIM")
    assert perp.spec == BarSpecification(100, BarAggregation.TICK, PriceType.LAST)
    assert hash(BarType.from_str(str(bt))) == hash(bt)
    assert repr(bt) == "BarType('BTCUSDT.SIM-1-SECOND-MID')"


@pytest.mark.parametrize(
    "bad",
    [
        "BTCUSDT.SIM",
        "BTCUSDT.SIM-1-SECOND",
        "BTCUSDT.SIM-x-SECOND-MID",
        "BTCUSDT.SIM-1-HOUR-MID",
        "BTCUSDT-1-SECOND-MID",
        "BTCUSDT.SIM-0-SECOND-MID",
    ],
)
def test_bar_type_parse_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid BarType"):
        BarType.from_str(bad)


def test_bar_spec_time_helpers() -> None:
    assert BarSpecification(2, BarAggregation.MINUTE, PriceType.BID).timedelta_ns == 120_000_000_000
    assert BarSpecification(1, BarAggregation.SECOND, PriceType.BID).is_time_aggregated
    assert not BarSpecification(1, BarAggregation.VOLUME, PriceType.BID).is_time_aggregated
    with pytest.raises(ValueError):
        BarSpecification(1, BarAggregation.TICK, PriceType.BID).timedelta_ns  # noqa: B018


def test_bar_ohlc_validated() -> None:
    bt = BarType.from_str("BTCUSDT.SIM-1-MINUTE-LAST")
    p = Price.from_str
    Bar(bt, p("10.0"), p("12.0"), p("9.0"), p("11.0"), Quantity(5, 0), 1, 1)
    with pytest.raises(ValueError, match="invalid Bar"):
        Bar(bt, p("10.0"), p("9.5"), p("9.0"), p("11.0"), Quantity(5, 0), 1, 1)
    with pytest.raises(ValueError, match="invalid Bar"):
        Bar(bt, p("10.0"), p("12.0"), p("10.5"), p("11.0"), Quantity(5, 0), 1, 1)
